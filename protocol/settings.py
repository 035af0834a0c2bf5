"""Config sections shared by several daemons (MQTT link, local HTTP, logging)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from protocol.base import Model
from protocol.config import read_secret_file


class MqttSettings(Model):
    """How a daemon reaches the MQTT broker."""

    host: str = Field(default="127.0.0.1", description="Broker host name or address.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port (8883 for TLS).")
    username: str | None = Field(default=None, description="MQTT user name (per station).")
    password: SecretStr | None = Field(default=None, description="MQTT password.")
    password_file: Path | None = Field(
        default=None,
        description="File holding the password (mode 0600); used when password is unset.",
    )
    client_id: str | None = Field(
        default=None, description="Client id; derived from the role when unset."
    )
    keepalive_s: int = Field(default=15, ge=5, le=3600, description="MQTT keepalive, seconds.")
    session_expiry_s: int = Field(
        default=7 * 24 * 3600, ge=0, description="How long the broker keeps our session offline."
    )
    topic_root: str = Field(default="nfch", description="First topic level (nfch/v1/...).")
    tls_ca_file: Path | None = Field(default=None, description="CA certificate; enables TLS.")
    tls_cert_file: Path | None = Field(default=None, description="Client certificate (mTLS).")
    tls_key_file: Path | None = Field(default=None, description="Client private key (mTLS).")
    reconnect_min_s: float = Field(default=0.5, gt=0, description="First reconnect delay.")
    reconnect_max_s: float = Field(default=30.0, gt=0, description="Longest reconnect delay.")

    def resolved_password(self) -> str | None:
        """The password from `password` or `password_file` (ConfigError when that file is
        missing, unreadable or open to other users)."""
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_file is not None:
            return read_secret_file(self.password_file, "mqtt.password_file")
        return None


class HttpSettings(Model):
    """A local HTTP listener (health, metrics, API)."""

    host: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: int = Field(default=0, ge=0, le=65535, description="Port; 0 picks a free one.")


class LogSettings(Model):
    """Logging."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Lowest level written."
    )
    format: Literal["text", "json"] = Field(
        default="text", description="key=value text or JSON lines."
    )
