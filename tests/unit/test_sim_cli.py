"""`nfc-hospital simulate` and its TOML config."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import central.sim
from central.sim.cli import main
from central.sim.config import RoomGroup, SimConfig, VisitMix, load_sim_config
from central.sim.model import Simulation
from protocol.errors import ConfigError


def test_simulate_writes_summary_and_event_log(tmp_path, capsys):
    summary, events = tmp_path / "summary.json", tmp_path / "events.jsonl"
    rc = main(
        ["--visits", "120", "--seed", "3", "--summary", str(summary), "--events", str(events)]
    )
    assert rc == 0
    data = json.loads(summary.read_text())
    assert data["visits"]["total"] == 120
    assert data["run"] == {
        "mode": "pure",
        "seed": 3,
        "service_day": "2026-03-02",
        "steps": data["run"]["steps"],
    }
    assert len(events.read_text().splitlines()) == data["events"] > 600
    out = capsys.readouterr().out
    assert "visits 120" in out
    assert "pay-1" in out


def test_simulate_reads_toml_config(tmp_path, capsys):
    config = tmp_path / "day.toml"
    config.write_text(
        'visits = 80\nseed = 11\nopens_at = "09:00"\n\n'
        '[arrivals_by_hour]\n9 = 1.0\n\n[staff]\n"pay-1" = 3\n',
        encoding="utf-8",
    )
    summary = tmp_path / "s.json"
    assert main(["--config", str(config), "--summary", str(summary), "--quiet"]) == 0
    data = json.loads(summary.read_text())
    assert data["visits"]["total"] == 80
    assert set(data["arrivals_by_hour"]) <= {"9", "10", "11"}
    assert capsys.readouterr().out == ""


def test_unknown_config_key_is_an_error_naming_it(tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text("visits = 10\nvisitors = 3\n", encoding="utf-8")
    assert main(["--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "bad.toml" in err
    assert "visitors" in err


def test_mix_naming_an_unknown_group_is_refused(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text(
        '[[mixes]]\nname = "x"\nweight = 1\nsteps = ["lab", "karaoke"]\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="karaoke"):
        load_sim_config(config)


def test_group_naming_a_room_the_hospital_lacks_is_refused():
    config = SimConfig(
        groups={"lab": RoomGroup(rooms=["lab-9"])},
        mixes=[VisitMix(name="x", weight=1, steps=["lab"])],
    )
    with pytest.raises(ConfigError, match="lab-9"):
        Simulation(config, random.Random(1))


def test_print_config_round_trips(capsys):
    assert main(["--print-config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert SimConfig.model_validate(printed) == SimConfig()


def test_the_sample_day_toml_loads_and_runs(capsys):
    sample = Path(central.sim.__file__).parent / "sample_day.toml"
    config = load_sim_config(sample)
    assert config.visits == 500
    assert config.staff == {"pay-1": 2}
    assert config.service["lab"].dist == "gamma"
    # Kinds not named in the file keep their defaults.
    assert config.service["imaging"] == SimConfig().service["imaging"]
    assert main(["--config", str(sample), "--quiet"]) == 0


# ---------------------------------------------------------------- live mode
# A whole live run (stations, central, MQTT, staff login) is covered by the demo's integration
# test (tests/integration/test_demo_run.py drives `LiveQueue` the same way); here: the options
# and the errors before a run.


def _answering_server():
    """An HTTP server on a free loopback port that answers every request (501 to GET)."""
    import http.server
    import threading

    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="answering", daemon=True)
    thread.start()
    return server


def test_live_mode_parses_station_urls_dirs_and_password_file(tmp_path):
    import argparse

    from central.sim.cli import _live_options

    station_dir = tmp_path / "st-2"
    station_dir.mkdir()
    (station_dir / "http.port").write_text("18082\n")
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    args = argparse.Namespace(
        central="http://127.0.0.1:8080/",
        station=["st-1=http://127.0.0.1:18081", f"st-2={station_dir}"],
        user="sim",
        password=None,
        password_file=secret,
        speed=120.0,
    )
    opts = _live_options(args, load_sim_config(None).model_copy(update={"wrong_station_rate": 0}))
    assert opts.central_url == "http://127.0.0.1:8080"
    assert opts.stations == [("st-1", 18081), ("st-2", 18082)]
    assert opts.login == ("sim", "s3cret")
    assert opts.speed == 120.0


_LIVE = ["--central", "http://127.0.0.1:1", "--station", "a=http://127.0.0.1:5"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "needs --central"),
        (["--central", "ftp://x"], "not an http(s) base URL"),
        (["--central", "http://127.0.0.1:1"], "at least one --station"),
        (["--central", "http://127.0.0.1:1", "--station", "st-1"], "expected ID=URL or ID=DIR"),
        (
            ["--central", "http://127.0.0.1:1", "--station", "st-1=http://10.0.0.5:80"],
            "127.0.0.1",
        ),
        (["--central", "http://127.0.0.1:1", "--station", "st-1=/nonexistent"], "http.port"),
        (
            [*_LIVE, "--station", "a=http://127.0.0.1:6"],
            "given twice",
        ),
        (
            [*_LIVE, "--user", "sim"],
            "needs --password",
        ),
        (
            [*_LIVE, "--password", "x"],
            "without --user",
        ),
        (
            [*_LIVE, "--speed", "0"],
            "must be positive",
        ),
    ],
)
def test_live_mode_bad_options_are_refused_by_name(tmp_path, capsys, extra, message):
    config = tmp_path / "day.toml"
    config.write_text("visits = 10\nwrong_station_rate = 0\n", encoding="utf-8")
    assert main(["--mode", "live", "--config", str(config), *extra]) == 2
    assert message in capsys.readouterr().err


def test_live_mode_refuses_wrong_station_taps(tmp_path, capsys):
    # A live system has no wrong station: a config asking for such taps is refused ...
    config = tmp_path / "day.toml"
    config.write_text("visits = 10\nwrong_station_rate = 0.1\n", encoding="utf-8")
    assert main(["--mode", "live", "--config", str(config), *_LIVE]) == 2
    assert "wrong_station_rate" in capsys.readouterr().err


def test_live_mode_sample_day_drops_wrong_station_taps_and_takes_the_service_day(capsys):
    # ... while the sample day (no --config) runs live without them, as the demo does.
    argv = ["--mode", "live", *_LIVE, "--service-day", "2026-11-28", "--print-config"]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["wrong_station_rate"] == 0.0
    assert printed["service_day"] == "2026-11-28"


def test_live_mode_unreachable_central_is_a_clear_error(tmp_path, capsys):
    from tests.support.ports import free_port

    config = tmp_path / "day.toml"
    config.write_text("visits = 10\nwrong_station_rate = 0\n", encoding="utf-8")
    dead = free_port()
    argv = ["--mode", "live", "--config", str(config), "--central", f"http://127.0.0.1:{dead}"]
    assert main([*argv, "--station", f"st-1=http://127.0.0.1:{free_port()}"]) == 3
    err = capsys.readouterr().err
    assert f"central is unreachable at http://127.0.0.1:{dead}/healthz" in err


def test_live_mode_unreachable_station_is_a_clear_error(tmp_path, capsys):
    from tests.support.ports import free_port

    config = tmp_path / "day.toml"
    config.write_text("visits = 10\nwrong_station_rate = 0\n", encoding="utf-8")
    central = _answering_server()
    station = _answering_server()
    try:
        dead = free_port()
        argv = [
            "--mode",
            "live",
            "--config",
            str(config),
            "--central",
            f"http://127.0.0.1:{central.server_port}",
            "--station",
            f"st-1=http://127.0.0.1:{station.server_port}",
            "--station",
            f"st-2=http://127.0.0.1:{dead}",
        ]
        assert main(argv) == 3
    finally:
        central.shutdown()
        station.shutdown()
        central.server_close()
        station.server_close()
    err = capsys.readouterr().err
    assert f"station st-2 is unreachable at http://127.0.0.1:{dead}/healthz" in err
    assert "st-1" not in err
