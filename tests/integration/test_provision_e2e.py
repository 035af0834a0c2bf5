"""Provisioning end to end on this machine: central's enrolment API over a real SQLite
database, a private Mosquitto configured by broker-config (password file + ACL, anonymous
off), and `nfc-hospital provision` run as a child process with a temp config folder."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from aiohttp import web
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from central.broker_config import (
    BrokerUser,
    central_user_from_file,
    mosquitto_hash,
    render_auth_config,
    write_broker_config,
)
from central.enrolment import EnrolmentService, EnrolmentSettings, build_enrolment_app
from central.store.db import Database
from protocol.enrolment import EnrolRequest
from protocol.ids import format_site_key
from protocol.topics import Topics
from tests.support.mosquitto import MosquittoBroker
from tests.support.ports import free_port, wait_for_port

pytestmark = pytest.mark.integration

SITE_KEY = b"provision-test-site-key-32bytes!"
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Site:
    """Central's enrolment side, a locked-down broker and a place for the Pi's files."""

    tmp: Path
    db: Database
    service: EnrolmentService
    broker: MosquittoBroker
    central_url: str
    central_password: str
    topics: Topics

    def pi(self, name: str = "pi") -> tuple[Path, Path]:
        """A config folder and a --root folder for one Pi."""
        return self.tmp / name / "etc", self.tmp / name / "root"

    async def provision(self, config_dir: Path, root: Path, *extra: str) -> tuple[int, str]:
        return await run_cli(
            "provision",
            "--central",
            self.central_url,
            "--config-dir",
            str(config_dir),
            "--root",
            str(root),
            "--yes",
            "--no-kiosk",
            # Not auto: a pcscd started by another test on this machine would be found.
            "--reader",
            "simulated",
            *extra,
        )


async def run_cli(*argv: str, limit_s: float = 60) -> tuple[int, str]:
    """`python -m nfc_hospital ARGV` as a child; exit code and stdout+stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "nfc_hospital",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
        cwd=REPO,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), limit_s)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


@pytest.fixture
async def site(tmp_path: Path, topic_root: str) -> AsyncIterator[Site]:
    db = Database(str(tmp_path / "central.db"))
    db.migrate()
    broker_dir = tmp_path / "broker-etc"
    central_pw_file = tmp_path / "central-mqtt.password"
    central_user, _ = central_user_from_file(central_pw_file)
    write_broker_config(broker_dir, [], central_user, topic_root=topic_root)
    broker = MosquittoBroker(tmp_path / "mosquitto", extra_config=render_auth_config(broker_dir))
    broker.start()
    pid_file = tmp_path / "mosquitto.pid"
    pid_file.write_text(f"{broker.pid}\n")
    settings = EnrolmentSettings(
        broker_host="127.0.0.1",
        broker_port=broker.port,
        topic_root=topic_root,
        broker_dir=broker_dir,
        broker_pid_file=pid_file,
        central_password_file=central_pw_file,
    )
    service = EnrolmentService(db, settings, site_key=SITE_KEY)
    runner = web.AppRunner(build_enrolment_app(service))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield Site(
            tmp=tmp_path,
            db=db,
            service=service,
            broker=broker,
            central_url=f"http://127.0.0.1:{port}",
            central_password=central_pw_file.read_text().strip(),
            topics=Topics(topic_root),
        )
    finally:
        await runner.cleanup()
        broker.close()
        db.dispose()


# ---------------------------------------------------------------------------------------------
# a small synchronous MQTT 5 client for the assertions


