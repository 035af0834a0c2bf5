"""Routing: shortest and step-free variants, elevator waits, closures, the whole sample map."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from central.wayfinding.errors import NoRouteError
from central.wayfinding.loader import load_map
from central.wayfinding.routing import (
    build_graphs,
    compute_routes,
    find_route,
    group_closures,
)
from protocol.hospital_map import STEPPED_EDGE_KINDS, HospitalMap, Route, pick_route
from tests.support.wayfinding_maps import REASON, closure, edge, two_floor_data, two_floor_map

SAMPLE = Path(__file__).resolve().parents[2] / "central" / "data" / "sample_map.json"


@pytest.fixture(scope="module")
def sample() -> HospitalMap:
    return load_map(SAMPLE)


def edge_kinds(m: HospitalMap, route: Route) -> list[str]:
    edges = {frozenset((e.a, e.b)): e for e in m.edges}
    return [edges[frozenset(p)].kind for p in itertools.pairwise(route.nodes)]


def test_shortest_takes_the_stairs_for_one_floor_and_step_free_the_elevator() -> None:
    m = two_floor_map()
    shortest = find_route(m, "st", "x", step_free=False)
    assert shortest.nodes == ["st", "j1", "s1", "s2", "k1", "x"]
    assert shortest.length_m == 53
    assert not shortest.step_free
    step_free = find_route(m, "st", "x", step_free=True)
    assert step_free.nodes == ["st", "j1", "j2", "ea1", "ea2", "k2", "k1", "x"]
    assert step_free.step_free
    # Longer on foot than the stairs, and the elevator's wait comes on top.
    assert step_free.length_m == 79


def test_elevator_wait_decides_when_walks_are_close() -> None:
    # Make the stairs a 100 m detour: now the elevator's 30 m wait is worth it in the shortest.
    data = two_floor_data()
    for e in data["edges"]:
        if e["kind"] == "stairs":
            e["length_m"] = 100
    route = find_route(HospitalMap.model_validate(data), "st", "x", step_free=False)
    assert "elevator" in edge_kinds(HospitalMap.model_validate(data), route)
    assert route.step_free  # it happens to avoid steps, and says so


def test_closing_one_elevator_reroutes_to_the_other() -> None:
    m = two_floor_map()
    closed = m.model_copy(update={"closures": group_closures(m, "ea", REASON)})
    route = find_route(closed, "st", "x", step_free=True)
    assert route.nodes == ["st", "j1", "j2", "j3", "eb1", "eb2", "k3", "k2", "k1", "x"]


def test_closing_both_elevators_leaves_no_step_free_route_and_says_why() -> None:
    m = two_floor_map(closures=[closure("ea1"), closure("eb2")])
    with pytest.raises(NoRouteError) as info:
        find_route(m, "st", "x", step_free=True)
    message = str(info.value)
    assert message.startswith("no step-free route from 'st' to 'x':")
    assert "stairs" in message
    assert "closed now: ea1, eb2" in message
    # The stairs still serve everyone else.
    assert find_route(m, "st", "x", step_free=False).nodes[2:4] == ["s1", "s2"]
    routes = compute_routes(m, ["st"], ["x"])
    assert [r.step_free for r in routes] == [False]
    assert pick_route(routes, "st", "x", step_free=True) is None
    assert pick_route(routes, "st", "x", step_free=False) is routes[0]


def test_a_closed_middle_landing_does_not_stop_the_elevator_passing() -> None:
    data = two_floor_data()
    # A third floor above, the room moved up there; 2F landing of A closed.
    data["floors"].append({**data["floors"][1], "floor_id": "f3", "level": 3, "label": "3F"})
    data["nodes"] += [
        {**n, "node_id": n["node_id"] + "-3", "floor_id": "f3", "group": n.get("group")}
        for n in data["nodes"]
        if n["floor_id"] == "f2" and n["kind"] in ("elevator", "corridor")
    ]
    for n in data["nodes"]:
        if n.get("group") is None:
            n.pop("group", None)
    data["edges"] += [
        edge("ea2", "ea2-3", "elevator", 4),
        edge("eb2", "eb2-3", "elevator", 4),
        edge("ea2-3", "k2-3", "corridor", 10),
        edge("eb2-3", "k3-3", "corridor", 10),
        edge("k1-3", "k2-3", "corridor", 20),
        edge("k2-3", "k3-3", "corridor", 20),
    ]
    data["closures"] = [closure("ea2")]
    m = HospitalMap.model_validate(data)
    route = find_route(m, "st", "k1-3", step_free=True)
    assert route.nodes[3:6] == ["ea1", "ea2", "ea2-3"]  # rides past the closed 2F landing
    with pytest.raises(NoRouteError, match="'ea2' is closed"):
        find_route(m, "st", "ea2", step_free=True)


def test_lapsed_closures_are_ignored() -> None:
    now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    m = two_floor_map()
    lapsed = group_closures(m, "ea", REASON, until=now - timedelta(minutes=1))
    current = group_closures(m, "eb", REASON, until=now + timedelta(hours=1))
    m = m.model_copy(update={"closures": lapsed + current})
    assert build_graphs(m, now).closed == {"eb1", "eb2"}
    assert "ea1" in find_route(build_graphs(m, now), "st", "x", step_free=True).nodes
    with pytest.raises(KeyError, match="no elevator, stairs or escalator has group 'zz'"):
        group_closures(m, "zz", REASON)


def test_step_free_prefers_a_wide_door_but_takes_a_narrow_one_when_it_must() -> None:
    data = two_floor_data()
    data["edges"] = [e for e in data["edges"] if {e["a"], e["b"]} != {"k1", "x"}]
    data["edges"] += [edge("k1", "x", "door", 10, narrow=True), edge("k2", "x", "door", 35)]
    m = HospitalMap.model_validate(data)
    assert find_route(m, "ea2", "x", step_free=True).nodes == ["ea2", "k2", "x"]
    assert find_route(m, "ea2", "x", step_free=False).nodes == ["ea2", "k2", "k1", "x"]
    data["edges"] = data["edges"][:-1]
    m = HospitalMap.model_validate(data)
    assert find_route(m, "ea2", "x", step_free=True).nodes == ["ea2", "k2", "k1", "x"]


def test_unknown_end_is_a_clear_error() -> None:
    with pytest.raises(NoRouteError, match="'nowhere' is not on the map"):
        find_route(two_floor_map(), "st", "nowhere", step_free=False)


def test_every_station_reaches_every_room_both_ways_on_the_sample(sample: HospitalMap) -> None:
    stations = [n.node_id for n in sample.nodes if n.kind == "station"]
    rooms = [n.node_id for n in sample.nodes if n.room_id is not None]
    assert len(stations) == 4
    assert len(rooms) == 30
    routes = compute_routes(sample, stations, rooms)
    edges = {frozenset((e.a, e.b)) for e in sample.edges}
    for s, r in itertools.product(stations, rooms):
        shortest = pick_route(routes, s, r, step_free=False)
        step_free = pick_route(routes, s, r, step_free=True)
        assert shortest is not None, (s, r)
        assert step_free is not None, (s, r)
        assert step_free.step_free
        assert not set(edge_kinds(sample, step_free)) & STEPPED_EDGE_KINDS
        for route in (shortest, step_free):
            assert route.nodes[0] == s
            assert route.nodes[-1] == r
            assert all(frozenset(p) in edges for p in itertools.pairwise(route.nodes))
            assert 2 <= len(route.steps) <= 6, (s, r, [x.en for x in route.steps])
    # The stairs and the escalator are used by some shortest routes, never by step-free ones.
    used = {k for route in routes if not route.step_free for k in edge_kinds(sample, route)}
    assert {"stairs", "escalator"} <= used


def test_sample_closing_the_central_elevator_uses_the_east_one(sample: HospitalMap) -> None:
    closed = sample.model_copy(update={"closures": group_closures(sample, "elev-a", REASON)})
    route = find_route(closed, "st-lobby", "door-os-1", step_free=True)
    assert [n for n in route.nodes if n.startswith("elev-")] == [
        "elev-b-1f",
        "elev-b-2f",
        "elev-b-3f",
    ]
    both = closed.model_copy(
        update={"closures": closed.closures + group_closures(sample, "elev-b", REASON)}
    )
    with pytest.raises(NoRouteError, match="no step-free route"):
        find_route(both, "st-lobby", "door-os-1", step_free=True)
    # Same floor needs no elevator, closed or not.
    assert find_route(both, "st-lobby", "door-xray-1", step_free=True).step_free
