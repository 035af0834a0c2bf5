"""Keyboard-wedge decoding: key codes to lines, lines to UIDs (pure, no device needed)."""

from __future__ import annotations

import pytest

from edge.readers.keyboard_decode import (
    CHAR_KEYS,
    KEY_ENTER,
    KEY_KPENTER,
    KeyAssembler,
    Typed,
    typed_to_uid,
)

CODE_OF = CHAR_KEYS
KEY_LEFTSHIFT = 42
KEY_Z = 44


def type_line(assembler: KeyAssembler, text: str, start: float = 0.0, step: float = 0.005):
    t = start
    out = None
    for ch in text:
        if ch.isalpha():
            assert assembler.key_down(KEY_LEFTSHIFT, t) is None
        assert assembler.key_down(CODE_OF[ch], t) is None
        t += step
    out = assembler.key_down(KEY_ENTER, t)
    return out, t


def test_typed_hex_line_is_assembled_until_enter():
    a = KeyAssembler()
    line, _ = type_line(a, "04A1B2C3")
    assert line == Typed("04A1B2C3", garbage=False)


def test_keypad_digits_and_keypad_enter_work_too():
    a = KeyAssembler()
    for i, code in enumerate([82, 79, 80, 81]):  # KP0 KP1 KP2 KP3
        assert a.key_down(code, i * 0.01) is None
    assert a.key_down(KEY_KPENTER, 0.05) == Typed("0123", garbage=False)


def test_a_non_hex_key_marks_the_line_as_garbage():
    a = KeyAssembler()
    a.key_down(CODE_OF["0"], 0.0)
    a.key_down(KEY_Z, 0.01)
    a.key_down(CODE_OF["4"], 0.02)
    assert a.key_down(KEY_ENTER, 0.03) == Typed("04", garbage=True)


def test_a_long_pause_drops_what_came_before():
    a = KeyAssembler(max_gap_s=0.5)
    a.key_down(CODE_OF["9"], 0.0)
    a.key_down(KEY_Z, 0.01)
    line, _ = type_line(a, "04A1B2C3", start=2.0)
    assert line == Typed("04A1B2C3", garbage=False)


def test_a_bare_enter_is_no_line_and_lines_follow_each_other():
    a = KeyAssembler()
    assert a.key_down(KEY_ENTER, 0.0) is None
    first, t = type_line(a, "11223344", start=0.1)
    second, _ = type_line(a, "55667788", start=t + 0.01)
    assert (first.text, second.text) == ("11223344", "55667788")


@pytest.mark.parametrize(
    ("typed", "fmt", "order", "nbytes", "uid"),
    [
        ("04a1b2c3", "hex", "normal", None, "04A1B2C3"),
        ("04A1B2C3D4E5F6", "hex", "normal", None, "04A1B2C3D4E5F6"),
        ("C3B2A104", "hex", "reversed", None, "04A1B2C3"),
        # The common 10-digit "decimal" readers: 0x04A1B2C3 = 77705923, often byte-reversed.
        ("0077705923", "decimal", "normal", None, "04A1B2C3"),
        ("3283263748", "decimal", "reversed", None, "04A1B2C3"),
        ("0000000001", "decimal", "normal", None, "00000001"),
        ("1", "decimal", "normal", 7, "00000000000001"),
        # Too big for 4 bytes: the next plausible UID length (7 bytes).
        (str(0x04A1B2C3D4E5F6), "decimal", "normal", None, "04A1B2C3D4E5F6"),
    ],
)
def test_typed_text_becomes_the_uid(typed, fmt, order, nbytes, uid):
    assert typed_to_uid(typed, fmt, order, nbytes) == uid


@pytest.mark.parametrize(
    ("typed", "fmt", "nbytes"),
    [
        ("04A1B2", "hex", None),  # 3 bytes: too short for any card
        ("04A1B2C", "hex", None),  # half a byte
        ("04G1B2C3", "hex", None),
        ("", "hex", None),
        ("12AB", "decimal", None),
        ("4294967296", "decimal", 4),  # 2**32 does not fit 4 bytes
        ("9" * 40, "decimal", None),
    ],
)
def test_garbage_is_refused_without_echoing_it(typed, fmt, nbytes):
    with pytest.raises(ValueError, match=r"typed characters|does not fit|expected 4 to 20") as e:
        typed_to_uid(typed, fmt, "normal", nbytes)
    if typed:
        assert typed not in str(e.value)


class ScriptedDevice:
    """Stands in for an evdev device only where no /dev/uinput exists to make a real one."""

    def __init__(self, events) -> None:
        self.events = events

    async def async_read_loop(self):
        for event in self.events:
            yield event


async def test_driver_turns_key_events_into_reads_and_failures():
    from evdev import InputEvent, ecodes

    from edge.readers import CardRead, KeyboardReaderConfig, ReadFailure
    from edge.readers.keyboard_driver import KeyboardReader

    def keys(text: str):
        for ch in text:
            code = CODE_OF[ch]
            yield InputEvent(0, 0, ecodes.EV_KEY, code, 1)
            yield InputEvent(0, 0, ecodes.EV_KEY, code, 2)  # autorepeat: ignored
            yield InputEvent(0, 0, ecodes.EV_KEY, code, 0)
            yield InputEvent(0, 0, ecodes.EV_SYN, 0, 0)
        yield InputEvent(0, 0, ecodes.EV_KEY, KEY_ENTER, 1)

    reader = KeyboardReader(
        KeyboardReaderConfig(type="keyboard", device="x", uid_format="hex", byte_order="reversed")
    )
    got = []

    async def on_read(result) -> None:
        got.append(result)

    await reader._read(ScriptedDevice([*keys("C3B2A104"), *keys("123")]), on_read)
    assert isinstance(got[0], CardRead)
    assert (got[0].uid, got[0].technology) == ("04A1B2C3", "keyboard")
    assert isinstance(got[1], ReadFailure)
    assert got[1].reason == "bad_uid"
