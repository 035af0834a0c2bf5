"""The station's files as provisioning renders them, checked against the daemons' own config
models (tests may import edge and kiosk_ui; provisioning itself never does)."""

from __future__ import annotations

import shutil
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest

from central.site_key import load_site_key
from edge.config import EdgeConfig
from edge.daemon import read_site_key
from kiosk_ui.config import KioskConfig
from protocol.base import LocalizedText
from protocol.enrolment import EnrolMqtt, EnrolResponse
from provisioning.errors import NotEnrolled, UsageError
from provisioning.files import put, wipe
from provisioning.station import (
    Layout,
    Options,
    load_existing,
    render_kiosk_toml,
    render_station_toml,
    site_key_file_bytes,
    split_enrolment,
    write_station,
)

KEY = b"0123456789abcdef0123456789abcdef"


def response(ca: str | None = None) -> EnrolResponse:
    return EnrolResponse(
        station_id="st-lobby-1",
        name=LocalizedText(ko="접수", en="Lobby"),
        location_node="lobby",
        mqtt=EnrolMqtt(
            host="mqtt.local", port=8883, username="st-lobby-1", password="p" * 32, ca_pem=ca
        ),
        site_key_hex=KEY.hex(),
    )


def layout(tmp_path: Path) -> Layout:
    return Layout(config_dir=tmp_path / "etc", data_dir=tmp_path / "var", root=tmp_path / "root")


def test_rendered_configs_are_valid_for_the_edge_daemon_and_the_kiosk(tmp_path: Path) -> None:
    enrolment, _ = split_enrolment(response(ca="-----BEGIN CERTIFICATE-----\n"), "http://c")
    lay = layout(tmp_path)
    opts = Options(readers=[{"type": "nfcpy", "device": "usb"}])
    edge = EdgeConfig.model_validate(tomllib.loads(render_station_toml(enrolment, lay, opts)))
    assert edge.station_id == "st-lobby-1"
    assert edge.location_node == "lobby"
    assert edge.mqtt.username == "st-lobby-1"
    assert edge.mqtt.password_file == lay.config_dir / "mqtt.password"
    assert edge.mqtt.tls_ca_file == lay.config_dir / "ca.pem"
    assert edge.site_key_file == lay.config_dir / "site.key"
    assert edge.readers[0].type == "nfcpy"
    kiosk = KioskConfig.model_validate(tomllib.loads(render_kiosk_toml(enrolment, lay, opts)))
    assert kiosk.station_id == "st-lobby-1"
    assert kiosk.edge_screen_url == f"ws://127.0.0.1:{edge.http.port}/api/v1/screen"


def test_write_is_private_idempotent_and_dry_run_writes_nothing(tmp_path: Path) -> None:
    enrolment, secrets = split_enrolment(response(), "http://c")
    lay = layout(tmp_path)
    planned = write_station(enrolment, secrets, lay, Options(), dry_run=True)
    assert {c.change for c in planned} == {"created"}
    assert not lay.config_dir.exists()
    first = write_station(enrolment, secrets, lay, Options())
    assert [c.path for c in first] == [c.path for c in planned]
    for c in first:
        mode = stat.S_IMODE(c.path.stat().st_mode)
        assert mode == (0o644 if c.path.suffix == ".service" else 0o600), c.path
    assert stat.S_IMODE(lay.config_dir.stat().st_mode) == 0o750
    assert {c.change for c in write_station(enrolment, secrets, lay, Options())} == {"unchanged"}
    # A loosened mode is put right.
    (lay.config_dir / "mqtt.password").chmod(0o644)
    changed = [
        c for c in write_station(enrolment, secrets, lay, Options()) if c.change != "unchanged"
    ]
    assert [c.path.name for c in changed] == ["mqtt.password"]
    back, back_secrets = load_existing(lay)
    assert back == enrolment
    assert back_secrets == secrets


def test_load_existing_says_how_to_enrol(tmp_path: Path) -> None:
    with pytest.raises(NotEnrolled, match="not enrolled") as e:
        load_existing(layout(tmp_path))
    assert "nfc-hospital provision --central URL --code CODE" in e.value.todo


