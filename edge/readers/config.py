"""Reader config models: one per driver, picked by its `type` (a `[[readers]]` table in TOML)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from edge.feedback.acr122 import LedBuzzerConfig
from protocol.base import ID_PATTERN, Model

NfcTarget = Literal["106A", "106B", "212F", "424F"]


def _default_targets() -> list[NfcTarget]:
    # 106B is left out on purpose: every technology that does not answer costs poll time.
    return ["106A", "212F"]


class _ReaderConfigBase(Model):
    debounce_s: float = Field(
        default=3.0,
        ge=0,
        le=60,
        description="A card left on the reader or tapped again within this many seconds is one "
        "tap; a different card passes at once.",
    )
    reconnect_max_s: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="Longest wait between attempts to reopen a lost reader (jittered "
        "exponential backoff from 0.5 s).",
    )
    degraded_after: int = Field(
        default=3,
        ge=1,
        le=100,
        description="A working reader with this many faults within degraded_window_s is "
        "reported 'degraded': failed reads it is to blame for (garbage UID, error status, "
        "reader error; not a card pulled away too soon) and losses of the reader.",
    )
    degraded_window_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How long a fault counts towards 'degraded'; the reader is 'ok' again once "
        "its faults are older than this.",
    )


class NfcpyReaderConfig(_ReaderConfigBase):
    """A reader driven by nfcpy: Sony RC-S380/RC-S300, ACR122U (USB), or nfcpy's udp device."""

    type: Literal["nfcpy"] = Field(description="Driver: nfcpy.")
    name: str = Field(
        default="nfcpy", pattern=ID_PATTERN, description="Reader name in status and metrics."
    )
    device: str = Field(
        default="usb",
        min_length=1,
        max_length=200,
        description="nfcpy device path: 'usb', 'usb:054c:06c1', 'usb:001:004', 'tty:USB0:pn532' "
        "or 'udp:127.0.0.1:PORT'.",
    )
    targets: list[NfcTarget] = Field(
        default_factory=_default_targets,
        min_length=1,
        description="Technologies to poll for (106A: ISO 14443 A / MIFARE / NTAG, 106B: "
        "ISO 14443 B, 212F/424F: FeliCa). Each one that does not answer costs poll time.",
    )
    poll_interval_s: float = Field(
        default=0.1, gt=0, le=5, description="Pause between polling rounds when no card is seen."
    )


class PcscReaderConfig(_ReaderConfigBase):
    """Any PC/SC reader through pcscd and pyscard (ACR122U, ACR1252, HID Omnikey, ...)."""

    type: Literal["pcsc"] = Field(description="Driver: pcsc.")
    name: str = Field(
        default="pcsc", pattern=ID_PATTERN, description="Reader name in status and metrics."
    )
    reader: str | int = Field(
        default=0,
        description="Which PC/SC reader: a substring of its name (e.g. 'ACR122') or its index "
        "in pcscd's list.",
    )
    poll_interval_s: float = Field(
        default=0.2, gt=0, le=5, description="How often to look for a card or for the reader."
    )
    led_buzzer: LedBuzzerConfig = Field(
        default_factory=LedBuzzerConfig,
        description="LED/buzzer feedback through ACR122U pseudo-APDUs ([readers.led_buzzer]).",
    )


class KeyboardReaderConfig(_ReaderConfigBase):
    """A cheap USB reader that types the UID as keystrokes followed by Enter (evdev)."""

    type: Literal["keyboard"] = Field(description="Driver: keyboard.")
    name: str = Field(
        default="keyboard", pattern=ID_PATTERN, description="Reader name in status and metrics."
    )
    device: str = Field(
        min_length=1,
        max_length=300,
        description="An evdev device path (/dev/input/event3, /dev/input/by-id/...) or a "
        "substring of the device's name.",
    )
    uid_format: Literal["hex", "decimal"] = Field(
        default="hex", description="How the reader types the UID: hex digits or a decimal number."
    )
    byte_order: Literal["normal", "reversed"] = Field(
        default="normal",
        description="'reversed' when the reader sends the UID bytes last-first (common with "
        "readers that type 10-digit decimals).",
    )
    uid_bytes: int | None = Field(
        default=None,
        ge=4,
        le=10,
        description="For decimal readers: the UID length in bytes (leading zero bytes are lost "
        "in a decimal number). Default: the smallest of 4, 7 or 10 bytes that fits.",
    )
    grab: bool = Field(
        default=True,
        description="Grab the device so its keystrokes do not also reach the console or kiosk.",
    )


class SimulatedReaderConfig(_ReaderConfigBase):
    """Taps injected by software (`nfc-hospital edge tap UID`, demos, black-box tests)."""

    type: Literal["simulated"] = Field(description="Driver: simulated.")
    name: str = Field(
        default="simulated", pattern=ID_PATTERN, description="Reader name in status and metrics."
    )


ReaderConfig = Annotated[
    NfcpyReaderConfig | PcscReaderConfig | KeyboardReaderConfig | SimulatedReaderConfig,
    Field(discriminator="type"),
]
