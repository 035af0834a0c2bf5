"""Route geometry for the station's floor map: which floors to draw, where, and the path.

Pure code over `HospitalMap` and `Route`; the widget only scales and paints what this returns.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from protocol.hospital_map import HospitalMap, Route


@dataclass(slots=True)
class FloorSketch:
    """One floor to draw: every corridor edge faintly, the route's part of the path boldly."""

    floor_id: str
    label: str
    width_m: float
    height_m: float
    edges: list[tuple[tuple[float, float], tuple[float, float]]] = field(default_factory=list)
    path: list[tuple[float, float]] = field(default_factory=list)
    start: tuple[float, float] | None = None
    end: tuple[float, float] | None = None
    transfers: list[tuple[float, float]] = field(default_factory=list)


def route_sketch(hmap: HospitalMap, route: Route) -> list[FloorSketch]:
    """The floors the route crosses, in walking order, each with its part of the path.

    Nodes of the route that the map does not know are skipped (an older map), and a route
    with no known node gives an empty list: the screen then shows the written steps only.
    """
    nodes = {n.node_id: n for n in hmap.nodes}
    floors = {f.floor_id: f for f in hmap.floors}
    order: list[str] = []
    sketches: dict[str, FloorSketch] = {}
    for node_id in route.nodes:
        node = nodes.get(node_id)
        if node is None or node.floor_id not in floors:
            continue
        if node.floor_id not in sketches:
            f = floors[node.floor_id]
            sketches[f.floor_id] = FloorSketch(f.floor_id, f.label, f.width_m, f.height_m)
            order.append(f.floor_id)
        sketch = sketches[node.floor_id]
        if sketch.path and order[-1] != node.floor_id:
            order.append(node.floor_id)
        sketch.path.append((node.x, node.y))
    known = [nodes[n] for n in route.nodes if n in nodes and nodes[n].floor_id in floors]
    if not known:
        return []
    first, last = known[0], known[-1]
    sketches[first.floor_id].start = (first.x, first.y)
    sketches[last.floor_id].end = (last.x, last.y)
    for a, b in itertools.pairwise(known):
        if a.floor_id != b.floor_id:
            sketches[a.floor_id].transfers.append((a.x, a.y))
            sketches[b.floor_id].transfers.append((b.x, b.y))
    for e in hmap.edges:
        ea, eb = nodes.get(e.a), nodes.get(e.b)
        if ea is None or eb is None or ea.floor_id != eb.floor_id or ea.floor_id not in sketches:
            continue
        sketches[ea.floor_id].edges.append(((ea.x, ea.y), (eb.x, eb.y)))
    seen: list[str] = []
    for floor_id in order:
        if floor_id not in seen:
            seen.append(floor_id)
    return [sketches[f] for f in seen]
