"""Station daemon: card readers, local decisions, the SQLite outbox and MQTT sync."""
