"""The hospital map: floors, nodes and edges with accessibility flags, plus routes.

Central validates and routes over it; stations and kiosks receive it (and precomputed routes)
in the retained directory so they can guide a patient while offline.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field, model_validator

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


class HospitalMap(Model):
    """The whole map. Edges must name known nodes; nodes must name known floors."""

    buildings: list[Building] = Field(min_length=1, description="Buildings.")
    floors: list[Floor] = Field(min_length=1, description="Floors.")
    nodes: list[MapNode] = Field(min_length=1, max_length=20000, description="Nodes.")
    edges: list[MapEdge] = Field(max_length=100000, description="Edges.")
    closures: list[Closure] = Field(default_factory=list, description="Current closures.")

    @model_validator(mode="after")
    def _references(self) -> HospitalMap:
        buildings = {b.building_id for b in self.buildings}
        floors: set[str] = set()
        for i, f in enumerate(self.floors):
            if f.building_id not in buildings:
                raise ValueError(f"floors.{i}: unknown building {f.building_id!r}")
            if f.floor_id in floors:
                raise ValueError(f"floors.{i}: duplicate floor id {f.floor_id!r}")
            floors.add(f.floor_id)
        nodes: set[str] = set()
        for i, n in enumerate(self.nodes):
            if n.floor_id not in floors:
                raise ValueError(f"nodes.{i} ({n.node_id}): unknown floor {n.floor_id!r}")
            if n.node_id in nodes:
                raise ValueError(f"nodes.{i}: duplicate node id {n.node_id!r}")
            nodes.add(n.node_id)
        for i, e in enumerate(self.edges):
            for end in (e.a, e.b):
                if end not in nodes:
                    raise ValueError(f"edges.{i} ({e.a}-{e.b}): unknown node {end!r}")
            if e.a == e.b:
                raise ValueError(f"edges.{i}: an edge from {e.a!r} to itself")
        for i, c in enumerate(self.closures):
            if c.node_id not in nodes:
                raise ValueError(f"closures.{i}: unknown node {c.node_id!r}")
        return self


class Route(Model):
    """A precomputed route from one node to another, with its written directions."""

    from_node: str = Field(pattern=ID_PATTERN, description="Start node (usually a station).")
    to_node: str = Field(pattern=ID_PATTERN, description="End node (usually a room door).")
    step_free: bool = Field(description="True when the route avoids stairs and escalators.")
    nodes: list[str] = Field(min_length=1, description="Node ids along the route, in order.")
    length_m: float = Field(ge=0, description="Total walking length, metres.")
    steps: list[LocalizedText] = Field(max_length=8, description="Short directions, in order.")
