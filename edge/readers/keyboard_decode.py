"""Turning what a keyboard-wedge reader types into a UID: pure functions, no evdev needed.

Cheap USB readers act as a keyboard and type the card UID followed by Enter, as hex digits or
as a decimal number, often with the bytes in reverse order. Key codes here are Linux input
codes (the same numbers evdev's `ecodes` uses), so this module runs and is tested anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from protocol.ids import normalize_uid

# Linux input key codes (linux/input-event-codes.h), as evdev.ecodes names them.
KEY_ENTER = 28
KEY_KPENTER = 96
_DIGIT_KEYS = {11: "0", 2: "1", 3: "2", 4: "3", 5: "4", 6: "5", 7: "6", 8: "7", 9: "8", 10: "9"}
_KEYPAD_KEYS = {
    82: "0",
    79: "1",
    80: "2",
    81: "3",
    75: "4",
    76: "5",
    77: "6",
    71: "7",
    72: "8",
    73: "9",
}
_HEX_LETTER_KEYS = {30: "A", 48: "B", 46: "C", 32: "D", 18: "E", 33: "F"}
# Shift and friends come with upper-case hex letters; they carry no character themselves.
_MODIFIER_KEYS = {42, 54, 29, 97, 56, 100, 58}
KEY_CHARS = {**_DIGIT_KEYS, **_KEYPAD_KEYS, **_HEX_LETTER_KEYS}
# The main-row key for each character (what a reader's firmware types; tests type with it).
CHAR_KEYS = {char: code for code, char in {**_DIGIT_KEYS, **_HEX_LETTER_KEYS}.items()}

# A reader types a whole UID in a few tens of milliseconds; a longer pause means a person or
# another device typed on it, and what came before is dropped.
MAX_KEY_GAP_S = 0.5
MAX_TYPED = 64


@dataclass(frozen=True, slots=True)
class Typed:
    """One line the reader typed (up to Enter), and whether a non-UID key was in it."""

    text: str
    garbage: bool


class KeyAssembler:
    """Collects key-down codes into lines, ended by Enter."""

    def __init__(self, max_gap_s: float = MAX_KEY_GAP_S) -> None:
        self.max_gap_s = max_gap_s
        self._chars: list[str] = []
        self._garbage = False
        self._last_at: float | None = None

    def key_down(self, code: int, at: float) -> Typed | None:
        """Feed one key press at monotonic time `at`; returns the line when Enter ends it."""
        if self._last_at is not None and at - self._last_at > self.max_gap_s:
            self._reset()
        self._last_at = at
        if code in (KEY_ENTER, KEY_KPENTER):
            line = Typed("".join(self._chars), self._garbage)
            self._reset()
            return line if line.text or line.garbage else None
        if code in _MODIFIER_KEYS:
            return None
        char = KEY_CHARS.get(code)
        if char is None or len(self._chars) >= MAX_TYPED:
            self._garbage = True
        else:
            self._chars.append(char)
        return None

    def _reset(self) -> None:
        self._chars.clear()
        self._garbage = False
        self._last_at = None


def typed_to_uid(
    typed: str,
    uid_format: Literal["hex", "decimal"],
    byte_order: Literal["normal", "reversed"],
    uid_bytes: int | None = None,
) -> str:
    """The normalized UID a reader meant by `typed`; ValueError (never naming it) if garbage."""
    if uid_format == "hex":
        if len(typed) % 2 or not all(c in "0123456789ABCDEFabcdef" for c in typed):
            raise ValueError(f"{len(typed)} typed characters are not hex of whole bytes")
        raw = bytes.fromhex(typed)
    else:
        if not typed.isdigit() or not typed.isascii():
            raise ValueError(f"{len(typed)} typed characters are not a decimal number")
        number = int(typed)
        length = uid_bytes or next((n for n in (4, 7, 10) if number < 256**n), 0)
        if not length or number >= 256**length:
            raise ValueError(f"a {len(typed)}-digit number does not fit a card UID")
        raw = number.to_bytes(length, "big")
    if byte_order == "reversed":
        raw = raw[::-1]
    try:
        return normalize_uid(raw.hex())
    except ValueError:
        raise ValueError(f"a UID of {len(raw)} bytes; expected 4 to 20") from None
