"""The MQTT bridge: station batches to the engine, acks and retained state back to the broker."""

from central.bridge.bridge import Bridge
from central.bridge.fleet import Fleet, FleetEntry
from central.bridge.publisher import ChangePublisher, SnapshotCache

__all__ = ["Bridge", "ChangePublisher", "Fleet", "FleetEntry", "SnapshotCache"]
