"""The self-test's test tap on a real nfcpy frontend (nfcpy's udp device with an emulated
FeliCa card): the card is read, and only a prefix of its keyed hash is shown."""

from __future__ import annotations

import pytest

from protocol.ids import card_hash
from provisioning.selftest import check_readers
from tests.support.nfc_emulator import FelicaEmulator
from tests.support.ports import free_port

pytestmark = pytest.mark.integration

IDM = bytes.fromhex("012E4CD8A1B2C3D4")
KEY = b"0123456789abcdef0123456789abcdef"


def test_test_tap_reads_the_card_and_shows_no_uid(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    card = FelicaEmulator(port, IDM)
    card.start()
    card.place()
    try:
        check = check_readers(f"udp:127.0.0.1:{port}", tap=True, tap_timeout_s=15, site_key=KEY)
    finally:
        card.close()
    assert check.ok, check.detail
    assert f"card read (hash {card_hash(KEY, IDM.hex())[:12]}...)" in check.detail
    shown = check.detail + capsys.readouterr().out
    assert "Tap a card on nfcpy" in shown
    assert IDM.hex() not in shown.lower()


def test_no_card_within_the_time_is_a_plain_failure() -> None:
    port = free_port()
    card = FelicaEmulator(port, IDM)
    card.start()  # a frontend answers, but no card is ever placed
    try:
        check = check_readers(f"udp:127.0.0.1:{port}", tap=True, tap_timeout_s=1.5, site_key=KEY)
    finally:
        card.close()
    assert not check.ok
    assert "no card was tapped in time" in check.detail
    assert "hold the card flat" in check.todo
