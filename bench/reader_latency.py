"""`nfc-hospital bench reader-latency`: driver-level UID latency on emulated reader stacks.

For each stack, many taps of an emulated card, timed at three points:
  - placed → delivered: the card appears until its `CardRead` reaches the asyncio callback
    (includes waiting for the reader's next poll, which dominates);
  - card answer → delivered (nfcpy): the card's first answer to the reader's poll until
    delivery: anti-collision, activation, the thread hand-off;
  - ATR sent → delivered (pcsc): pcscd powering the new card up (the card sends its ATR) until
    delivery: pcscd's event to the driver, SCardConnect, the GET DATA APDU, the hand-off;
  - GET DATA → delivered (pcsc): the card receiving `FF CA 00 00 00` until delivery;
  - delivered → LED APDU at the card (pcsc, `led_buzzer.mode = "on"`): the driver's
    `signal_outcome("ok")` right after delivery until the card receives the ACR122U LED/buzzer
    pseudo-APDU (the feedback thread's own context, SCardConnect, the transmit). Over vpcd the
    virtual card receives it; on a real ACR122U its firmware does.

Needs a source checkout (the card emulators live in tests/support) and, for pcsc-vpcd, pcscd
and vsmartcard-vpcd installed; pcscd is started and stopped by PID like the tests do.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY

from edge.readers import CardRead, NfcpyReaderConfig, PcscReaderConfig, make_reader, unwrap


def _summary(name: str, samples_s: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples_s)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return (
        f"  {name:<28} n={len(ms):<4} p50={q[49]:8.2f} ms  p90={q[89]:8.2f} ms  "
        f"p99={q[98]:8.2f} ms  max={ms[-1]:8.2f} ms"
    )


async def _read_one(queue: asyncio.Queue[tuple[float, Any]]) -> tuple[float, CardRead]:
    at, result = await asyncio.wait_for(queue.get(), 15)
    if not isinstance(result, CardRead):
        raise RuntimeError(f"expected a card read, got {result!r}")
    return at, result


async def bench_nfcpy(taps: int, kind: str) -> None:
    from tests.support.nfc_emulator import FelicaEmulator, Type2Emulator
    from tests.support.ports import free_port

    port = free_port()
    card: Any
    if kind == "felica":
        card, targets = FelicaEmulator(port, bytes.fromhex("012E4CD8A1B2C3D4")), ["212F"]
    else:
        card, targets = Type2Emulator(port, bytes.fromhex("04A1B2C3D4E5F6")), ["106A"]
    card.start()
    config = NfcpyReaderConfig(
        type="nfcpy", device=f"udp:127.0.0.1:{port}", targets=targets, debounce_s=0
    )
    reader = make_reader(config)
    queue: asyncio.Queue[tuple[float, Any]] = asyncio.Queue()

    async def on_read(result: Any) -> None:
        queue.put_nowait((time.monotonic(), result))

    placed_to_read, answer_to_read = [], []
    task = asyncio.create_task(reader.run(on_read), name="bench-nfcpy")
    try:
        for _ in range(taps):
            placed = time.monotonic()
            card.place()
            at, _read = await _read_one(queue)
            placed_to_read.append(at - placed)
            answer_to_read.append(at - card.first_answer_at)
            card.remove()
            # Long enough for the reader's presence check (with its retries) to see the card
            # leave; a card back sooner is, rightly, the same tap.
            await asyncio.sleep(0.6)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        card.close()
    print(f"nfcpy-udp {kind} ({targets[0]}), {taps} taps:")
    print(_summary("placed -> delivered", placed_to_read))
    print(_summary("card answer -> delivered", answer_to_read))


async def bench_pcsc(taps: int) -> None:
    from tests.support.pcsc import Pcscd, pcsc_problem, wait_for_card
    from tests.support.vpcd_card import VirtualCard

    problem = pcsc_problem()
    if problem:
        print(f"pcsc-vpcd: skipped: {problem}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        daemon = Pcscd(Path(tmp) / "pcscd.log")
        daemon.start()
        try:
            card = VirtualCard(bytes.fromhex("04A1B2C3D4E5F6"), port=daemon.port)
            await _pcsc_taps(taps, card, wait_for_card)
        finally:
            daemon.stop()


def _played() -> float:
    """LED/buzzer signals the PC/SC driver got an answer for (any result)."""
    return sum(
        s.value
        for metric in REGISTRY.collect()
        if metric.name == "nfch_edge_reader_feedback"
        for s in metric.samples
        if s.name.endswith("_total")
    )


async def _pcsc_taps(taps: int, card: Any, wait_for_card: Any) -> None:
    config = PcscReaderConfig.model_validate(
        {"type": "pcsc", "reader": "PCD 00 00", "debounce_s": 0, "led_buzzer": {"mode": "on"}}
    )
    reader = make_reader(config)
    driver: Any = unwrap(reader)
    queue: asyncio.Queue[tuple[float, Any]] = asyncio.Queue()

    async def on_read(result: Any) -> None:
        queue.put_nowait((time.monotonic(), result))

    placed_to_read, atr_to_read, apdu_to_read, read_to_led = [], [], [], []
    task = asyncio.create_task(reader.run(on_read), name="bench-pcsc")
    try:
        for _ in range(500):
            if reader.health().status == "ok":
                break
            await asyncio.sleep(0.02)
        for _ in range(taps):
            card.insert()
            at, _read = await _read_one(queue)
            placed_to_read.append(at - card.inserted_at)
            atr_to_read.append(at - card.atr_sent_at)
            apdu_to_read.append(at - card.last_uid_request_at)
            sent, played = len(card.apdus), _played()
            driver.signal_outcome("ok")
            async with asyncio.timeout(15):
                while len(card.apdus) == sent:  # noqa: ASYNC110 - polled with a deadline
                    await asyncio.sleep(0.0005)
                read_to_led.append(card.apdu_times[-1] - at)
                while _played() == played:  # noqa: ASYNC110 - the answer reached the driver
                    await asyncio.sleep(0.001)
            card.remove()
            await asyncio.to_thread(wait_for_card, False)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        card.remove()
    print(f"pcsc-vpcd (pcscd + vsmartcard-vpcd), {taps} taps:")
    print(_summary("inserted -> delivered", placed_to_read))
    print(_summary("ATR sent -> delivered", atr_to_read))
    print(_summary("GET DATA -> delivered", apdu_to_read))
    print(_summary("delivered -> LED APDU at card", read_to_led))


def run(argv: list[str]) -> int:
    """Print UID latency figures for the chosen emulated reader stacks."""
    parser = argparse.ArgumentParser(prog="nfc-hospital bench reader-latency", description=__doc__)
    parser.add_argument(
        "--stack", choices=["nfcpy-udp", "pcsc-vpcd", "all"], default="all", help="which stack"
    )
    parser.add_argument("--taps", type=int, default=100, help="taps per stack (default 100)")
    args = parser.parse_args(argv)
    checkout = Path(__file__).resolve().parents[1]
    if not (checkout / "tests" / "support" / "nfc_emulator.py").exists():
        print("reader-latency needs a source checkout: the emulators are in tests/support")
        return 2
    if str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    if args.stack in ("nfcpy-udp", "all"):
        asyncio.run(bench_nfcpy(args.taps, "felica"))
        asyncio.run(bench_nfcpy(args.taps, "type2"))
    if args.stack in ("pcsc-vpcd", "all"):
        asyncio.run(bench_pcsc(args.taps))
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
