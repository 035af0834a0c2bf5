"""TLS: the hospital CA made by broker-config, a broker that requires client certificates, and
a station whose key is made on the Pi and whose CSR central signs during enrolment."""

from __future__ import annotations

import ssl
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from aiohttp import web
from paho.mqtt.enums import CallbackAPIVersion

from central.broker_config import (
    TlsSettings,
    central_user_from_file,
    ensure_ca,
    write_broker_config,
)
from central.enrolment import (
    EnrolmentError,
    EnrolmentService,
    EnrolmentSettings,
    build_enrolment_app,
)
from central.store.db import Database
from protocol.enrolment import EnrolRequest
from provisioning.certs import new_key_and_csr
from tests.integration.test_provision_e2e import SITE_KEY, run_cli
from tests.support.mosquitto import MosquittoBroker
from tests.support.ports import free_port

pytestmark = pytest.mark.integration

# `cryptography` is an optional dependency (central's CA, provisioning --client-cert).
x509 = pytest.importorskip("cryptography.x509")
NameOID = pytest.importorskip("cryptography.x509.oid").NameOID


@dataclass
class TlsSite:
    service: EnrolmentService
    url: str
    tls: TlsSettings
    tls_port: int


@pytest.fixture
async def tls_site(tmp_path: Path, topic_root: str) -> AsyncIterator[TlsSite]:
    made = ensure_ca(tmp_path / "ca", ["127.0.0.1", "localhost"])
    again = ensure_ca(tmp_path / "ca", ["127.0.0.1"])
    assert again == made  # a second run keeps the CA stations already trust
    tls_port = free_port()
    tls = TlsSettings(made.ca_file, made.cert_file, made.key_file, tls_port, True)
    central_pw = tmp_path / "central.pw"
    central_user, _ = central_user_from_file(central_pw)
    files = write_broker_config(
        tmp_path / "broker-etc",
        [],
        central_user,
        tls,
        topic_root=topic_root,
        port=None,
        bind="127.0.0.1",
    )
    broker = MosquittoBroker(tmp_path / "mosquitto", extra_config=files.conf.read_text())
    broker.start()
    pid_file = tmp_path / "mosquitto.pid"
    pid_file.write_text(f"{broker.pid}\n")
    db = Database(str(tmp_path / "central.db"))
    db.migrate()
    settings = EnrolmentSettings(
        broker_host="127.0.0.1",
        broker_port=tls_port,
        topic_root=topic_root,
        ca_file=made.ca_file,
        ca_key_file=tmp_path / "ca" / "ca.key",
        broker_dir=tmp_path / "broker-etc",
        broker_pid_file=pid_file,
        central_password_file=central_pw,
    )
    service = EnrolmentService(db, settings, site_key=SITE_KEY)
    runner = web.AppRunner(build_enrolment_app(service))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield TlsSite(service, f"http://127.0.0.1:{port}", tls, tls_port)
    finally:
        await runner.cleanup()
        broker.close()
        db.dispose()


def _connect_rc(port: int, ca: Path, user: str, password: str, etc: Path | None = None) -> str:
    """Connect over TLS, with the station's client certificate from `etc` when given."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.username_pw_set(user, password)
    c.tls_set(
        ca_certs=str(ca),
        certfile=str(etc / "client.pem") if etc else None,
        keyfile=str(etc / "client.key") if etc else None,
        tls_version=ssl.PROTOCOL_TLS_CLIENT,
    )
    try:
        c.connect("127.0.0.1", port, keepalive=5)
        for _ in range(50):
            c.loop(0.1)
            if c.is_connected():
                return "connected"
        return "no connack"
    except (ssl.SSLError, OSError) as e:
        return f"refused: {e}"
    finally:
        c.disconnect()


async def test_station_gets_a_signed_client_certificate_and_uses_it(
    tls_site: TlsSite, tmp_path: Path
) -> None:
    issued = tls_site.service.create_code("접수", "lobby")
    etc, root = tmp_path / "pi" / "etc", tmp_path / "pi" / "root"
    args = [
        "provision", "--central", tls_site.url, "--code", issued.code, "--client-cert",
        "--config-dir", str(etc), "--root", str(root), "--yes", "--no-kiosk",
        "--reader", "simulated",
    ]  # fmt: skip
    rc, out = await run_cli(*args)
    assert rc == 0, out
    assert "[  OK  ] broker link" in out
    assert "TLS: client certificate" in out
    assert stat.S_IMODE((etc / "client.key").stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate((etc / "client.pem").read_bytes())
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == issued.station_id
    assert (etc / "ca.pem").read_bytes() == tls_site.tls.ca_file.read_bytes()
    rc, cfg = await run_cli("edge", "--config", str(etc / "station.toml"), "--print-config")
    assert rc == 0, cfg
    assert f'tls_cert_file = "{etc / "client.pem"}"' in cfg
    assert f"port = {tls_site.tls_port}" in cfg

    # The right password without a client certificate does not get in.
    password = (etc / "mqtt.password").read_text().strip()
    result = _connect_rc(tls_site.tls_port, tls_site.tls.ca_file, issued.station_id, password)
    assert result != "connected", result
    with_cert = _connect_rc(
        tls_site.tls_port, tls_site.tls.ca_file, issued.station_id, password, etc
    )
    assert with_cert == "connected"

    # Second run: nothing changes, the certificate is kept.
    before = (etc / "client.pem").read_bytes()
    rc, out = await run_cli(*args)
    assert rc == 0, out
    assert "Nothing changed" in out, out
    assert (etc / "client.pem").read_bytes() == before


async def test_a_bad_csr_is_refused_without_using_the_code(tls_site: TlsSite) -> None:
    issued = tls_site.service.create_code("접수", "lobby")
    with pytest.raises(EnrolmentError, match="not a PEM CSR"):
        tls_site.service.exchange(EnrolRequest(code=issued.code, csr_pem="junk"))
    _key, csr = new_key_and_csr("pi")
    got = tls_site.service.exchange(EnrolRequest(code=issued.code, csr_pem=csr))
    assert got.mqtt.client_cert_pem is not None
    assert got.mqtt.ca_pem == tls_site.tls.ca_file.read_text()
