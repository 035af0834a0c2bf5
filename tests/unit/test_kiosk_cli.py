"""`nfc-hospital kiosk` command line: modes, config, screenshots."""

from __future__ import annotations

import pytest
from PyQt6.QtGui import QImage

from kiosk_ui.cli import main


def test_print_config_applies_command_line_overrides(capsys):
    assert main(["--room", "rad-xray-1", "--muted", "--windowed", "--print-config"]) == 0
    out = capsys.readouterr().out
    assert 'room_id = "rad-xray-1"' in out
    assert "muted = true" in out
    assert "fullscreen = false" in out


def test_no_mode_is_a_clear_error(capsys):
    assert main([]) == 2
    assert "--room ROOM_ID" in capsys.readouterr().err


def test_a_bad_room_id_names_the_key(capsys):
    assert main(["--room", "Not A Room"]) == 2
    assert "room_id" in capsys.readouterr().err


def test_room_and_station_are_exclusive(capsys):
    with pytest.raises(SystemExit):
        main(["--room", "r1", "--station"])


def test_bad_config_file_is_reported_with_its_path(tmp_path, capsys):
    path = tmp_path / "kiosk.toml"
    path.write_text('room_id = "r1"\nflash_s = "long"\n')
    with pytest.raises(SystemExit) as exc:
        main(["--config", str(path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert "flash_s" in err


@pytest.mark.qt
def test_screenshots_command_writes_full_hd_pngs(qapp, tmp_path, capsys):
    assert main(["screenshots", str(tmp_path), "--language", "ja"]) == 0
    files = sorted(tmp_path.glob("*.png"))
    assert len(files) >= 11
    assert all(f.name.endswith("-ja.png") for f in files)
    image = QImage(str(tmp_path / "station-checked-in-ja.png"))
    assert (image.width(), image.height()) == (1920, 1080)


@pytest.mark.qt
def test_a_dead_mqtt_link_ends_the_kiosk_non_zero(qapp, tmp_path, capsys):
    from kiosk_ui.app import run
    from kiosk_ui.config import KioskConfig
    from protocol.settings import MqttSettings

    # A CA file that does not exist makes the link fail inside its thread, as a broken
    # install would: the kiosk must exit non-zero (systemd restarts it), not sit there blank.
    config = KioskConfig(
        room_id="r1",
        fullscreen=False,
        speech="off",
        cache_dir=tmp_path,
        mqtt=MqttSettings(port=1, tls_ca_file=tmp_path / "missing-ca.pem"),
    )
    assert run(config) == 1
    assert "MQTT link died" in capsys.readouterr().err
