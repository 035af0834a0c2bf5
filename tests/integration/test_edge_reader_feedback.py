"""The station daemon with a PC/SC reader through real pcscd + vsmartcard-vpcd: LED/buzzer
pseudo-APDUs after each kind of tap, and the reader's `degraded` health in the published
status, /healthz and /metrics.

Over vpcd the ACR122U pseudo-APDU reaches the virtual card (a real ACR122U's firmware would take
it for itself): the card records every APDU, so the test asserts the exact bytes the station
sent and that the tap's event was already committed when they arrived.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Iterator

import pytest

from edge.daemon import DB_NAME
from protocol.codec import decode, encode
from protocol.messages import ReaderHealth, StationStatus
from protocol.mqtt import Incoming, MqttLink
from protocol.settings import MqttSettings
from tests.support.edge_world import (
    DaemonProcess,
    FakeCentral,
    cards,
    config,
    lease,
    rooms,
    routes,
    uid,
)
from tests.support.pcsc import Pcscd, pcsc_problem, wait_for_card
from tests.support.readers import wait_until
from tests.support.vpcd_card import GET_UID, VirtualCard

pytestmark = pytest.mark.integration

# The default patterns (edge.feedback.acr122), as the bytes an ACR122U takes:
# FF 00 40 P2 04 T1 T2 REPS LINK.
OK = bytes.fromhex("FF0040A00401010101")  # one green blink, one beep
TAP_AGAIN = bytes.fromhex("FF0040500401010201")  # two red blinks, two beeps
RECEPTION = bytes.fromhex("FF0040500405010101")  # one long red blink and beep
WINDOW_S = 6.0
DOOR = {
    "type": "pcsc",
    "name": "door",
    "reader": "PCD 00 00",
    "debounce_s": 0,
    "degraded_after": 2,
    "degraded_window_s": WINDOW_S,
    "led_buzzer": {"mode": "on"},  # vpcd's reader is no ACR122: 'auto' would send nothing
}


@pytest.fixture(scope="module")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pcscd]:
    problem = pcsc_problem()
    if problem:
        pytest.skip(problem)
    daemon = Pcscd(tmp_path_factory.mktemp("pcscd") / "pcscd.log")
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


def _outbox_kinds(daemon: DaemonProcess) -> list[str]:
    """Event kinds committed in the station's outbox, read by another connection."""
    with sqlite3.connect(f"file:{daemon.data_dir / DB_NAME}?mode=ro", uri=True) as db:
        return [k for (k,) in db.execute("SELECT kind FROM outbox ORDER BY station_seq")]


async def _tap(card: VirtualCard, within: float = 15) -> list[bytes]:
    """Put the card on the reader, wait for the station's signal, take the card away."""
    await asyncio.to_thread(card.insert)
    try:
        await wait_until(lambda: len(card.apdus) >= 2, within=within)
    finally:
        card.remove()
        await asyncio.to_thread(wait_for_card, False)
    assert card.error is None
    return list(card.apdus)


def _door(health: list[ReaderHealth]) -> ReaderHealth:
    (door,) = [h for h in health if h.name == "door"]
    return door


