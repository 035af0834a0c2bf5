"""LED and buzzer patterns of ACS readers (ACR122U and its kin) and the pseudo-APDU that plays one.

The ACR122U's firmware takes "Bi-Color LED and Buzzer Control" as a pseudo-APDU::

    FF 00 40 P2 04 T1 T2 REPS LINK

- P2, the LED state control byte: bit 0/1 final red/green state, bit 2/3 "update the final
  red/green state", bit 4/5 initial red/green state while blinking, bit 6/7 "blink red/green";
- T1, T2: the initial and the toggled blinking state's durations, in units of 100 ms;
- REPS: how many T1 + T2 cycles;
- LINK: the buzzer: 00 silent, 01 on during T1, 02 on during T2, 03 on during both.

The reader answers `90 LL` (LL: the LED state afterwards) once the pattern has played, so
sending one blocks for about REPS × (T1 + T2): the driver sends it from its own thread.

Here a pattern is written in the station config's words (colour, durations in ms, buzzer) and
`apdu()` turns it into the bytes. Pure code: the PC/SC driver does the sending.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from protocol.base import Model
from protocol.messages import ScreenKind

Outcome = Literal["ok", "tap_again", "reception"]
Colour = Literal["red", "green", "orange"]

# What the patient should do after each screen, as the reader's light and beep says it. A tap
# that was recorded and needs nothing at a desk is "ok" (the screen gives the details).
OUTCOME_OF: dict[ScreenKind, Outcome | None] = {
    "idle": None,
    "checked_in": "ok",
    "already_waiting": "ok",
    "called_now": "ok",
    "in_exam": "ok",
    "visit_finished": "ok",
    "no_ticket": "ok",
    "read_error": "tap_again",
    "unknown_card": "reception",
    "refused": "reception",
}

_LED_BITS: dict[str, tuple[bool, bool]] = {  # colour -> (red, green)
    "off": (False, False),
    "red": (True, False),
    "green": (False, True),
    "orange": (True, True),
}
_BUZZER: dict[str, int] = {"off": 0x00, "t1": 0x01, "t2": 0x02, "both": 0x03}


class LedBuzzerPattern(Model):
    """One light-and-beep pattern: `repeat` cycles of `on_ms` lit then `off_ms` dark."""

    colour: Colour = Field(description="LED colour while blinking: red, green or orange (both).")
    on_ms: int = Field(
        ge=100, le=25500, multiple_of=100, description="Lit part of a cycle (T1), 100 ms steps."
    )
    off_ms: int = Field(
        default=100,
        ge=0,
        le=25500,
        multiple_of=100,
        description="Dark part of a cycle (T2), 100 ms steps.",
    )
    repeat: int = Field(default=1, ge=1, le=255, description="How many cycles.")
    buzzer: Literal["off", "t1", "t2", "both"] = Field(
        default="t1",
        description="Buzzer: off, during the lit part (t1), the dark part (t2) or both.",
    )
    final: Literal["unchanged", "off", "red", "green", "orange"] = Field(
        default="unchanged",
        description="LED state left after the pattern ('unchanged' keeps the reader's own).",
    )

    def apdu(self) -> bytes:
        """The ACR122U pseudo-APDU that plays this pattern."""
        red, green = _LED_BITS[self.colour]
        p2 = (0x10 | 0x40 if red else 0) | (0x20 | 0x80 if green else 0)
        if self.final != "unchanged":
            final_red, final_green = _LED_BITS[self.final]
            p2 |= 0x04 | 0x08 | (0x01 if final_red else 0) | (0x02 if final_green else 0)
        return bytes(
            [
                0xFF,
                0x00,
                0x40,
                p2,
                0x04,
                self.on_ms // 100,
                self.off_ms // 100,
                self.repeat,
                _BUZZER[self.buzzer],
            ]
        )

    @property
    def duration_s(self) -> float:
        """How long the reader takes to play it."""
        return self.repeat * (self.on_ms + self.off_ms) / 1000


def _ok() -> LedBuzzerPattern:
    # One short green blink with one beep.
    return LedBuzzerPattern(colour="green", on_ms=100, off_ms=100, repeat=1)


def _tap_again() -> LedBuzzerPattern:
    # Two short red blinks, a beep with each.
    return LedBuzzerPattern(colour="red", on_ms=100, off_ms=100, repeat=2)


def _reception() -> LedBuzzerPattern:
    # One long red blink with a long beep: "not here, go to the desk".
    return LedBuzzerPattern(colour="red", on_ms=500, off_ms=100, repeat=1)


class LedBuzzerConfig(Model):
    """LED/buzzer feedback of a PC/SC reader that takes ACR122U pseudo-APDUs."""

    mode: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="'auto': only when the PC/SC reader's name contains ACR122; 'on': always "
        "(a reader or card that refuses it is counted and makes the reader 'degraded'); 'off'.",
    )
    ok: LedBuzzerPattern = Field(
        default_factory=_ok, description="After a recorded tap (checked in, already waiting ...)."
    )
    tap_again: LedBuzzerPattern = Field(
        default_factory=_tap_again, description="After a failed read: tap again."
    )
    reception: LedBuzzerPattern = Field(
        default_factory=_reception,
        description="Unknown card or a tap the station could not record: go to reception.",
    )

    def pattern(self, outcome: Outcome) -> LedBuzzerPattern:
        """The pattern configured for `outcome`."""
        if outcome == "ok":
            return self.ok
        if outcome == "tap_again":
            return self.tap_again
        return self.reception

    def enabled_for(self, reader_name: str) -> bool:
        """Whether feedback is sent to the PC/SC reader called `reader_name`."""
        if self.mode == "auto":
            return "ACR122" in reader_name.upper()
        return self.mode == "on"
