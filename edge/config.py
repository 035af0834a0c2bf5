"""Station daemon config (`nfc-hospital edge --config station.toml`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from edge.readers.config import ReaderConfig, SimulatedReaderConfig
from protocol.base import ID_PATTERN, Model
from protocol.messages import MAX_BATCH_EVENTS
from protocol.settings import HttpSettings, LogSettings, MqttSettings

ENV_PREFIX = "NFCH_EDGE"


def _default_readers() -> list[ReaderConfig]:
    # A station with no hardware configured still takes `nfc-hospital edge tap UID`.
    return [SimulatedReaderConfig(type="simulated")]


class SyncSettings(Model):
    """How the outbox is sent to central and how long the station waits for answers."""

    batch_size: int = Field(
        default=MAX_BATCH_EVENTS,
        ge=1,
        le=MAX_BATCH_EVENTS,
        description="Most events in one EventBatch.",
    )
    inflight_batches: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Batches sent but not yet acknowledged by central before the sender waits.",
    )
    resend_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="Resend every unacknowledged event when central has not acked for this long.",
    )
    status_interval_s: float = Field(
        default=30.0, gt=0, le=3600, description="How often the retained status is refreshed."
    )
    offline_after_s: float = Field(
        default=20.0,
        gt=0,
        le=3600,
        description="The station shows itself offline when the broker is unreachable, or when "
        "an event has waited this long for central's ack.",
    )
    acked_retention_s: float = Field(
        default=7 * 24 * 3600.0,
        ge=0,
        description="Acknowledged outbox rows older than this are deleted at start-up.",
    )


class EdgeConfig(Model):
    """Everything `nfc-hospital edge` reads."""

    station_id: str = Field(
        default="station-01", pattern=ID_PATTERN, description="This station's id."
    )
    location_node: str | None = Field(
        default=None, pattern=ID_PATTERN, description="Map node where the station stands."
    )
    data_dir: Path = Field(default=Path("station-data"), description="SQLite outbox and cache.")
    site_key_file: Path = Field(
        default=Path("site.key"),
        description="Site key for card hashes: the file's bytes, surrounding whitespace removed "
        "(at least 16 bytes).",
    )
    mqtt: MqttSettings = Field(default_factory=MqttSettings, description="Broker link.")
    http: HttpSettings = Field(
        default_factory=lambda: HttpSettings(port=8081), description="Health, metrics, taps."
    )
    log: LogSettings = Field(default_factory=LogSettings, description="Logging.")
    readers: list[ReaderConfig] = Field(
        default_factory=_default_readers,
        max_length=16,
        description="Card readers ([[readers]] tables, each with a `type`).",
    )
    screen_idle_s: float = Field(
        default=8.0,
        gt=0,
        le=600,
        description="Seconds a tap's screen stays before the station screen goes back to idle.",
    )
    sync: SyncSettings = Field(default_factory=SyncSettings, description="Outbox sending.")
    watchdog: bool = Field(
        default=True,
        description="Ping systemd's watchdog (sd_notify WATCHDOG=1) when NOTIFY_SOCKET and "
        "WATCHDOG_USEC are set by systemd.",
    )