async def test_daemon_signals_each_outcome_after_the_write_and_reports_a_degraded_reader(
    tmp_path, broker, topics, pcscd
):
    central = FakeCentral(broker.port, topics)
    statuses: list[StationStatus] = []
    status_came = asyncio.Event()

    async def on_status(msg: Incoming) -> None:
        statuses.append(decode(StationStatus, msg.payload))
        status_came.set()

    async def published(check: Callable[[ReaderHealth], bool]) -> ReaderHealth:
        async with asyncio.timeout(15):
            while True:
                for st in reversed(statuses):
                    if st.online and any(h.name == "door" for h in st.readers):
                        if check(_door(st.readers)):
                            return _door(st.readers)
                        break
                status_came.clear()
                await status_came.wait()

    watcher = MqttLink(
        MqttSettings(port=broker.port),
        "watcher",
        subscriptions=[(topics.station("st-1", "status"), 1)],
        on_message=on_status,
    )
    daemon = DaemonProcess(
        tmp_path,
        broker.port,
        topics.root,
        readers=[DOOR, {"type": "simulated", "name": "sim", "debounce_s": 0}],
    )
    async with asyncio.TaskGroup() as tg:
        ct = tg.create_task(central.link.run(), name="central")
        wt = tg.create_task(watcher.run(), name="watcher")
        await asyncio.wait_for(central.link.subscribed.wait(), 10)
        await asyncio.wait_for(watcher.subscribed.wait(), 10)
        for doc in (rooms(), config(), routes(), cards(20)):
            await central.publish_retained(topics.directory(doc.kind), encode(doc))
        await central.publish_retained(
            topics.station("st-1", "lease"), encode(lease("st-1", 1, [("l1", "xray-1", 1, 500)]))
        )
        await asyncio.to_thread(daemon.start)
        try:
            # The directory has arrived once a known card checks in on the simulated reader.
            async with asyncio.timeout(15):
                while True:
                    _, shown = await asyncio.to_thread(daemon.tap, uid(2))
                    if shown["kind"] == "checked_in":
                        break
                    await asyncio.sleep(0.1)
            assert (await published(lambda h: h.status == "ok")).detail == "Virtual PCD 00 00"

            # A known card: checked in, then the "ok" pattern; the check-in was committed
            # before the pseudo-APDU reached the reader.
            at_signal: list[list[str]] = []

            def seen_at_signal(apdu: bytes) -> None:
                if apdu.startswith(b"\xff\x00\x40"):
                    at_signal.append(_outbox_kinds(daemon))

            known = VirtualCard(bytes.fromhex(uid(1)), on_apdu=seen_at_signal, port=pcscd.port)
            assert await _tap(known) == [GET_UID, OK]
            assert at_signal[-1].count("check_in") == 2  # uid(2) on sim, then uid(1) here

            # An unknown card: "go to reception", after its unknown_card event.
            unknown = VirtualCard(
                bytes.fromhex("04DEADBEEF0001"), on_apdu=seen_at_signal, port=pcscd.port
            )
            assert await _tap(unknown) == [GET_UID, RECEPTION]
            assert at_signal[-1][-1] == "unknown_card"
            kinds_before_bad = _outbox_kinds(daemon)

            # A read that fails: "tap again" and no event. Two within the window: degraded.
            for _ in range(2):
                bad = VirtualCard(bytes.fromhex(uid(3)), uid_status=b"\x6a\x81", port=pcscd.port)
                assert await _tap(bad) == [GET_UID, TAP_AGAIN]
            degraded = await published(lambda h: h.status == "degraded")
            assert "2 faults within 6 s (bad_status x2)" in degraded.detail
            status, body = await asyncio.to_thread(daemon.get, "/healthz")
            assert status == 200  # the station still records taps
            assert _door([ReaderHealth(**r) for r in json.loads(body)["readers"]]).status == (
                "degraded"
            )
            _, metrics = await asyncio.to_thread(daemon.get, "/metrics")
            assert b'nfch_edge_reader_status{reader="door",status="degraded"} 1.0' in metrics
            assert b'nfch_edge_reader_feedback_total{reader="door",result="ok"} 4.0' in metrics
            assert b'nfch_edge_reader_errors_total{reader="door",reason="bad_status"} 2.0' in (
                metrics
            )

            # No new faults: ok again once they are older than the window, published.
            await published(lambda h: h.status == "ok")
            _, metrics = await asyncio.to_thread(daemon.get, "/metrics")
            assert b'nfch_edge_reader_status{reader="door",status="ok"} 1.0' in metrics
            assert b'nfch_edge_reader_status{reader="door",status="degraded"} 0.0' in metrics

            # Central hears of both changes; the failed reads added no tap events.
            kinds = _outbox_kinds(daemon)
            assert kinds[len(kinds_before_bad) :] == ["reader_health", "reader_health"]
            await central.wait_for("st-1", len(kinds))
            health_events = [
                (e["reader"], e["status"])
                for _, e in sorted(central.events.items())
                if e["kind"] == "reader_health"
            ]
            # (The door may first have been seen disconnected, then ok, at start-up.)
            assert health_events[-2:] == [("door", "degraded"), ("door", "ok")]
        finally:
            code = await asyncio.to_thread(daemon.terminate)
        assert code == 0, daemon.log()
        ct.cancel()
        wt.cancel()
    log = daemon.log()
    assert "reader.feedback_failed" not in log
    for card_uid in (uid(1), uid(3), "04DEADBEEF0001"):
        assert card_uid.lower() not in log.lower()
