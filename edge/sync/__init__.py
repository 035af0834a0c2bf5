"""MQTT sync: send the outbox, settle it on central's acks, apply what central publishes."""

from edge.sync.link import Syncer, build_batch

__all__ = ["Syncer", "build_batch"]
