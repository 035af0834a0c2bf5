"""The demo's process supervision: groups, stop order, leftovers, crash reports."""

from __future__ import annotations

import os
import time
from pathlib import Path

from nfc_hospital.orchestra import Child, Orchestra, OrchestraError


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state == "Z"


def _wait_for_file(path: Path) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text()
        time.sleep(0.02)
    raise AssertionError(f"{path} never written")


def test_stop_ends_the_child_and_what_it_left_in_its_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    child = Child("sh", ["sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"], tmp_path / "sh.log")
    child.start()
    grandchild = int(_wait_for_file(pidfile))
    assert os.getpgid(grandchild) == child.pid  # its own group, not ours
    assert os.getpgid(0) != child.pid
    assert child.stop() is not None
    assert _gone(grandchild)
    assert child.pid is not None
    assert _gone(child.pid)


def test_a_child_ignoring_sigterm_is_killed_after_the_timeout(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    child = Child(
        "stubborn",
        ["sh", "-c", f"trap '' TERM; echo x > {ready}; while :; do sleep 0.05; done"],
        tmp_path / "stubborn.log",
        stop_timeout_s=0.5,
    )
    child.start()
    _wait_for_file(ready)
    started = time.monotonic()
    assert child.stop() == -9
    assert time.monotonic() - started < 5


def _trapping(name: str, tmp_path: Path, tier: int, linger_s: float = 0.0) -> Child:
    """A shell that notes its SIGTERM in `order`, takes `linger_s` to exit, and says when its
    trap is set."""
    script = (
        f"trap 'echo {name} >> {tmp_path / 'order'}; sleep {linger_s}; exit 0' TERM; "
        f"echo x > {tmp_path / name}; while :; do sleep 0.05; done"
    )
    return Child(name, ["sh", "-c", script], tmp_path / f"{name}.log", tier=tier)


def _first_crash(band: Orchestra) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            band.check_alive()
        except OrchestraError as e:
            return str(e)
        time.sleep(0.02)
    raise AssertionError("no child crashed")


def test_a_crashed_child_is_named_with_its_status_and_stopped_in_reverse_order(
    tmp_path: Path,
) -> None:
    band = Orchestra()
    first = band.add(_trapping("first", tmp_path, tier=0))
    band.add(Child("crasher", ["sh", "-c", "echo boom; exit 3"], tmp_path / "crasher.log", tier=1))
    band.add(_trapping("last", tmp_path, tier=2))
    message = _first_crash(band)
    assert message.startswith("crasher exited with status 3")
    assert "boom" in message
    _wait_for_file(tmp_path / "first")
    _wait_for_file(tmp_path / "last")
    codes: dict[str, int | None] = {}
    band.stop_all(lambda c, code: codes.__setitem__(c.name, code))
    assert codes == {"last": 0, "crasher": 3, "first": 0}
    assert (tmp_path / "order").read_text().split() == ["last", "first"]
    assert first.pid is not None
    assert _gone(first.pid)


def test_the_children_of_a_tier_stop_together_after_the_later_tier(tmp_path: Path) -> None:
    band = Orchestra()
    band.add(_trapping("broker", tmp_path, tier=0))
    for name in ("st-a", "st-b", "st-c"):
        band.add(_trapping(name, tmp_path, tier=1, linger_s=1.0))
    for name in ("broker", "st-a", "st-b", "st-c"):
        _wait_for_file(tmp_path / name)
    started = time.monotonic()
    band.stop_all()
    took = time.monotonic() - started
    # Three stations taking a second each: about one second together, not three.
    assert 1.0 <= took < 2.5
    order = (tmp_path / "order").read_text().split()
    assert sorted(order[:3]) == ["st-a", "st-b", "st-c"]
    assert order[3] == "broker"
