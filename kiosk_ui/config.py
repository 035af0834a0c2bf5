"""Kiosk config (`nfc-hospital kiosk --config kiosk.toml`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from protocol.base import ID_PATTERN, Model
from protocol.settings import HttpSettings, LogSettings, MqttSettings

ENV_PREFIX = "NFCH_KIOSK"


class KioskConfig(Model):
    """Everything `nfc-hospital kiosk` reads."""

    room_id: str | None = Field(default=None, pattern=ID_PATTERN, description="Room board mode.")
    station_id: str | None = Field(
        default=None, pattern=ID_PATTERN, description="Station screen mode: the station shown."
    )
    language: Literal["ko", "en", "zh", "ja"] = Field(
        default="en", description="Second language shown beside Korean (ko = Korean only)."
    )
    muted: bool = Field(default=False, description="No chime or speech on calls.")
    speech: Literal["auto", "qt", "espeak", "off"] = Field(
        default="auto",
        description="Spoken calls: Qt text-to-speech with a Korean voice, espeak-ng -v ko, "
        "or off; auto tries them in that order.",
    )
    chime_file: Path | None = Field(
        default=None,
        description="WAV file played on a call; unset = a two-tone chime generated at start.",
    )
    chime_volume: float = Field(default=0.8, ge=0, le=1, description="Chime volume, 0..1.")
    flash_s: float = Field(
        default=6.0, ge=0, le=60, description="How long a called number flashes, seconds."
    )
    offline_after_s: float = Field(
        default=90.0,
        gt=0,
        le=3600,
        description="Show the offline banner when no snapshot has arrived for this long.",
    )
    max_waiting_shown: int = Field(
        default=6, ge=5, le=8, description="How many waiting patients the room board lists."
    )
    edge_screen_url: str = Field(
        default="ws://127.0.0.1:8081/api/v1/screen",
        pattern=r"^wss?://",
        description="Station mode: the edge daemon's screen WebSocket.",
    )
    result_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="Station mode: go back to the idle screen if the daemon sends nothing "
        "for this long after a result (so no patient's number stays up).",
    )
    station_down_after_s: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="Station mode: show the 'station not ready' screen after the daemon's "
        "feed has been down this long.",
    )
    assistant_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="Station mode: central's base URL for the '도움말 / Help' button "
        "(e.g. http://central:8080); unset = no Help button.",
    )
    orientation: Literal["landscape", "portrait"] = Field(
        default="landscape", description="How the monitor is mounted."
    )
    fullscreen: bool = Field(default=True, description="Full screen, no window frame.")
    cache_dir: Path = Field(default=Path("kiosk-cache"), description="Last snapshot seen.")
    mqtt: MqttSettings = Field(default_factory=MqttSettings, description="Broker link.")
    http: HttpSettings = Field(default_factory=HttpSettings, description="Health and metrics.")
    log: LogSettings = Field(default_factory=LogSettings, description="Logging.")
