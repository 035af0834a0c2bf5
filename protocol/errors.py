"""Errors raised by the protocol layer. Each says what was wrong and where."""

from __future__ import annotations


class ProtocolError(Exception):
    """Base class for every error raised by `protocol`."""


class DecodeError(ProtocolError):
    """A payload could not be decoded into a message.

    `reason` is a short machine-readable code (used as the MQTT reject reason and the metrics
    label); `where` is the field path (`events.3.card_hash`) or `$` for the whole payload.
    """

    def __init__(self, reason: str, where: str, detail: str) -> None:
        self.reason = reason
        self.where = where
        self.detail = detail
        super().__init__(f"{reason} at {where}: {detail}")


class TopicError(ProtocolError):
    """A topic string is not one of the `nfch/v1/...` topics."""


class ConfigError(ProtocolError):
    """A config file or environment override is invalid; names the file and key path."""


class ClockSkewError(ProtocolError):
    """A remote hybrid-logical-clock timestamp is further ahead than the allowed drift."""
