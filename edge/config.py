"""Station daemon config (`nfc-hospital edge --config station.toml`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from protocol.base import ID_PATTERN, Model
from protocol.settings import HttpSettings, LogSettings, MqttSettings

ENV_PREFIX = "NFCH_EDGE"


class EdgeConfig(Model):
    """Everything `nfc-hospital edge` reads."""

    station_id: str = Field(
        default="station-01", pattern=ID_PATTERN, description="This station's id."
    )
    location_node: str | None = Field(
        default=None, pattern=ID_PATTERN, description="Map node where the station stands."
    )
    data_dir: Path = Field(default=Path("station-data"), description="SQLite outbox and cache.")
    site_key_file: Path = Field(default=Path("site.key"), description="Site key for card hashes.")
    mqtt: MqttSettings = Field(default_factory=MqttSettings, description="Broker link.")
    http: HttpSettings = Field(
        default_factory=lambda: HttpSettings(port=8081), description="Health, metrics, taps."
    )
    log: LogSettings = Field(default_factory=LogSettings, description="Logging.")
