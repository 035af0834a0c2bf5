"""Wayfinding: load and check the hospital map, route over it, write directions, draw SVG.

Central computes every station-to-room route (shortest and step-free) whenever the map or a
closure changes and publishes them with the map, so stations and kiosks can guide offline.
"""

from central.wayfinding.errors import MapFileError, NoRouteError, WayfindingError
from central.wayfinding.loader import check_map_file, load_map, parse_map

__all__ = [
    "MapFileError",
    "NoRouteError",
    "WayfindingError",
    "check_map_file",
    "load_map",
    "parse_map",
]
