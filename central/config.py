"""Central server config (`nfc-hospital central --config central.toml`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from protocol.base import Model
from protocol.settings import HttpSettings, LogSettings, MqttSettings

ENV_PREFIX = "NFCH_CENTRAL"


class DatabaseSettings(Model):
    """Where central keeps its state."""

    url: str = Field(
        default="sqlite:///nfc-hospital.db",
        description="SQLAlchemy URL: sqlite:///PATH (default) or postgresql+psycopg://...",
    )


class SiteSettings(Model):
    """The hospital."""

    name_ko: str = Field(default="한빛병원", description="Hospital name in Korean.")
    name_en: str = Field(default="Hanbit Hospital", description="Hospital name in English.")
    timezone: str = Field(default="Asia/Seoul", description="IANA time zone of the service day.")
    day_starts_at: str = Field(
        default="04:00", pattern=r"^\d{2}:\d{2}$", description="Local time the service day turns."
    )
    site_key_file: Path = Field(
        default=Path("site.key"), description="Secret key for card hashes (created when missing)."
    )


class CentralConfig(Model):
    """Everything `nfc-hospital central` reads."""

    http: HttpSettings = Field(
        default_factory=lambda: HttpSettings(port=8080), description="HTTP API and pages."
    )
    database: DatabaseSettings = Field(default_factory=DatabaseSettings, description="Storage.")
    mqtt: MqttSettings = Field(default_factory=MqttSettings, description="Broker link.")
    site: SiteSettings = Field(default_factory=SiteSettings, description="The hospital.")
    log: LogSettings = Field(default_factory=LogSettings, description="Logging.")
