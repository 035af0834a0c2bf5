"""The PC/SC driver through a real pcscd with vsmartcard's vpcd and a virtual card (no mocks).

LED/buzzer feedback: over vpcd there is no reader firmware, so the ACR122U pseudo-APDU the
driver sends reaches the virtual card, which records it: these tests prove the bytes and when
they are sent, not that an ACR122U lights up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import pytest

from edge.feedback.acr122 import LedBuzzerConfig
from edge.readers import CardRead, PcscReaderConfig, ReadFailure, make_reader, unwrap
from edge.readers.pcsc_driver import PcscReader
from tests.support.pcsc import VPCD_READER, Pcscd, pcsc_problem, wait_for_card
from tests.support.readers import reader_errors, reader_feedback, running, wait_until
from tests.support.vpcd_card import GET_UID, VirtualCard

pytestmark = pytest.mark.integration

UID = bytes.fromhex("04A1B2C3D4E5F6")
PATTERNS = LedBuzzerConfig()
OK_APDU = PATTERNS.ok.apdu()
TAP_AGAIN_APDU = PATTERNS.tap_again.apdu()


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


@pytest.fixture
def card(pcscd: Pcscd) -> Iterator[VirtualCard]:
    c = VirtualCard(UID, port=pcscd.port)
    try:
        yield c
    finally:
        _take_away(c)
    assert c.error is None


def _take_away(card: VirtualCard) -> None:
    """Remove the card and wait until pcscd has noticed, as a real tap-and-leave would."""
    card.remove()
    wait_for_card(present=False)


def _reader(name: str = "pcsc", **kw: object):
    return make_reader(
        PcscReaderConfig.model_validate(
            {"type": "pcsc", "name": name, "reader": "PCD 00 00", "debounce_s": 0, **kw}
        )
    )


async def test_inserted_card_is_read_and_read_again_after_reinsertion(pcscd, card, caplog):
    caplog.set_level(logging.DEBUG)
    reader = _reader()
    async with running(reader) as got:
        await wait_until(lambda: reader.health().status == "ok")
        assert reader.health().detail == VPCD_READER
        card.insert()
        first = await got.next()
        assert isinstance(first, CardRead)
        assert (first.uid, first.technology, first.reader) == (
            UID.hex().upper(),
            "iso14443a",
            "pcsc",
        )
        assert card.uid_requests == 1
        _take_away(card)
        card.insert()
        second = await got.next()
        assert isinstance(second, CardRead)
        assert second.uid == first.uid
    assert card.uid_requests == 2
    assert UID.hex() not in caplog.text.lower()


async def test_card_answering_get_data_with_an_error_status_is_a_failure(pcscd):
    card = VirtualCard(UID, uid_status=b"\x6a\x81", port=pcscd.port)
    before = reader_errors("pcsc-badsw", "bad_status")
    reader = _reader("pcsc-badsw")
    try:
        async with running(reader) as got:
            await wait_until(lambda: reader.health().status == "ok")
            card.insert()
            result = await got.next()
    finally:
        _take_away(card)
    assert isinstance(result, ReadFailure)
    assert result.reason == "bad_status", result
    assert "6a81" in result.detail
    assert reader_errors("pcsc-badsw", "bad_status") == before + 1


async def test_card_pulled_away_mid_read_is_a_failure_and_no_read(pcscd):
    card = VirtualCard(UID, vanish_on_get_uid=True, port=pcscd.port)
    reader = _reader("pcsc-pulled")
    async with running(reader) as got:
        await wait_until(lambda: reader.health().status == "ok")
        card.insert()
        result = await got.next()
        await wait_until(lambda: not card.inserted)
    wait_for_card(present=False)
    assert card.uid_requests == 1
    assert isinstance(result, ReadFailure)
    assert result.reason == "card_removed", result
    assert not any(isinstance(r, CardRead) for r in got.seen)


async def test_card_already_on_the_reader_at_start_is_read_once(pcscd, card):
    card.insert()
    reader = _reader()
    async with running(reader) as got:
        result = await got.next()
        assert isinstance(result, CardRead)
        with pytest.raises(TimeoutError):
            await got.next(within=1.0)


async def test_unknown_reader_name_is_disconnected_with_the_readers_found(pcscd):
    reader = _reader(reader="ACR122")
    async with running(reader):
        await wait_until(
            lambda: reader.health().status == "disconnected" and "ACR122" in reader.health().detail
        )
    assert VPCD_READER in reader.health().detail or reader.health().detail == "stopped"


async def test_pcscd_restart_is_survived_with_backoff(pcscd, card):
    if not pcscd.owned:
        pytest.skip("a system pcscd is running: this test only stops a pcscd it started itself")
    reader = _reader(reconnect_max_s=1.0)
    async with running(reader) as got:
        await wait_until(lambda: reader.health().status == "ok")
        pcscd.stop()
        await wait_until(lambda: reader.health().status == "disconnected")
        pcscd.start()
        await wait_until(lambda: reader.health().status == "ok", within=15)
        card.insert()
        result = await got.next()
        assert isinstance(result, CardRead)


async def test_cancel_interrupts_a_long_status_wait(pcscd):
    reader = _reader(poll_interval_s=5.0)
    async with running(reader):
        await wait_until(lambda: reader.health().status == "ok")
        await asyncio.sleep(0.2)  # let the worker settle into its 5 s SCardGetStatusChange
        cancelled_at = time.monotonic()
    assert time.monotonic() - cancelled_at < 1.0
    assert reader.health().detail == "stopped"


def _driver(reader: object) -> PcscReader:
    raw = unwrap(reader)  # type: ignore[arg-type]
    assert isinstance(raw, PcscReader)
    return raw


async def _tap(card: VirtualCard, got) -> object:
    """Put the card on the reader and return what the driver delivered."""
    card.insert()
    return await got.next()


async def test_led_buzzer_pseudo_apdu_reaches_the_card_after_its_uid_was_read(pcscd, card):
    reader = _reader("pcsc-led", led_buzzer={"mode": "on"})
    driver = _driver(reader)
    before = reader_feedback("pcsc-led", "ok")
    async with running(reader) as got:
        await wait_until(lambda: reader.health().status == "ok")
        assert driver.feedback_enabled()
        read = await _tap(card, got)
        assert isinstance(read, CardRead)
        driver.signal_outcome("ok")
        await wait_until(lambda: reader_feedback("pcsc-led", "ok") == before + 1)
        assert card.apdus == [GET_UID, OK_APDU]
        assert reader.health().status == "ok"


async def test_mode_auto_sends_nothing_to_a_reader_that_is_not_an_acr122(pcscd, card):
    reader = _reader("pcsc-auto")  # led_buzzer.mode defaults to auto; vpcd is no ACR122
    driver = _driver(reader)
    async with running(reader) as got:
        await wait_until(lambda: reader.health().status == "ok")
        assert isinstance(await _tap(card, got), CardRead)
        assert not driver.feedback_enabled()
        driver.signal_outcome("ok")
        assert driver._signals.empty()  # not even queued
        _take_away(card)
    assert card.apdus == [GET_UID]


async def test_a_refused_signal_is_counted_logged_once_and_degrades_until_one_is_played(
    pcscd, caplog
):
    caplog.set_level(logging.INFO)
    reader = _reader("pcsc-refuse", led_buzzer={"mode": "on"})
    driver = _driver(reader)
    rejected = reader_feedback("pcsc-refuse", "rejected")
    played = reader_feedback("pcsc-refuse", "ok")
    async with running(reader) as got:
        await wait_until(lambda: reader.health().status == "ok")
        for i in range(2):
            # A card (or a reader) that answers the pseudo-APDU with "INS not supported".
            refusing = VirtualCard(UID, led_status=b"\x6d\x00", port=pcscd.port)
            try:
                assert isinstance(await _tap(refusing, got), CardRead)
                driver.signal_outcome("ok")
                await wait_until(
                    lambda n=i: reader_feedback("pcsc-refuse", "rejected") == rejected + n + 1
                )
            finally:
                _take_away(refusing)
            assert refusing.apdus == [GET_UID, OK_APDU]
        health = reader.health()
        assert health.status == "degraded"
        assert "LED/buzzer feedback failing: answered 6d00" in health.detail
        assert caplog.text.count("reader.feedback_failed reader=pcsc-refuse") == 1
        # Reads go on as before; a reader that plays the next signal is ok again.
        accepting = VirtualCard(UID, port=pcscd.port)
        try:
            assert isinstance(await _tap(accepting, got), CardRead)
            driver.signal_outcome("tap_again")
            await wait_until(lambda: reader_feedback("pcsc-refuse", "ok") == played + 1)
        finally:
            _take_away(accepting)
        assert accepting.apdus == [GET_UID, TAP_AGAIN_APDU]
        assert reader.health().status == "ok"
        assert "reader.feedback_recovered reader=pcsc-refuse" in caplog.text


async def test_repeated_error_answers_make_the_reader_degraded_and_it_recovers(pcscd):
    reader = _reader("pcsc-degr", degraded_after=2, degraded_window_s=2.0)
    async with running(reader) as got:
        await wait_until(lambda: reader.health().status == "ok")
        for _ in range(2):
            bad = VirtualCard(UID, uid_status=b"\x6a\x81", port=pcscd.port)
            try:
                result = await _tap(bad, got)
            finally:
                _take_away(bad)
            assert isinstance(result, ReadFailure)
            assert result.reason == "bad_status"
        health = reader.health()
        assert health.status == "degraded"
        assert "bad_status x2" in health.detail
        # No new faults: they age out of the 2 s window and the reader is ok again.
        await wait_until(lambda: reader.health().status == "ok", within=5)
        good = VirtualCard(UID, port=pcscd.port)
        try:
            assert isinstance(await _tap(good, got), CardRead)
        finally:
            _take_away(good)
        assert reader.health().status == "ok"


async def test_a_signal_after_the_card_left_is_tried_as_an_escape_and_is_no_fault(pcscd, card):
    # vpcd takes no escape (IFDHControl is not supported): like libccid without escapes on.
    reader = _reader("pcsc-gone", led_buzzer={"mode": "on"})
    driver = _driver(reader)
    gone = reader_feedback("pcsc-gone", "card_gone")
    async with running(reader) as got:
        await wait_until(lambda: reader.health().status == "ok")
        assert isinstance(await _tap(card, got), CardRead)
        _take_away(card)
        driver.signal_outcome("reception")
        await wait_until(lambda: reader_feedback("pcsc-gone", "card_gone") == gone + 1)
        assert reader.health().status == "ok"
    assert card.apdus == [GET_UID]
