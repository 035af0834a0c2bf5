"""Smoke run of `nfc-hospital bench estimator --quick` (keeps the benchmark from rotting)."""

from __future__ import annotations

from bench.estimator import _seeds, run


def test_quick_benchmark_runs_and_meets_the_targets(capsys):
    assert run(["--quick", "--seeds", "101"]) == 0
    out = capsys.readouterr().out
    assert "At check-in" in out
    assert "Snapshots" in out
    assert "simulator (pure model): 1000 visits" in out
    assert out.rstrip().endswith("targets met")


def test_seed_ranges():
    assert _seeds("1-3,7") == [1, 2, 3, 7]
