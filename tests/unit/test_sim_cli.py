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
