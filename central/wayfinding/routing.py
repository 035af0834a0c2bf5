"""Routes over the hospital map with networkx: shortest and step-free, honouring closures.

Costs are walking metres. An elevator also costs its wait: each landing is joined to a "car"
node by a boarding edge, and the cars of one group are joined by the ride edges, so the wait is
paid once per ride however many floors it passes. That makes the stairs win a one-floor hop in
the shortest variant when they are near, as people do.

Step-free routes drop stairs and escalators and every edge not marked step_free. A narrow door
is passable with a walker or most wheelchairs (the map marks one that is not as not step-free),
so the step-free variant only prefers a wide way when there is one.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import networkx as nx

from central.wayfinding.directions import MapIndex, describe_route
from central.wayfinding.errors import NoRouteError
from protocol.base import LocalizedText
from protocol.hospital_map import (
    STEPPED_EDGE_KINDS,
    Closure,
    HospitalMap,
    MapEdge,
    MapNode,
    Route,
)

ELEVATOR_WAIT_M = 30.0
"""Waiting for an elevator, in walking metres (about half a minute at an elderly pace)."""

NARROW_PENALTY_M = 25.0
"""Extra cost of a narrow door or passage in the step-free variant."""

_CAR = "#car"  # suffix of an elevator's cabin node; '#' never occurs in a node id


def _uses_steps(edge: MapEdge) -> bool:
    return edge.kind in STEPPED_EDGE_KINDS or not edge.step_free


@dataclass
class RoutingGraphs:
    """The map's two routing graphs, built once per map (and closure) version."""

    map: HospitalMap
    shortest: nx.Graph
    step_free: nx.Graph
    edges: dict[frozenset[str], MapEdge] = field(default_factory=dict)
    nodes: dict[str, MapNode] = field(default_factory=dict)
    closed: frozenset[str] = frozenset()
    index: MapIndex | None = None

    def graph(self, step_free: bool) -> nx.Graph:
        return self.step_free if step_free else self.shortest


def _build(m: HospitalMap, closed: frozenset[str], step_free: bool) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(n.node_id for n in m.nodes if n.node_id not in closed)
    for n in m.nodes:
        if n.kind == "elevator":
            # The car stays even when a landing is closed: the elevator then skips that floor.
            g.add_node(n.node_id + _CAR)
            if n.node_id not in closed:
                g.add_edge(n.node_id, n.node_id + _CAR, weight=ELEVATOR_WAIT_M / 2)
    for e in m.edges:
        if step_free and _uses_steps(e):
            continue
        weight = e.length_m + (NARROW_PENALTY_M if step_free and e.narrow else 0.0)
        if e.kind == "elevator":
            g.add_edge(e.a + _CAR, e.b + _CAR, weight=weight)
        elif e.a not in closed and e.b not in closed:
            g.add_edge(e.a, e.b, weight=weight)
    # A landing's car with no ride left is no way anywhere; keep the graph tidy for errors.
    g.remove_nodes_from([c for c in list(g) if c.endswith(_CAR) and g.degree(c) == 0])
    return g


def closed_nodes(m: HospitalMap, now: datetime | None = None) -> frozenset[str]:
    """Node ids closed at `now` (a closure with `until` in the past has lapsed)."""
    return frozenset(
        c.node_id for c in m.closures if c.until is None or now is None or c.until > now
    )


def build_graphs(m: HospitalMap, now: datetime | None = None) -> RoutingGraphs:
    """Both routing graphs of a map, its closures at `now` removed (all of them when None)."""
    closed = closed_nodes(m, now)
    return RoutingGraphs(
        map=m,
        shortest=_build(m, closed, step_free=False),
        step_free=_build(m, closed, step_free=True),
        edges={frozenset((e.a, e.b)): e for e in m.edges},
        nodes={n.node_id: n for n in m.nodes},
        closed=closed,
        index=MapIndex(m),
    )


