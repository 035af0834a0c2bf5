"""The nfcpy driver against emulated cards over nfcpy's real `udp` device (no mocks)."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import REGISTRY

from edge.readers import CardRead, NfcpyReaderConfig, ReadFailure, make_reader
from edge.readers.nfcpy_driver import NfcpyReader
from tests.support.nfc_emulator import FelicaEmulator, Type2Emulator
from tests.support.ports import free_port
from tests.support.readers import running, wait_until

pytestmark = pytest.mark.integration

IDM = bytes.fromhex("012E4CD8A1B2C3D4")
NTAG_UID = bytes.fromhex("04A1B2C3D4E5F6")


def _config(port: int, targets: list[str], **kw: object) -> NfcpyReaderConfig:
    return NfcpyReaderConfig.model_validate(
        {"type": "nfcpy", "device": f"udp:127.0.0.1:{port}", "targets": targets, **kw}
    )


def _errors(reader: str, reason: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "nfch_edge_reader_errors_total", {"reader": reader, "reason": reason}
        )
        or 0.0
    )


async def test_felica_card_is_read_once_while_it_stays_and_again_after_it_returns():
    port = free_port()
    card = FelicaEmulator(port, IDM)
    card.start()
    reader = make_reader(_config(port, ["212F"], debounce_s=0))
    try:
        async with running(reader) as got:
            await wait_until(lambda: reader.health().status == "ok")
            card.place()
            first = await got.next()
            assert isinstance(first, CardRead)
            assert (first.uid, first.technology, first.reader) == (
                IDM.hex().upper(),
                "felica",
                "nfcpy",
            )
            # Left on the reader: nfcpy holds the tag, no second read.
            with pytest.raises(TimeoutError):
                await got.next(within=1.5)
            card.remove()
            await asyncio.sleep(0.3)  # let the reader see the card leave
            card.place()
            second = await got.next()
            assert isinstance(second, CardRead)
            assert second.uid == first.uid
            assert second.read_at_monotonic > first.read_at_monotonic
    finally:
        card.close()
    assert reader.health().status == "disconnected"  # stopped


async def test_type2_card_with_a_seven_byte_uid_is_read():
    port = free_port()
    card = Type2Emulator(port, NTAG_UID)
    card.start()
    card.place()
    reader = make_reader(_config(port, ["106A"]))
    try:
        async with running(reader) as got:
            result = await got.next()
    finally:
        card.close()
    assert isinstance(result, CardRead)
    assert (result.uid, result.technology) == ("04A1B2C3D4E5F6", "iso14443a")


async def test_card_pulled_away_mid_read_gives_a_failure_and_no_read():
    port = free_port()
    card = Type2Emulator(port, NTAG_UID, vanish_after_select=True)
    card.start()
    card.place()
    name = f"nfc-pulled-{port}"
    before = _errors(name, "card_removed")
    reader = make_reader(_config(port, ["106A"], name=name))
    try:
        async with running(reader) as got:
            result = await got.next()
            # Nothing else follows: the card is gone.
            with pytest.raises(TimeoutError):
                await got.next(within=1.0)
    finally:
        card.close()
    assert card.selections == 1
    assert isinstance(result, ReadFailure)
    assert result.reason == "card_removed"
    assert not any(isinstance(r, CardRead) for r in got.seen)
    assert _errors(name, "card_removed") == before + 1


async def test_two_technologies_polled_in_turn_find_the_felica_card():
    port = free_port()
    card = FelicaEmulator(port, IDM)
    card.start()
    card.place()
    reader = make_reader(_config(port, ["106A", "212F"]))
    try:
        async with running(reader) as got:
            result = await got.next(within=15)
    finally:
        card.close()
    assert isinstance(result, CardRead)
    assert result.technology == "felica"


async def test_missing_device_is_reported_disconnected_and_cancel_is_prompt():
    reader = NfcpyReader(NfcpyReaderConfig(type="nfcpy", device="usb:ffff:fffe"))
    async with running(reader):
        await wait_until(
            lambda: reader.health().status == "disconnected" and "usb" in reader.health().detail
        )
        started = time.monotonic()
    assert time.monotonic() - started < 3.0