class Client:
    """paho in its own network thread; every callback result lands in an Event."""

    def __init__(self, port: int, username: str | None, password: str | None) -> None:
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        if username is not None:
            self.c.username_pw_set(username, password)
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.rc: ReasonCode | None = None
        self.messages: list[mqtt.MQTTMessage] = []
        self.got = threading.Event()
        self.pubacks: dict[int, ReasonCode] = {}
        self.acked = threading.Event()
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_subscribe = lambda *_a: self.subscribed.set()
        self.c.on_publish = self._on_publish
        self.c.connect("127.0.0.1", port, keepalive=10)
        self.c.loop_start()
        assert self.connected.wait(10), "no CONNACK"

    def _on_connect(self, _c: object, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        self.rc = rc
        self.connected.set()

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        self.messages.append(msg)
        self.got.set()

    def _on_publish(self, _c: object, _u: object, mid: int, rc: ReasonCode, _p: object) -> None:
        self.pubacks[mid] = rc
        self.acked.set()

    @property
    def refused(self) -> bool:
        assert self.rc is not None
        return bool(self.rc.is_failure)

    def subscribe(self, topic: str) -> None:
        self.subscribed.clear()
        self.c.subscribe(topic, qos=1)
        assert self.subscribed.wait(10)

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        """QoS 1 publish; the PUBACK's reason code."""
        info = self.c.publish(topic, payload, qos=1)
        for _ in range(100):
            if info.mid in self.pubacks:
                return self.pubacks[info.mid]
            self.acked.wait(0.1)
            self.acked.clear()
        raise AssertionError("no PUBACK")

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for c in made:
        c.close()


def connect(site: Site, clients: list[Client], user: str | None, pw: str | None) -> Client:
    c = Client(site.broker.port, user, pw)
    clients.append(c)
    return c


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---------------------------------------------------------------------------------------------
# tests


async def test_provision_writes_a_locked_down_station_and_a_second_run_changes_nothing(
    site: Site,
) -> None:
    issued = site.service.create_code("1층 접수", "lobby", name_en="Lobby")
    etc, root = site.pi()
    rc, out = await site.provision(etc, root, "--code", issued.code.lower().replace("-", " "))
    assert rc == 0, out
    assert f"Enrolled as {issued.station_id}" in out
    assert "[  OK  ] broker link" in out
    assert "Station ready." in out
    for name in ("station.toml", "mqtt.password", "site.key", "enrolment.json"):
        assert _mode(etc / name) == 0o600, name
    assert (etc / "site.key").read_text() == format_site_key(SITE_KEY)
    unit = (root / "etc/systemd/system/nfc-hospital-edge.service").read_text()
    for line in (
        "Restart=on-failure",
        "WatchdogSec=30",
        "After=network-online.target",
        "User=nfch",
        "Type=notify",
    ):
        assert line in unit
    assert "skipped (--root)   systemctl enable nfc-hospital-edge.service" in out

    # The edge daemon accepts the written config.
    rc, cfg = await run_cli("edge", "--config", str(etc / "station.toml"), "--print-config")
    assert rc == 0, cfg
    assert f'station_id = "{issued.station_id}"' in cfg
    assert 'location_node = "lobby"' in cfg
    assert f"port = {site.broker.port}" in cfg

    # The status the self-test published is retained on the station's own topic.
    central = connect(site, [], "central", site.central_password)
    central.subscribe(site.topics.station(issued.station_id, "status"))
    assert central.got.wait(5)
    central.close()

    before = {p: p.stat().st_mtime_ns for p in [*etc.iterdir(), *root.rglob("*.service")]}
    rc, out = await site.provision(etc, root, "--code", issued.code)
    assert rc == 0, out
    assert "Already enrolled as" in out
    assert "Nothing changed" in out
    assert " created" not in out
    assert " updated" not in out
    after = {p: p.stat().st_mtime_ns for p in [*etc.iterdir(), *root.rglob("*.service")]}
    assert after == before


async def test_the_same_code_twice_fails_clearly(site: Site) -> None:
    issued = site.service.create_code("2층", "floor2")
    etc, root = site.pi("first")
    rc, out = await site.provision(etc, root, "--code", issued.code, "--no-self-test")
    assert rc == 0, out
    etc2, root2 = site.pi("second")
    rc, out = await site.provision(etc2, root2, "--code", issued.code)
    assert rc == 1
    assert "central refused the enrolment code" in out
    assert "the code is used" in out
    assert "ask an admin for a new code" in out
    assert not etc2.exists()


async def test_an_unknown_code_and_no_central_fail_with_what_to_do(site: Site) -> None:
    etc, root = site.pi()
    rc, out = await site.provision(etc, root, "--code", "AAAA-BBBB-CCCC")
    assert rc == 1
    assert "the code is unknown" in out
    rc, out = await run_cli(
        "provision", "--central", f"http://127.0.0.1:{free_port()}", "--code", "AAAA-BBBB-CCCC",
        "--config-dir", str(etc), "--root", str(root), "--yes",
    )  # fmt: skip
    assert rc == 1
    assert "did not answer" in out
    assert "what to do: check the URL" in out
    rc, out = await run_cli("provision", "--config-dir", str(etc), "--root", str(root), "--yes")
    assert rc == 2
    assert "--central is missing" in out


async def test_dry_run_writes_nothing_and_keeps_the_code(site: Site) -> None:
    issued = site.service.create_code("3층", "floor3")
    etc, root = site.pi()
    rc, out = await site.provision(etc, root, "--code", issued.code, "--dry-run")
    assert rc == 0, out
    assert "would exchange the code" in out
    assert not etc.exists()
    assert not root.exists()
    rc, out = await site.provision(etc, root, "--code", issued.code, "--no-self-test")
    assert rc == 0, out
    rc, out = await site.provision(etc, root, "--dry-run", "--re-enrol", "--code", issued.code)
    assert rc == 0


async def test_broker_refuses_anonymous_and_publishing_as_another_station(
    site: Site, clients: list[Client]
) -> None:
    a = site.service.exchange(EnrolRequest(code=site.service.create_code("A", "a").code))
    b = site.service.exchange(EnrolRequest(code=site.service.create_code("B", "b").code))
    await asyncio.to_thread(site.service.sync_broker)

    anon = connect(site, clients, None, None)
    assert anon.refused
    wrong = connect(site, clients, a.station_id, "not-the-password-at-all")
    assert wrong.refused

    central = await _connect_when_allowed(site, clients, "central", site.central_password)
    central.subscribe(site.topics.station_filter("events"))
    sa = await _connect_when_allowed(site, clients, a.station_id, a.mqtt.password)

    refused = sa.publish(site.topics.station(b.station_id, "events"), b"forged")
    assert refused.is_failure
    assert refused.value == 135  # Not authorized
    # QoS 0 has no PUBACK: the broker drops it silently (checked below: nothing arrives).
    sa.c.publish(site.topics.station(b.station_id, "events"), b"forged-qos0", qos=0)
    assert sa.publish(site.topics.station(a.station_id, "events"), b"mine").value == 0
    assert central.got.wait(5)
    assert [m.topic for m in central.messages] == [site.topics.station(a.station_id, "events")]
    assert [m.payload for m in central.messages] == [b"mine"]
    # A station cannot publish central's snapshots either.
    assert sa.publish(site.topics.room("r1", "queue"), b"fake").is_failure


async def _connect_when_allowed(
    site: Site, clients: list[Client], user: str, password: str, limit_s: float = 10
) -> Client:
    """Mosquitto reloads its files asynchronously after SIGHUP: retry until it lets us in."""
    deadline = asyncio.get_running_loop().time() + limit_s
    while True:
        c = await asyncio.to_thread(Client, site.broker.port, user, password)
        if not c.refused:
            clients.append(c)
            return c
        c.close()
        assert asyncio.get_running_loop().time() < deadline, f"{user} still refused"
        await asyncio.sleep(0.1)


async def _wait_refused(site: Site, user: str, password: str, limit_s: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + limit_s
    while True:
        c = await asyncio.to_thread(Client, site.broker.port, user, password)
        c.close()
        if c.refused:
            return
        assert asyncio.get_running_loop().time() < deadline, f"{user} still allowed"
        await asyncio.sleep(0.1)


async def test_a_revoked_station_can_no_longer_connect(site: Site, clients: list[Client]) -> None:
    a = site.service.exchange(EnrolRequest(code=site.service.create_code("A", "a").code))
    await asyncio.to_thread(site.service.sync_broker)
    await _connect_when_allowed(site, clients, a.station_id, a.mqtt.password)
    site.service.revoke(a.station_id)
    line = await asyncio.to_thread(site.service.sync_broker)
    assert line is not None
    assert "sent SIGHUP" in line
    await _wait_refused(site, a.station_id, a.mqtt.password)
    assert site.broker.running


async def test_a_failed_broker_link_fails_provisioning_with_what_to_do(site: Site) -> None:
    issued = site.service.create_code("5층", "floor5")
    etc, root = site.pi()
    rc, out = await site.provision(etc, root, "--code", issued.code, "--no-self-test")
    assert rc == 0, out
    site.service.revoke(issued.station_id)
    await asyncio.to_thread(site.service.sync_broker)
    rc, out = await site.provision(etc, root)
    assert rc == 1, out
    assert "[FAILED] broker link: the broker refused the login" in out
    assert "-> the broker may not have reloaded its password file yet" in out
    assert "Provisioning is NOT complete: broker link failed" in out


async def test_remove_wipes_the_station_and_central_revokes_it(site: Site) -> None:
    issued = site.service.create_code("4층", "floor4")
    etc, root = site.pi()
    rc, out = await site.provision(etc, root, "--code", issued.code, "--no-self-test")
    assert rc == 0, out
    password = (etc / "mqtt.password").read_text().strip()
    await _connect_when_allowed(site, [], issued.station_id, password)
    rc, out = await run_cli(
        "provision", "remove", "--config-dir", str(etc), "--root", str(root), "--yes"
    )
    assert rc == 0, out
    assert f"Central revoked {issued.station_id}" in out
    assert sorted(p.name for p in etc.iterdir()) == []
    assert not list(root.rglob("*.service"))
    [cred] = site.service.credentials()
    assert cred.revoked_at is not None
    await _wait_refused(site, issued.station_id, password)
    # Nothing left to remove: a plain explanation, not a traceback.
    rc, out = await run_cli(
        "provision", "remove", "--config-dir", str(etc), "--root", str(root), "--yes"
    )
    assert rc == 1
    assert "this machine is not enrolled" in out


def test_the_generated_config_alone_runs_a_locked_down_broker() -> None:
    """mosquitto -c DIR/mosquitto.conf, nothing else: as root it drops to the mosquitto user,
    which must still read the password and ACL files (root:mosquitto 0640)."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    # pytest's tmp folders are 0700 root: the mosquitto user could not even look in.
    base = Path(tempfile.mkdtemp(prefix="nfch-broker-"))
    try:
        base.chmod(0o711)
        port = free_port()
        password = "station-password-123"
        central, _ = central_user_from_file(base / "central.pw")
        files = write_broker_config(
            base / "etc",
            [BrokerUser("st-1", mosquitto_hash(password))],
            central,
            port=port,
            bind="127.0.0.1",
        )
        (base / "etc").chmod(0o755)
        proc = subprocess.Popen(
            [binary, "-c", str(files.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            wait_for_port(port, 10)
            anon = Client(port, None, None)
            anon.close()
            assert anon.refused
            ok = Client(port, "st-1", password)
            ok.close()
            assert not ok.refused
        finally:
            proc.terminate()
            proc.wait(10)
            assert proc.stderr is not None
            proc.stderr.close()
    finally:
        shutil.rmtree(base)


async def test_missing_options_are_asked_for_on_a_terminal(site: Site) -> None:
    issued = site.service.create_code("6층", "floor6")
    etc, root = site.pi()
    master, slave = os.openpty()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "nfc_hospital", "provision", "--config-dir", str(etc),
            "--root", str(root), "--no-kiosk", "--reader", "simulated", "--no-self-test",
            stdin=slave, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            cwd=REPO,
        )  # fmt: skip
        # Typed ahead: the terminal's line discipline hands one line to each prompt.
        os.write(master, f"{site.central_url}\n{issued.code.lower()}\n".encode())
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        os.close(master)
        os.close(slave)
    text = out.decode()
    assert proc.returncode == 0, text
    assert "Central URL: " in text
    assert "Enrolment code: " in text
    assert f"Enrolled as {issued.station_id}" in text
