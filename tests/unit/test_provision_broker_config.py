"""Mosquitto's password file, ACL and listener config as broker-config writes them."""

from __future__ import annotations

import base64
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from central.broker_config import (
    BrokerConfigError,
    BrokerUser,
    TlsSettings,
    central_user_from_file,
    mosquitto_hash,
    render_acl,
    verify_mosquitto_hash,
    write_broker_config,
)

CENTRAL = BrokerUser("central", mosquitto_hash("central-secret-123"))


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="mosquitto not installed")
def test_hash_is_byte_identical_to_mosquitto_passwd(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), "alice", "s3cret!"], check=True)
    line = pw.read_text().strip()
    user, hashed = line.split(":", 1)
    assert user == "alice"
    salt = base64.b64decode(hashed.split("$")[3])
    assert mosquitto_hash("s3cret!", salt=salt) == hashed
    assert verify_mosquitto_hash("s3cret!", hashed)
    assert not verify_mosquitto_hash("s3cret", hashed)
    assert not verify_mosquitto_hash("s3cret!", "garbage")


def test_acl_gives_each_station_only_its_own_topics() -> None:
    acl = render_acl(["st-b", "st-a"], "central", "nfch")
    blocks = acl.split("\n\n")
    assert "user central\ntopic readwrite nfch/#" in blocks[1]
    st_a = next(b for b in blocks if b.startswith("user st-a"))
    assert st_a.splitlines() == [
        "user st-a",
        "topic write nfch/v1/station/st-a/events",
        "topic readwrite nfch/v1/station/st-a/status",
        "topic read nfch/v1/station/st-a/ack",
        "topic read nfch/v1/station/st-a/lease",
        "topic read nfch/v1/station/st-a/screen",
        "topic read nfch/v1/room/+/queue",
        "topic read nfch/v1/room/+/call",
        "topic read nfch/v1/directory/+",
    ]
    assert "st-b" not in st_a
    assert acl.index("user st-a") < acl.index("user st-b")


def test_files_are_private_and_a_second_write_changes_nothing(tmp_path: Path) -> None:
    st = [BrokerUser("st-1", mosquitto_hash("pw-one-xxxxxxxx"))]
    files = write_broker_config(tmp_path, st, CENTRAL)
    assert set(files.changed) == {files.passwd, files.acl, files.conf}
    for path in files.changed:
        assert stat.S_IMODE(path.stat().st_mode) in (0o600, 0o640)
    assert files.passwd.read_text().splitlines()[0].startswith("central:$7$101$")
    conf = files.conf.read_text()
    assert "allow_anonymous false" in conf
    assert "set_tcp_nodelay true" in conf  # no Nagle delay on the small messages
    assert f"password_file {tmp_path / 'passwd'}" in conf
    assert "listener 1883" in conf
    assert "cafile" not in conf
    assert write_broker_config(tmp_path, st, CENTRAL).changed == ()
    # Revoking st-1 rewrites the password file and the ACL, not the listener config.
    again = write_broker_config(tmp_path, [], CENTRAL)
    assert set(again.changed) == {files.passwd, files.acl}
    assert "st-1" not in files.passwd.read_text()
    assert "st-1" not in files.acl.read_text()


def test_tls_listener(tmp_path: Path) -> None:
    tls = TlsSettings(Path("/etc/ca.pem"), Path("/etc/b.pem"), Path("/etc/b.key"), 8883, True)
    files = write_broker_config(tmp_path, [], CENTRAL, tls, port=None, bind="10.0.0.5")
    conf = files.conf.read_text()
    assert "listener 8883 10.0.0.5" in conf
    assert "listener 1883" not in conf
    assert "cafile /etc/ca.pem" in conf
    assert "require_certificate true" in conf


@pytest.mark.parametrize(
    ("stations", "message"),
    [
        ([BrokerUser("Bad/Name", "x")], "not a valid id"),
        ([BrokerUser("central", "x")], "central's own broker user"),
        ([BrokerUser("a", "x"), BrokerUser("a", "y")], "listed twice"),
    ],
)
def test_bad_station_lists_are_refused(
    tmp_path: Path, stations: list[BrokerUser], message: str
) -> None:
    with pytest.raises(BrokerConfigError, match=message):
        write_broker_config(tmp_path, stations, CENTRAL)
    assert not (tmp_path / "passwd").exists()


def test_central_password_file_is_created_once_and_hashes_stably(tmp_path: Path) -> None:
    path = tmp_path / "central.pw"
    user, created = central_user_from_file(path)
    assert created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again, created = central_user_from_file(path)
    assert not created
    assert again == user
    assert verify_mosquitto_hash(path.read_text().strip(), user.password_hash)
    path.write_text("short\n")
    with pytest.raises(BrokerConfigError, match="shorter than 12"):
        central_user_from_file(path)
