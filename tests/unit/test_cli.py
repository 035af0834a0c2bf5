"""The one command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nfc_hospital.cli import SUBCOMMANDS


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nfc_hospital", *args], capture_output=True, text=True, check=False
    )


def test_help_lists_every_subcommand():
    out = run("--help")
    assert out.returncode == 0
    for name in ("central", "edge", "kiosk", "provision", "demo", "simulate", "bench"):
        assert name in out.stdout


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_each_subcommand_has_help_that_says_what_it_does(name):
    out = run(name, "--help")
    assert out.returncode == 0, out.stderr
    assert "usage: nfc-hospital " + name in out.stdout


def test_unknown_subcommand_is_a_usage_error():
    out = run("fly")
    assert out.returncode == 2
    assert "invalid choice" in out.stderr


def test_protocol_schema_writes_a_schema_per_message(tmp_path):
    out = run("protocol", "schema", str(tmp_path / "schemas"))
    assert out.returncode == 0, out.stderr
    files = sorted((tmp_path / "schemas").glob("*.json"))
    assert {f.stem for f in files} >= {"EventBatch", "Ack", "RoomQueueSnapshot", "StationStatus"}
    schema = json.loads((tmp_path / "schemas" / "EventBatch.json").read_text())
    assert schema["additionalProperties"] is False
    assert "station_id" in schema["properties"]
