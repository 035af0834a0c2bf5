"""The hospital map: floors, nodes and edges with accessibility flags, plus routes.

Central validates and routes over it; stations and kiosks receive it (and precomputed routes)
in the retained directory so they can guide a patient while offline.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field, model_validator
from pydantic_core import PydanticCustomError

from protocol.base import ID_PATTERN, LocalizedText, Model

NodeKind = Literal[
    "room",
    "corridor",
    "elevator",
    "stairs",
    "escalator",
    "entrance",
    "station",
    "restroom",
    "desk",
    "pharmacy",
    "exit",
]
EdgeKind = Literal["corridor", "door", "elevator", "stairs", "escalator", "ramp"]


class Building(Model):
    """A building of the hospital."""

    building_id: str = Field(pattern=ID_PATTERN, description="Building id.")
    name: LocalizedText = Field(description="Building name.")


class Floor(Model):
    """One floor of a building; coordinates of its nodes are in metres on this floor."""

    floor_id: str = Field(pattern=ID_PATTERN, description="Floor id, unique across buildings.")
    building_id: str = Field(pattern=ID_PATTERN, description="The building it belongs to.")
    level: int = Field(ge=-10, le=200, description="Storey number (1 = ground, -1 = basement).")
    label: str = Field(max_length=8, description="What the elevator button says: 1F, B1 ...")
    width_m: float = Field(gt=0, le=2000, description="Drawing extent, metres.")
    height_m: float = Field(gt=0, le=2000, description="Drawing extent, metres.")


class MapNode(Model):
    """A place on a floor: a room door, a junction, an elevator or stairs landing, a station."""

    node_id: str = Field(pattern=ID_PATTERN, description="Node id.")
    floor_id: str = Field(pattern=ID_PATTERN, description="Floor the node is on.")
    kind: NodeKind = Field(description="What the place is.")
    x: float = Field(ge=0, le=2000, description="Metres from the floor's left edge.")
    y: float = Field(ge=0, le=2000, description="Metres from the floor's top edge.")
    name: LocalizedText | None = Field(default=None, description="Name shown in directions.")
    room_id: str | None = Field(
        default=None, pattern=ID_PATTERN, description="The queue room this node is the door of."
    )
    group: str | None = Field(
        default=None,
        pattern=ID_PATTERN,
        description="Vertical group: the landings of one elevator or staircase share it.",
    )


class MapEdge(Model):
    """A walkable link between two nodes (both directions)."""

    a: str = Field(pattern=ID_PATTERN, description="One end (node id).")
    b: str = Field(pattern=ID_PATTERN, description="The other end (node id).")
    kind: EdgeKind = Field(description="How one moves along it.")
    length_m: float = Field(ge=0, le=5000, description="Walking length, metres (or equivalent).")
    step_free: bool = Field(description="Usable with a wheelchair or walker.")
    narrow: bool = Field(default=False, description="A narrow door or passage.")


class Closure(Model):
    """Something out of service (an elevator, a corridor) that routes must avoid."""

    node_id: str = Field(pattern=ID_PATTERN, description="The closed node.")
    reason: LocalizedText = Field(description="Why, for staff and for the patient screen.")
    until: AwareDatetime | None = Field(default=None, description="When it reopens, if known.")


VERTICAL_EDGE_KINDS: frozenset[str] = frozenset({"elevator", "stairs", "escalator"})
"""Edge kinds that join landings of one vertical group on different floors."""

STEPPED_EDGE_KINDS: frozenset[str] = frozenset({"stairs", "escalator"})
"""Edge kinds a step-free route never uses, whatever their `step_free` flag says."""

SERVICE_NODE_KINDS: frozenset[str] = frozenset({"room", "desk", "pharmacy"})
"""Node kinds that may carry a queue `room_id` (a door patients are sent to)."""

_VERTICAL_NODE_KINDS: frozenset[str] = VERTICAL_EDGE_KINDS
_SAME_FLOOR_EDGE_KINDS: frozenset[str] = frozenset({"corridor", "door"})
_MAX_LISTED = 5


class MapProblem(Model):
    """One thing wrong with a map, with the path of the element it is about."""

    path: str = Field(max_length=200, description="Element path: `edges.3`, `nodes.12` ...")
    message: str = Field(max_length=2000, description="What is wrong and what to do.")

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _node_label(i: int, n: MapNode) -> str:
    return f"nodes.{i} ({n.node_id})"


def _reference_problems(m: HospitalMap) -> list[MapProblem]:
    """Duplicate ids and references to unknown elements: the checks every other one relies on."""
    out: list[MapProblem] = []
    buildings: set[str] = set()
    for i, b in enumerate(m.buildings):
        if b.building_id in buildings:
            out.append(
                MapProblem(
                    path=f"buildings.{i}", message=f"duplicate building id {b.building_id!r}"
                )
            )
        buildings.add(b.building_id)
    floors: dict[str, Floor] = {}
    levels: dict[tuple[str, int], str] = {}
    for i, f in enumerate(m.floors):
        where = f"floors.{i} ({f.floor_id})"
        if f.building_id not in buildings:
            out.append(MapProblem(path=where, message=f"unknown building {f.building_id!r}"))
        if f.floor_id in floors:
            out.append(MapProblem(path=where, message=f"duplicate floor id {f.floor_id!r}"))
        other = levels.get((f.building_id, f.level))
        if other is not None:
            out.append(
                MapProblem(
                    path=where,
                    message=f"level {f.level} of building {f.building_id!r} is already floor "
                    f"{other!r}; each storey is one floor",
                )
            )
        levels.setdefault((f.building_id, f.level), f.floor_id)
        floors.setdefault(f.floor_id, f)
    nodes: set[str] = set()
    room_doors: dict[str, str] = {}
    for i, n in enumerate(m.nodes):
        where = _node_label(i, n)
        floor = floors.get(n.floor_id)
        if floor is None:
            out.append(MapProblem(path=where, message=f"unknown floor {n.floor_id!r}"))
        elif n.x > floor.width_m or n.y > floor.height_m:
            out.append(
                MapProblem(
                    path=where,
                    message=f"position ({n.x:g}, {n.y:g}) is outside floor {floor.floor_id!r} "
                    f"({floor.width_m:g} x {floor.height_m:g} m)",
                )
            )
        if n.node_id in nodes:
            out.append(MapProblem(path=where, message=f"duplicate node id {n.node_id!r}"))
        nodes.add(n.node_id)
        if n.room_id is not None:
            if n.kind not in SERVICE_NODE_KINDS:
                out.append(
                    MapProblem(
                        path=where,
                        message=f"only a service point can be the door of room {n.room_id!r}, "
                        f"not a {n.kind}; use kind {', '.join(sorted(SERVICE_NODE_KINDS))}",
                    )
                )
            first = room_doors.setdefault(n.room_id, n.node_id)
            if first != n.node_id:
                out.append(
                    MapProblem(
                        path=where,
                        message=f"room {n.room_id!r} already has its door at node {first!r}",
                    )
                )
        if n.kind in _VERTICAL_NODE_KINDS and n.group is None:
            out.append(
                MapProblem(
                    path=where,
                    message=f"{n.kind} landings need a `group` shared by the landings "
                    "on the other floors",
                )
            )
        if n.group is not None and n.kind not in _VERTICAL_NODE_KINDS:
            out.append(
                MapProblem(
                    path=where,
                    message=f"`group` is only for elevator, stairs and escalator landings, "
                    f"not a {n.kind} node",
                )
            )
    pairs: dict[frozenset[str], int] = {}
    for i, e in enumerate(m.edges):
        where = f"edges.{i} ({e.a}-{e.b})"
        for end in (e.a, e.b):
            if end not in nodes:
                out.append(MapProblem(path=where, message=f"unknown node {end!r}"))
        if e.a == e.b:
            out.append(MapProblem(path=where, message=f"an edge from {e.a!r} to itself"))
        key = frozenset((e.a, e.b))
        if key in pairs:
            out.append(
                MapProblem(
                    path=where,
                    message=f"the same two nodes are already joined by edges.{pairs[key]}",
                )
            )
        pairs.setdefault(key, i)
    for i, c in enumerate(m.closures):
        if c.node_id not in nodes:
            out.append(MapProblem(path=f"closures.{i}", message=f"unknown node {c.node_id!r}"))
    return out


def _edge_problems(m: HospitalMap) -> list[MapProblem]:
    """Edge kinds against the nodes they join: vertical edges within a group, the rest flat."""
    out: list[MapProblem] = []
    by_id = {n.node_id: n for n in m.nodes}
    floors = {f.floor_id: f for f in m.floors}
    for i, e in enumerate(m.edges):
        where = f"edges.{i} ({e.a}-{e.b})"
        a, b = by_id[e.a], by_id[e.b]
        if e.kind in STEPPED_EDGE_KINDS and e.step_free:
            out.append(MapProblem(path=where, message=f"{e.kind} edges cannot be step_free"))
        if e.kind in VERTICAL_EDGE_KINDS:
            if a.kind != e.kind or b.kind != e.kind:
                out.append(
                    MapProblem(
                        path=where,
                        message=f"{e.kind} edges must join two {e.kind} landings, "
                        f"not a {a.kind} and a {b.kind}; link a landing to its floor "
                        "with a corridor edge",
                    )
                )
            elif a.group != b.group:
                out.append(
                    MapProblem(
                        path=where,
                        message=f"joins landings of different groups {a.group!r} and "
                        f"{b.group!r}; a vertical edge stays within one elevator or staircase",
                    )
                )
            if a.floor_id == b.floor_id:
                out.append(
                    MapProblem(
                        path=where,
                        message=f"{e.kind} edges must join different floors; "
                        f"both ends are on {a.floor_id!r}",
                    )
                )
            elif floors[a.floor_id].building_id != floors[b.floor_id].building_id:
                out.append(
                    MapProblem(path=where, message=f"{e.kind} edges cannot join two buildings")
                )
        elif e.kind in _SAME_FLOOR_EDGE_KINDS and a.floor_id != b.floor_id:
            out.append(
                MapProblem(
                    path=where,
                    message=f"{e.kind} edges must stay on one floor; this one joins "
                    f"{a.floor_id!r} and {b.floor_id!r} (use elevator, stairs, escalator or ramp)",
                )
            )
    return out


def _group_problems(m: HospitalMap) -> list[MapProblem]:
    """Each vertical group: one kind, one building, one landing per floor."""
    out: list[MapProblem] = []
    floors = {f.floor_id: f for f in m.floors}
    seen: dict[str, tuple[int, MapNode]] = {}
    landings: dict[tuple[str, str], str] = {}
    for i, n in enumerate(m.nodes):
        if n.group is None or n.kind not in _VERTICAL_NODE_KINDS:
            continue
        where = _node_label(i, n)
        first = seen.setdefault(n.group, (i, n))[1]
        if first.kind != n.kind:
            out.append(
                MapProblem(
                    path=where,
                    message=f"group {n.group!r} is a {first.kind} (node {first.node_id!r}); "
                    f"a {n.kind} landing cannot join it",
                )
            )
        elif floors[first.floor_id].building_id != floors[n.floor_id].building_id:
            out.append(MapProblem(path=where, message=f"group {n.group!r} spans two buildings"))
        other = landings.setdefault((n.group, n.floor_id), n.node_id)
        if other != n.node_id:
            out.append(
                MapProblem(
                    path=where,
                    message=f"group {n.group!r} already has landing {other!r} on floor "
                    f"{n.floor_id!r}",
                )
            )
    return out


def _components(m: HospitalMap) -> list[list[int]]:
    """Connected parts of the map (indexes into nodes), biggest first; closures ignored."""
    index = {n.node_id: i for i, n in enumerate(m.nodes)}
    parent = list(range(len(m.nodes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for e in m.edges:
        ra, rb = find(index[e.a]), find(index[e.b])
        if ra != rb:
            parent[ra] = rb
    parts: dict[int, list[int]] = {}
    for i in range(len(m.nodes)):
        parts.setdefault(find(i), []).append(i)
    return sorted(parts.values(), key=lambda p: (-len(p), p[0]))


def _connectivity_problems(m: HospitalMap) -> list[MapProblem]:
    """Floors without a way up or down, and places that cannot be reached from the rest."""
    out: list[MapProblem] = []
    by_id = {n.node_id: n for n in m.nodes}
    floors_of_building: dict[str, list[Floor]] = {}
    for f in m.floors:
        floors_of_building.setdefault(f.building_id, []).append(f)
    linked: set[str] = set()
    for e in m.edges:
        a, b = by_id[e.a], by_id[e.b]
        if a.floor_id != b.floor_id:
            linked.update((a.floor_id, b.floor_id))
    unlinked: set[str] = set()
    populated = {n.floor_id for n in m.nodes}
    for i, f in enumerate(m.floors):
        where = f"floors.{i} ({f.floor_id})"
        if f.floor_id not in populated:
            out.append(MapProblem(path=where, message=f"floor {f.label} has no nodes"))
        elif len(floors_of_building[f.building_id]) > 1 and f.floor_id not in linked:
            unlinked.add(f.floor_id)
            out.append(
                MapProblem(
                    path=where,
                    message=f"floor {f.label} has no vertical link: add an elevator, stairs, "
                    "escalator or ramp edge to another floor",
                )
            )
    parts = _components(m)
    for part in parts[1:]:
        # A floor with no vertical link is already reported; its nodes would only repeat it.
        if all(m.nodes[i].floor_id in unlinked for i in part):
            continue
        named = [i for i in part if m.nodes[i].kind != "corridor"] or part
        for i in named[:_MAX_LISTED]:
            n = m.nodes[i]
            what = f"room {n.room_id!r}" if n.room_id is not None else f"this {n.kind}"
            out.append(
                MapProblem(
                    path=_node_label(i, n),
                    message=f"{what} is not connected to the rest of the map "
                    f"(its part has {len(part)} node(s), the main part {len(parts[0])}); "
                    "add an edge to a corridor",
                )
            )
        if len(named) > _MAX_LISTED:
            out.append(
                MapProblem(
                    path=_node_label(named[_MAX_LISTED], m.nodes[named[_MAX_LISTED]]),
                    message=f"and {len(named) - _MAX_LISTED} more nodes of the same "
                    "disconnected part",
                )
            )
    return out


def map_problems(m: HospitalMap) -> list[MapProblem]:
    """Everything wrong with a map, in file order; reference errors alone if there are any."""
    problems = _reference_problems(m)
    if problems:
        return problems
    return _edge_problems(m) + _group_problems(m) + _connectivity_problems(m)


class HospitalMap(Model):
    """The whole map, checked as a whole: see `map_problems` for every rule."""

    buildings: list[Building] = Field(min_length=1, description="Buildings.")
    floors: list[Floor] = Field(min_length=1, description="Floors.")
    nodes: list[MapNode] = Field(min_length=1, max_length=20000, description="Nodes.")
    edges: list[MapEdge] = Field(max_length=100000, description="Edges.")
    closures: list[Closure] = Field(default_factory=list, description="Current closures.")

    @model_validator(mode="after")
    def _consistent(self) -> HospitalMap:
        problems = map_problems(self)
        if problems:
            # The problems ride along in the error context so a loader can list each one.
            raise PydanticCustomError(
                "map_invalid",
                "{count} problem(s) in the map: {summary}",
                {
                    "count": len(problems),
                    "summary": "; ".join(str(p) for p in problems[:_MAX_LISTED]),
                    "problems": [p.model_dump() for p in problems],
                },
            )
        return self


class Route(Model):
    """A precomputed route from one node to another, with its written directions."""

    from_node: str = Field(pattern=ID_PATTERN, description="Start node (usually a station).")
    to_node: str = Field(pattern=ID_PATTERN, description="End node (usually a room door).")
    step_free: bool = Field(description="True when the route avoids stairs and escalators.")
    nodes: list[str] = Field(min_length=1, description="Node ids along the route, in order.")
    length_m: float = Field(ge=0, description="Total walking length, metres.")
    steps: list[LocalizedText] = Field(max_length=8, description="Short directions, in order.")


NO_ROUTE_TEXT = LocalizedText(
    ko="길 안내를 찾지 못했습니다. 가까운 직원에게 물어보세요.",
    en="We could not find a route. Please ask a member of staff nearby.",
    zh="未能找到路线。请向附近的工作人员询问。",
    ja="道順が見つかりませんでした。近くの職員にお尋ねください。",
)
"""Shown instead of directions when no route (of the kind the patient needs) is published."""

NO_STEP_FREE_ROUTE_TEXT = LocalizedText(
    ko="지금은 계단 없이 가는 길이 없습니다. 가까운 직원에게 도움을 요청하세요.",
    en="There is no step-free route right now. Please ask a member of staff for help.",
    zh="目前没有无台阶的路线。请向附近的工作人员求助。",
    ja="現在、段差のない道順がありません。近くの職員に手助けをお求めください。",
)
"""Shown when the patient needs a step-free route and none is open (both elevators closed)."""


def pick_route(routes: list[Route], from_node: str, to_node: str, step_free: bool) -> Route | None:
    """The published route a patient should follow, or None when there is none.

    Central publishes the shortest route of each pair and, when that one uses stairs or an
    escalator, a step-free one too. A patient who needs step-free gets only a step-free route;
    anyone else gets the shortest (the non-step-free one when both exist).
    """
    best: Route | None = None
    for r in routes:
        if r.from_node != from_node or r.to_node != to_node:
            continue
        if step_free:
            if r.step_free:
                return r
        elif not r.step_free:
            return r
        elif best is None:
            best = r
    return None if step_free else best