def test_the_site_key_file_is_the_hex_text_central_and_the_edge_daemon_read(
    tmp_path: Path,
) -> None:
    # Any key bytes, whitespace included, survive: the file holds hex text.
    key = b" " + KEY + b"\n"
    path = tmp_path / "site.key"
    path.write_bytes(site_key_file_bytes(key))
    path.chmod(0o600)
    assert load_site_key(path, create=False) == key
    assert read_site_key(path) == key


def test_put_and_wipe(tmp_path: Path) -> None:
    p = tmp_path / "a" / "secret"
    assert put(p, b"x").change == "created"
    assert put(p, b"x").change == "unchanged"
    assert put(p, b"y").change == "updated"
    assert put(p, b"z", dry_run=True).change == "updated"
    assert p.read_bytes() == b"y"
    assert not list(p.parent.glob(".*.tmp"))
    assert wipe(p).change == "removed"
    assert not p.exists()
    assert wipe(p).change == "absent"


def test_auto_reader_keeps_the_first_runs_choice(tmp_path: Path) -> None:
    # On a second run the daemon holds the USB reader, so a new probe would miss it.
    from provisioning.cli import _readers, build_parser

    enrolment, secrets = split_enrolment(response(), "http://c")
    lay = layout(tmp_path)
    opts = Options(readers=[{"type": "nfcpy", "device": "usb:054c:06c1"}])
    write_station(enrolment, secrets, lay, opts)
    args = build_parser("p").parse_args(["--config-dir", str(lay.config_dir)])
    assert args.reader == "auto"
    assert _readers(args, lay) == [{"type": "nfcpy", "device": "usb:054c:06c1"}]
    args = build_parser("p").parse_args(["--reader", "simulated"])
    assert _readers(args, lay) == [{"type": "simulated"}]


@pytest.mark.parametrize(
    "argv",
    [
        ["--reader", "nfcpy", "--nfc-device", "usb:054c:06c1"],
        ["--reader", "pcsc"],
        ["--reader", "keyboard", "--keyboard-device", "/dev/input/by-id/usb-x-event-kbd"],
        ["--reader", "simulated"],
    ],
)
def test_every_reader_choice_gives_a_valid_edge_config(tmp_path: Path, argv: list[str]) -> None:
    from provisioning.cli import _readers, build_parser

    enrolment, _ = split_enrolment(response(), "http://c")
    lay = layout(tmp_path)
    readers = _readers(build_parser("p").parse_args(argv), lay)
    text = render_station_toml(enrolment, lay, Options(readers=readers))
    assert EdgeConfig.model_validate(tomllib.loads(text)).readers[0].type == argv[1]


def test_a_keyboard_reader_needs_its_device(tmp_path: Path) -> None:
    from provisioning.cli import _readers, build_parser

    with pytest.raises(UsageError, match="needs --keyboard-device"):
        _readers(build_parser("p").parse_args(["--reader", "keyboard"]), layout(tmp_path))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd not installed")
def test_systemd_accepts_the_units_without_a_warning(tmp_path: Path) -> None:
    enrolment, secrets = split_enrolment(response(), "http://c")
    lay = layout(tmp_path)
    write_station(enrolment, secrets, lay, Options())
    units = sorted(lay.unit_dir.glob("*.service"))
    assert [u.name for u in units] == ["nfc-hospital-edge.service", "nfc-hospital-kiosk.service"]
    proc = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(f"./{u.name}" for u in units)],
        cwd=lay.unit_dir,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    # systemd only warns (exit 0) about unknown keys and bad values: any output is a defect.
    assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")
    edge = units[0].read_text()
    for line in ("Restart=on-failure", "WatchdogSec=30", "After=network-online.target"):
        assert line in edge
    # The kiosk pings the watchdog from its Qt event loop (kiosk_ui.app): a hung screen restarts.
    assert "\nWatchdogSec=30\n" in units[1].read_text()
