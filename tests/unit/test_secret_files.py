"""Secret files (the site key, an MQTT password) are refused, with what to do, when missing,
unreadable or open to other users: a world-readable site key lets anyone on the machine turn
card UIDs into the hashes stations accept."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from central.site_key import load_site_key
from protocol.config import read_secret_file
from protocol.errors import ConfigError
from protocol.ids import format_site_key
from protocol.settings import MqttSettings
from tests.support.ports import free_port


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o640])
def test_private_files_are_read(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "pw"
    path.write_text("s3cret\n", encoding="utf-8")
    path.chmod(mode)
    assert read_secret_file(path, "mqtt.password_file") == "s3cret"


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o660, 0o666])
def test_files_open_to_other_users_are_refused_with_the_fix(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "pw"
    path.write_text("s3cret\n", encoding="utf-8")
    path.chmod(mode)
    with pytest.raises(ConfigError) as e:
        read_secret_file(path, "mqtt.password_file")
    text = str(e.value)
    assert text.startswith(f"mqtt.password_file: {path}:")
    assert oct(mode) in text
    assert f"chmod 600 {path}" in text
    assert "s3cret" not in text


def test_a_missing_or_binary_password_file_names_the_key(tmp_path: Path) -> None:
    settings = MqttSettings(password_file=tmp_path / "nope")
    with pytest.raises(ConfigError, match=r"^mqtt.password_file: .*nope: cannot read"):
        settings.resolved_password()
    binary = tmp_path / "bin"
    binary.write_bytes(b"\xff\xfe\x00")
    binary.chmod(0o600)
    with pytest.raises(ConfigError, match="not UTF-8"):
        MqttSettings(password_file=binary).resolved_password()


def test_central_creates_a_private_site_key_and_refuses_a_readable_one(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "site.key"
    key = load_site_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_site_key(path, create=False) == key
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"^site.site_key_file: .*chmod 600"):
        load_site_key(path)
    path.chmod(0o600)
    path.write_text("not a key\n", encoding="ascii")
    with pytest.raises(ConfigError, match=r"^site.site_key_file: "):
        load_site_key(path)


def test_central_with_a_world_readable_site_key_exits_2_saying_why(tmp_path: Path) -> None:
    key = tmp_path / "site.key"
    key.write_text(format_site_key(b"k" * 32), encoding="ascii")
    key.chmod(0o644)
    config = tmp_path / "central.toml"
    config.write_text(
        f'[http]\nhost = "127.0.0.1"\nport = {free_port()}\n'
        f'[database]\nurl = "sqlite:///{tmp_path / "central.db"}"\n'
        f"[mqtt]\nport = {free_port()}\n"
        f'[site]\nsite_key_file = "{key}"\n',
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "nfc_hospital", "central", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 2, done.stderr
    assert f"chmod 600 {key}" in done.stderr
    assert "Traceback" not in done.stderr
