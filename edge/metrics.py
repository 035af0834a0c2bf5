"""Prometheus metrics of the station daemon (served at `/metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

TAP_LATENCY = Histogram(
    "nfch_edge_tap_latency_seconds",
    "From the reader handing over a UID to feedback issued (outbox write included).",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0),
)
TAPS = Counter("nfch_edge_taps_total", "Taps by the screen shown.", ["screen"])
REFUSED = Counter(
    "nfch_edge_taps_refused_total", "Taps refused because they could not be recorded.", ["reason"]
)
NOT_STORED = Counter(
    "nfch_edge_not_stored_total",
    "Messages from central (acks, documents, leases) not applied because they could not be "
    "written to the station database.",
    ["what", "reason"],
)
OUTBOX_DEPTH = Gauge("nfch_edge_outbox_depth", "Events not yet acknowledged by central.")
SYNC_LAG = Gauge(
    "nfch_edge_sync_lag_seconds", "Age of the oldest event not yet acknowledged (0 when none)."
)
EVENTS_SENT = Counter("nfch_edge_events_sent_total", "Events published (resends included).")
EVENTS_ACKED = Counter("nfch_edge_events_acked_total", "Events central acknowledged.")
EVENTS_REJECTED = Counter(
    "nfch_edge_events_rejected_total", "Events central refused (settled, not resent).", ["reason"]
)
BAD_MESSAGES = Counter(
    "nfch_edge_bad_messages_total",
    "MQTT messages or HTTP bodies that were refused, by source and reason.",
    ["source", "reason"],
)
STALE_DOCUMENTS = Counter(
    "nfch_edge_stale_documents_total",
    "Directory documents, leases or snapshots ignored because they were not newer.",
    ["kind"],
)
MQTT_CONNECTED = Gauge("nfch_edge_mqtt_connected", "1 while the broker link is up.")
READER_STATUS = Gauge(
    "nfch_edge_reader_status",
    "1 for each reader's current health (ok, degraded, disconnected, error), 0 for the others.",
    ["reader", "status"],
)
READER_STATES = ("ok", "degraded", "disconnected", "error")
