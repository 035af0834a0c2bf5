"""`nfc-hospital bench ws-fanout`, tiny: 5 WebSocket clients in one process, 3 changes."""

from __future__ import annotations

import asyncio

from bench.ws_fanout import Plan, measure, run


def test_every_client_gets_every_change_with_a_latency(tmp_path):
    plan = Plan(clients=5, procs=2, changes=3, interval_s=0.02)
    result = asyncio.run(measure(plan, tmp_path))
    # 3 + 2 clients, each got the frame of each change once (matched by seq to its commit)
    assert result.expected == 15
    assert len(result.latencies_ms) == 15
    assert all(0 < ms < 10_000 for ms in result.latencies_ms)
    assert result.pct(0.5) <= result.pct(0.95) <= max(result.latencies_ms)


def test_run_prints_the_table_and_writes_the_doc(tmp_path, capsys):
    doc = tmp_path / "ws.md"
    argv = [
        "--clients",
        "3",
        "--procs",
        "1",
        "--changes",
        "3",
        "--interval",
        "0",
        "--doc",
        str(doc),
    ]
    rc = run(argv)
    out = capsys.readouterr().out
    assert "| 3 | 1 | 3 | 9/9 |" in out
    assert rc == (0 if "target met" in out else 1)
    text = doc.read_text()
    assert "nfc-hospital bench ws-fanout --clients 3 --procs 1" in text
    assert "load average" in text
    assert "| 3 | 1 | 3 | 9/9 |" in text
