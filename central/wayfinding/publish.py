"""The retained directory documents central publishes so stations and kiosks guide offline."""

from __future__ import annotations

import logging
from datetime import datetime

from central.wayfinding.routing import build_graphs, routes_from
from protocol.hospital_map import HospitalMap, Route
from protocol.messages import DirectoryMap, DirectoryRoutes

log = logging.getLogger(__name__)


def station_nodes(m: HospitalMap) -> list[str]:
    """Node ids of the check-in stations on the map."""
    return [n.node_id for n in m.nodes if n.kind == "station"]


def room_door_nodes(m: HospitalMap) -> list[str]:
    """Node ids of the doors of queue rooms (nodes with a room_id)."""
    return [n.node_id for n in m.nodes if n.room_id is not None]


def build_directory_documents(
    m: HospitalMap, version: int, map_version: int, now: datetime | None = None
) -> tuple[DirectoryMap, DirectoryRoutes]:
    """The map document (version `map_version`) and every station-to-room route (`version`).

    Call again whenever the map or a closure changes; closures whose `until` has passed at `now`
    are ignored. A pair with no open route is left out and logged: a station then shows
    `protocol.hospital_map.NO_ROUTE_TEXT` (or NO_STEP_FREE_ROUTE_TEXT) instead of directions.
    """
    graphs = build_graphs(m, now)
    rooms = room_door_nodes(m)
    routes: list[Route] = []
    for station in station_nodes(m):
        found, missing = routes_from(graphs, station, rooms)
        routes.extend(found)
        for target, step_free in missing:
            log.warning(
                "wayfinding.no_route from=%s to=%s step_free=%s closed=%d",
                station,
                target,
                step_free,
                len(graphs.closed),
            )
    log.info(
        "wayfinding.routes_built map_version=%d version=%d routes=%d closed=%d",
        map_version,
        version,
        len(routes),
        len(graphs.closed),
    )
    return (
        DirectoryMap(kind="map", version=map_version, map=m),
        DirectoryRoutes(kind="routes", version=version, map_version=map_version, routes=routes),
    )
