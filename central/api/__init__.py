"""The HTTP API (aiohttp) under /api/v1, its OpenAPI document and the WebSocket feed."""
