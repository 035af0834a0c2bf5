"""Central's Prometheus metrics (served at `/metrics`).

Module-level collectors in the default registry: one process runs one central, and tests that
start several read differences, never absolute values.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

BATCHES = Counter(
    "nfch_central_batches_total",
    "Station event batches handled by the bridge, by outcome (applied, deferred, failed).",
    ["outcome"],
)
EVENTS = Counter(
    "nfch_central_events_total",
    "Station events settled by the bridge, by outcome (applied, duplicate, rejected).",
    ["outcome"],
)
REJECTS = Counter(
    "nfch_central_event_rejects_total",
    "Station events the engine refused, by reason.",
    ["reason"],
)
DEAD_LETTERS = Counter(
    "nfch_central_dead_letters_total",
    "MQTT payloads the bridge could not use, by topic leaf and reason.",
    ["leaf", "reason"],
)
BAD_INPUT = Counter(
    "nfch_central_bad_input_total",
    "Refused input from outside (HTTP bodies and queries, WebSocket messages), by source/reason.",
    ["source", "reason"],
)
BATCH_SECONDS = Histogram(
    "nfch_central_batch_apply_seconds",
    "Time to apply one station batch (one database transaction).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
PUBLISHED = Counter(
    "nfch_central_mqtt_published_total",
    "Messages central published, by kind (ack, snapshot, call, lease, directory).",
    ["kind"],
)
PUBLISH_FAILED = Counter(
    "nfch_central_mqtt_publish_failed_total",
    "Publishes that failed (link down or no PUBACK), by kind; retained state is republished "
    "on reconnect.",
    ["kind"],
)
HTTP_REQUESTS = Counter(
    "nfch_central_http_requests_total",
    "HTTP API requests, by route name and status.",
    ["route", "status"],
)
HTTP_ERRORS = Counter(
    "nfch_central_http_errors_total",
    "HTTP API error answers, by reason.",
    ["reason"],
)
WS_CLIENTS = Gauge("nfch_central_ws_clients", "Open WebSocket connections.")
WS_SENT = Counter("nfch_central_ws_messages_total", "WebSocket messages sent, by type.", ["type"])
STATIONS_ONLINE = Gauge("nfch_central_stations_online", "Stations whose last status said online.")
ASSISTANT_READY = Gauge(
    "nfch_central_assistant_ready",
    "1 once the help assistant's Korean analyser and FAQ index are loaded (the start-up "
    "warm-up, seconds of CPU, is over).",
)
BATCH_WAIT_SECONDS = Histogram(
    "nfch_central_batch_wait_seconds",
    "Time a station batch waited, from its arrival to the start of its transaction.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
SNAPSHOT_DELAY_SECONDS = Histogram(
    "nfch_central_snapshot_delay_seconds",
    "Time from a committed change of a room to its new snapshot handed to MQTT and the "
    "WebSocket hub (how far behind the boards are).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
SNAPSHOT_SECONDS = Histogram(
    "nfch_central_snapshot_build_seconds",
    "Time to read the changed rooms' snapshots for one publish round.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
DIRECTORY_SECONDS = Histogram(
    "nfch_central_directory_build_seconds",
    "Time to build and encode a directory document, by kind.",
    ["kind"],
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
