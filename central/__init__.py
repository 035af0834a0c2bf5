"""Central server: storage, the queue engine, the MQTT bridge, the HTTP API and web pages."""
