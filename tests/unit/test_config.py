"""Config files: TOML, environment overrides, errors that name the file and the key path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from edge.config import EdgeConfig
from protocol.config import load_config, render_config
from protocol.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_file_then_environment_override(tmp_path):
    path = write(tmp_path, 'station_id = "hall-3"\n[mqtt]\nport = 1884\nhost = "broker"\n')
    config = load_config(EdgeConfig, path, "NFCH_EDGE", {"NFCH_EDGE__MQTT__PORT": "8883"})
    assert config.station_id == "hall-3"
    assert config.mqtt.host == "broker"
    assert config.mqtt.port == 8883


def test_unknown_key_is_an_error_naming_file_and_key_path(tmp_path):
    path = write(tmp_path, "[mqtt]\nprot = 1884\n")
    with pytest.raises(ConfigError) as info:
        load_config(EdgeConfig, path, "NFCH_EDGE", {})
    assert f"{path}: mqtt.prot: Extra inputs are not permitted" in str(info.value)


def test_bad_value_from_the_environment_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match=r"NFCH_EDGE__MQTT__PORT: mqtt\.port"):
        load_config(EdgeConfig, None, "NFCH_EDGE", {"NFCH_EDGE__MQTT__PORT": "eighty"})


def test_broken_toml_names_the_file_and_line(tmp_path):
    path = write(tmp_path, "[mqtt\nport = 1\n")
    with pytest.raises(ConfigError, match=r"station\.toml: not valid TOML.*line 1"):
        load_config(EdgeConfig, path, "NFCH_EDGE", {})


def test_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(EdgeConfig, tmp_path / "nope.toml", "NFCH_EDGE", {})
    bad = tmp_path / "bin.toml"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(EdgeConfig, bad, "NFCH_EDGE", {})


def test_print_config_hides_secrets_and_reloads():
    config = EdgeConfig.model_validate({"mqtt": {"password": "hunter2", "username": "st"}})
    assert isinstance(config.mqtt.password, SecretStr)
    text = render_config(config)
    assert "hunter2" not in text
    assert 'password = "********"' in text


def test_cli_print_config_and_config_errors(tmp_path):
    path = write(tmp_path, 'station_id = "hall-9"\n')
    cmd = [sys.executable, "-m", "nfc_hospital", "edge", "--config", str(path), "--print-config"]
    ok = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert 'station_id = "hall-9"' in ok.stdout
    path.write_text('station_id = "Hall 9"\n')
    bad = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert f"{path}: station_id: String should match pattern" in bad.stderr
