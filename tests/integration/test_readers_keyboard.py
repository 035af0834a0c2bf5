"""The keyboard-wedge driver against a real virtual input device (evdev UInput).

Needs /dev/uinput (the `uinput` kernel module) and permission to use it; without it these tests
skip, and the decoding is still covered by tests/unit/test_readers_keyboard.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from edge.readers import CardRead, KeyboardReaderConfig, ReadFailure, make_reader
from edge.readers.keyboard_decode import CHAR_KEYS, KEY_CHARS, KEY_ENTER
from tests.support.readers import running, wait_until

pytestmark = pytest.mark.integration

UINPUT_PROBLEM = (
    None
    if os.path.exists("/dev/uinput") and os.access("/dev/uinput", os.W_OK)
    else "/dev/uinput is not available here (no uinput kernel module in this container), "
    "so no virtual keyboard can be made; key decoding is unit-tested instead"
)
CODE_OF = CHAR_KEYS


@pytest.fixture
def wedge() -> Iterator[object]:
    if UINPUT_PROBLEM:
        pytest.skip(UINPUT_PROBLEM)
    from evdev import UInput, ecodes

    device = UInput({ecodes.EV_KEY: [*KEY_CHARS, KEY_ENTER, ecodes.KEY_Z]}, name="nfch-test-wedge")
    try:
        yield device
    finally:
        device.close()


def type_text(device, text: str) -> None:
    from evdev import ecodes

    for code in [*(CODE_OF.get(c, ecodes.KEY_Z) for c in text), KEY_ENTER]:
        device.write(ecodes.EV_KEY, code, 1)
        device.write(ecodes.EV_KEY, code, 0)
        device.syn()


async def test_uid_typed_by_a_virtual_keyboard_is_read_and_garbage_fails(wedge):
    config = KeyboardReaderConfig(
        type="keyboard", device="nfch-test-wedge", uid_format="decimal", byte_order="reversed"
    )
    reader = make_reader(config)
    async with running(reader) as got:
        await wait_until(lambda: reader.health().status == "ok")
        type_text(wedge, "3283263748")
        first = await got.next()
        type_text(wedge, "12Z4")
        second = await got.next()
    assert isinstance(first, CardRead)
    assert (first.uid, first.technology) == ("04A1B2C3", "keyboard")
    assert isinstance(second, ReadFailure)
    assert second.reason == "bad_uid"


async def test_missing_device_is_disconnected():
    reader = make_reader(KeyboardReaderConfig(type="keyboard", device="/dev/input/nfch-none"))
    async with running(reader):
        await wait_until(
            lambda: (
                reader.health().status == "disconnected" and "nfch-none" in reader.health().detail
            )
        )
