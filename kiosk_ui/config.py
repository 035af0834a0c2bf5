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
        default="en", description="Second language shown beside Korean."
    )
    muted: bool = Field(default=False, description="No chime or speech on calls.")
    cache_dir: Path = Field(default=Path("kiosk-cache"), description="Last snapshot seen.")
    mqtt: MqttSettings = Field(default_factory=MqttSettings, description="Broker link.")
    http: HttpSettings = Field(default_factory=HttpSettings, description="Health and metrics.")
    log: LogSettings = Field(default_factory=LogSettings, description="Logging.")
