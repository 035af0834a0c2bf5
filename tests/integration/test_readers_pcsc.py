"""The PC/SC driver through a real pcscd with vsmartcard's vpcd and a virtual card (no mocks)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import pytest

from edge.readers import CardRead, PcscReaderConfig, ReadFailure, make_reader
from tests.support.pcsc import VPCD_READER, Pcscd, pcsc_problem, wait_for_card
from tests.support.readers import reader_errors, running, wait_until
from tests.support.vpcd_card import VirtualCard

pytestmark = pytest.mark.integration

UID = bytes.fromhex("04A1B2C3D4E5F6")


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
    c = VirtualCard(UID)
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
    card = VirtualCard(UID, uid_status=b"\x6a\x81")
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
    card = VirtualCard(UID, vanish_on_get_uid=True)
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
