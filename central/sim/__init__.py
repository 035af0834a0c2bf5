"""Hospital-day simulator."""
