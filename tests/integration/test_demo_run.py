"""`nfc-hospital demo` as a user runs it: a headless run that checks its own invariants, and a
SIGTERM in the middle that must leave no process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FAST = ["--speed", "300", "--visits", "60", "--status-every", "3"]


def _demo(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "nfc_hospital", "demo", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")},
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead but still listed until its parent reaps it.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line mentions `text` (catches grandchildren too)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


@pytest.mark.timeout(120)
def test_headless_run_checks_invariants_and_exits_0(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    proc = _demo(["--headless", "--duration", "10", "--data-dir", str(data), *FAST])
    out, _ = proc.communicate(timeout=110)
    assert proc.returncode == 0, out
    assert "invariants held" in out
    # The summary names what was checked, and the run did real work through the live paths.
    assert "each at central exactly once" in out
    assert "unique per room and day" in out
    assert "hold central's snapshot versions" in out
    assert "stations online 3/3" in out
    taps = [int(line.split("taps ")[1].split()[0]) for line in out.splitlines() if "taps " in line]
    assert taps
    assert taps[-1] > 0
    pids = json.loads((data / "pids.json").read_text())
    assert set(pids) >= {"mosquitto", "central", "st-lobby", "st-1f-east", "st-2f"}
    assert not [p for name, p in pids.items() if name != "demo" and _alive(p)]
    assert not _processes_mentioning(str(data))


@pytest.mark.timeout(120)
def test_sigterm_mid_run_leaves_no_process_behind(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    proc = _demo(["--headless", "--data-dir", str(data), *FAST])
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 90
    # Wait until the simulation runs (a status line), then stop the demo like systemd would.
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("["):
            break
    assert lines
    assert lines[-1].startswith("["), "".join(lines)
    pids = json.loads((data / "pids.json").read_text())
    children = {name: pid for name, pid in pids.items() if name != "demo"}
    assert len(children) == 7  # broker, central, 3 stations, 2 room boards
    assert all(_alive(p) for p in children.values())
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143, "".join(lines) + out
    assert "every process it started ended" in out
    assert not [name for name, p in children.items() if _alive(p)]
    assert not _processes_mentioning(str(data))


@pytest.mark.timeout(120)
def test_a_crashed_station_fails_the_run_and_the_rest_is_stopped(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    proc = _demo(["--headless", "--duration", "60", "--data-dir", str(data), *FAST])
    assert proc.stdout is not None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line or line.startswith("["):
            break
    children = json.loads((data / "pids.json").read_text())
    children.pop("demo")
    os.kill(children["st-2f"], signal.SIGKILL)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, out
    assert "st-2f exited with status -9" in out
    assert "FAILED" in out
    assert "invariants held" not in out
    assert not [name for name, p in children.items() if _alive(p)]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_children_end_when_the_demo_is_killed(tmp_path: Path) -> None:
    """SIGKILL runs no cleanup in the demo: the kernel's parent-death signal ends each child."""
    data = tmp_path / "demo"
    proc = _demo(["--headless", "--data-dir", str(data), *FAST])
    assert proc.stdout is not None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line or line.startswith("["):
            break
    children = json.loads((data / "pids.json").read_text())
    children.pop("demo")
    proc.kill()
    proc.communicate(timeout=10)
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and [p for p in children.values() if _alive(p)]:
        time.sleep(0.1)
    assert not [name for name, p in children.items() if _alive(p)]