def group_closures(
    m: HospitalMap, group: str, reason: LocalizedText, until: datetime | None = None
) -> list[Closure]:
    """Closures for every landing of a vertical group: the whole elevator out of service."""
    found = [
        Closure(node_id=n.node_id, reason=reason, until=until) for n in m.nodes if n.group == group
    ]
    if not found:
        raise KeyError(f"no elevator, stairs or escalator has group {group!r}")
    return found


def _map_path(path: Sequence[str]) -> list[str]:
    """Routing-graph path -> map node ids: cars become their landings, repeats collapse."""
    out: list[str] = []
    for p in path:
        node = p.removesuffix(_CAR)
        if not out or out[-1] != node:
            out.append(node)
    return out


def _make_route(graphs: RoutingGraphs, path: list[str], step_free_variant: bool) -> Route:
    edges = [graphs.edges[frozenset(pair)] for pair in itertools.pairwise(path)]
    return Route(
        from_node=path[0],
        to_node=path[-1],
        step_free=step_free_variant or not any(_uses_steps(e) for e in edges),
        nodes=path,
        length_m=round(sum(e.length_m for e in edges), 1),
        steps=describe_route(graphs.index or graphs.map, path),
    )


def routes_from(
    graphs: RoutingGraphs, source: str, targets: Iterable[str]
) -> tuple[list[Route], list[tuple[str, bool]]]:
    """Routes from one node to each target, and the (target, step_free) pairs with none.

    The shortest route comes first; a step-free one is added only when the shortest uses
    stairs or an escalator (`protocol.hospital_map.pick_route` chooses between them).
    """
    found: list[Route] = []
    missing: list[tuple[str, bool]] = []
    paths: dict[bool, dict[str, list[str]]] = {}
    for variant in (False, True):
        g = graphs.graph(variant)
        paths[variant] = nx.single_source_dijkstra_path(g, source) if source in g else {}
    for target in targets:
        shortest = paths[False].get(target)
        route = _make_route(graphs, _map_path(shortest), False) if shortest else None
        if route is not None:
            found.append(route)
        if route is None or not route.step_free:
            step_free = paths[True].get(target)
            if step_free:
                found.append(_make_route(graphs, _map_path(step_free), True))
            else:
                missing.append((target, True))
        if route is None:
            missing.append((target, False))
    return found, missing


def compute_routes(
    m: HospitalMap,
    from_nodes: Iterable[str],
    to_nodes: Iterable[str],
    now: datetime | None = None,
) -> list[Route]:
    """Shortest and step-free routes from every `from_nodes` node to every `to_nodes` node.

    Pairs with no open route are left out; `find_route` says why for one pair.
    """
    graphs = build_graphs(m, now)
    targets = list(to_nodes)
    out: list[Route] = []
    for source in from_nodes:
        out.extend(routes_from(graphs, source, targets)[0])
    return out


def find_route(
    m: HospitalMap | RoutingGraphs, from_node: str, to_node: str, step_free: bool
) -> Route:
    """The best route of one kind between two nodes, or NoRouteError saying why there is none."""
    graphs = m if isinstance(m, RoutingGraphs) else build_graphs(m)
    for end in (from_node, to_node):
        if end not in graphs.nodes:
            raise NoRouteError(from_node, to_node, step_free, f"{end!r} is not on the map")
        if end in graphs.closed:
            raise NoRouteError(from_node, to_node, step_free, f"{end!r} is closed")
    g = graphs.graph(step_free)
    try:
        path = nx.dijkstra_path(g, from_node, to_node)
    except nx.NetworkXNoPath:
        raise NoRouteError(from_node, to_node, step_free, _why_none(graphs, step_free)) from None
    return _make_route(graphs, _map_path(path), step_free)


def _why_none(graphs: RoutingGraphs, step_free: bool) -> str:
    closed = sorted(graphs.closed)
    parts = []
    if step_free:
        parts.append("every way between them uses stairs, an escalator or a step")
    if closed:
        shown = ", ".join(closed[:6]) + (" ..." if len(closed) > 6 else "")
        parts.append(f"closed now: {shown}")
    return "; ".join(parts) or "the map has no way between them"
