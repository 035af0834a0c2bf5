"""kill -9 of the station daemon right after feedback, again and again: every tap that got
feedback reaches (the stand-in for) central exactly once (DESIGN §4, invariants 1 and 2)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest

from protocol.codec import encode
from protocol.ids import card_hash
from tests.support.edge_world import DaemonProcess, FakeCentral, cards, config, lease, rooms, uid
from tests.support.factories import SITE_KEY

pytestmark = pytest.mark.fault


async def kill_loop(tmp_path, broker, topics, iterations: int) -> None:
    central = FakeCentral(broker.port, topics)
    daemon = DaemonProcess(tmp_path, broker.port, topics.root)
    rng = random.Random(4)
    fed_back: Counter[str] = Counter()
    async with asyncio.TaskGroup() as tg:
        ct = tg.create_task(central.link.run(), name="central")
        await asyncio.wait_for(central.link.subscribed.wait(), 10)
        # Low-water 1 and a big block: no lease requests, so events == taps exactly.
        for doc in (rooms(), config(low_water=1), cards(50)):
            await central.publish_retained(topics.directory(doc.kind), encode(doc))
        await central.publish_retained(
            topics.station("st-1", "lease"),
            encode(lease("st-1", 1, [("l1", "xray-1", 1, 9000)])),
        )
        for i in range(iterations):
            await asyncio.to_thread(daemon.start)
            # Central is down half the time, so kills hit both acked and unacked outboxes.
            central.paused = i % 2 == 1
            for _ in range(rng.randint(1, 3)):
                card = uid(rng.randint(1, 60))  # some cards are unknown
                status, body = await asyncio.to_thread(daemon.tap, card)
                assert status == 200, body
                fed_back[card] += 1
            # Feedback was given: kill at once, no shutdown code runs.
            await asyncio.to_thread(daemon.kill)
        central.paused = False
        await asyncio.to_thread(daemon.start)
        total = sum(fed_back.values())
        try:
            await central.wait_for("st-1", total, within=60)
        finally:
            await asyncio.to_thread(daemon.terminate)
        ct.cancel()
    events = [e for (sid, _), e in central.events.items() if sid == "st-1"]
    assert len(events) == total, "every tap that got feedback is one event, no more"
    assert sorted(int(e["station_seq"]) for e in events) == list(range(1, total + 1))
    per_hash = Counter(str(e["card_hash"]) for e in events)
    assert per_hash == Counter({card_hash(SITE_KEY, u): n for u, n in fed_back.items()})
    numbers = [e["ticket_number"] for e in events if e["kind"] == "check_in"]
    assert len(numbers) == len(set(numbers)), "a ticket number was issued twice"


async def test_kill9_after_feedback_loses_and_duplicates_nothing(tmp_path, broker, topics):
    await kill_loop(tmp_path, broker, topics, iterations=20)


@pytest.mark.slow
async def test_kill9_after_feedback_soak(tmp_path, broker, topics):
    await kill_loop(tmp_path, broker, topics, iterations=200)
