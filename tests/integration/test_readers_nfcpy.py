"""The nfcpy driver against emulated cards over nfcpy's real `udp` device (no mocks)."""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from typing import Any, ClassVar

import nfc
import pytest

from edge.readers import CardRead, NfcpyReaderConfig, ReadFailure, make_reader
from edge.readers.nfcpy_driver import NfcpyReader
from tests.support.nfc_emulator import FelicaEmulator, Type2Emulator
from tests.support.ports import free_port
from tests.support.readers import reader_errors, running, wait_until

pytestmark = pytest.mark.integration

IDM = bytes.fromhex("012E4CD8A1B2C3D4")
NTAG_UID = bytes.fromhex("04A1B2C3D4E5F6")


def _config(port: int, targets: list[str], **kw: object) -> NfcpyReaderConfig:
    return NfcpyReaderConfig.model_validate(
        {"type": "nfcpy", "device": f"udp:127.0.0.1:{port}", "targets": targets, **kw}
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


async def test_type2_card_with_a_seven_byte_uid_is_read_and_never_logged(caplog):
    caplog.set_level(logging.DEBUG)
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
    assert caplog.records  # the driver did log (health), just never the UID
    assert "04a1b2c3d4e5f6" not in caplog.text.lower()


async def test_card_pulled_away_mid_read_gives_a_failure_and_no_read():
    port = free_port()
    card = Type2Emulator(port, NTAG_UID, vanish_after_select=True)
    card.start()
    card.place()
    name = f"nfc-pulled-{port}"
    before = reader_errors(name, "card_removed")
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
    assert reader_errors(name, "card_removed") == before + 1


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


class FlakyFrontend(nfc.ContactlessFrontend):
    """The real udp frontend, except that the first `fail_opens` opens find no device.

    Only the opening is staged; once open, everything is nfcpy's real udp device. The test
    "unplugs" it by closing its socket under it, so the next I/O fails inside nfcpy as a
    vanished USB device's would.
    """

    fail_opens = 0
    opened: ClassVar[list[Any]] = []

    def __init__(self, path: str) -> None:
        if FlakyFrontend.fail_opens > 0:
            FlakyFrontend.fail_opens -= 1
            raise OSError(errno.ENODEV, "No such device")
        super().__init__(path)
        FlakyFrontend.opened.append(self)


async def test_device_missing_then_lost_mid_poll_is_reopened_with_backoff(monkeypatch):
    monkeypatch.setattr(nfc, "ContactlessFrontend", FlakyFrontend)
    monkeypatch.setattr(FlakyFrontend, "fail_opens", 2)
    monkeypatch.setattr(FlakyFrontend, "opened", [])
    port = free_port()
    card = FelicaEmulator(port, IDM)
    card.start()
    name = f"nfc-flaky-{port}"
    reader = make_reader(_config(port, ["212F"], name=name, debounce_s=0, reconnect_max_s=0.5))
    seen: list[tuple[str, str]] = []

    def now(status: str) -> bool:
        health = reader.health()
        if not seen or seen[-1] != (health.status, health.detail):
            seen.append((health.status, health.detail))
        return health.status == status

    try:
        async with running(reader) as got:
            await wait_until(lambda: now("ok"))
            assert FlakyFrontend.fail_opens == 0  # it went through both failed opens
            first_ok = len(seen) - 1
            FlakyFrontend.opened[0].device.socket.close()  # unplugged
            await wait_until(lambda: now("ok") and len(FlakyFrontend.opened) == 2)
            card.place()
            result = await got.next()
    finally:
        card.close()
    assert isinstance(result, CardRead)
    assert any(st == "disconnected" and "No such device" in d for st, d in seen[:first_ok])
    assert any(st in ("disconnected", "error") for st, _ in seen[first_ok:]), seen
    assert reader_errors(name, "disconnected") + reader_errors(name, "error") == 1
