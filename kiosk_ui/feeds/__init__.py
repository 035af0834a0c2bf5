"""Where the screens' data comes from: the MQTT link and the edge daemon's screen WebSocket."""
