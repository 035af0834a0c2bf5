"""Map closures through the API: list, close (a node or a whole vertical group), reopen.

Closures are validated against the map the directory task serves and stored in
`map_closures`; the directory task is woken to republish `directory/map` and
`directory/routes` at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from pydantic import AwareDatetime, Field, model_validator

from central.api.errors import InvalidInput, NotFound, Unavailable
from central.api.registry import Call, Registry
from central.auth.http import actor_of
from central.bridge.directory import publisher_for, request_check
from central.engine import Engine
from central.wayfinding.closures import put_closures, remove_closure, stored_closures
from central.wayfinding.routing import group_closures
from protocol.base import ID_PATTERN, LocalizedText, Model
from protocol.hospital_map import Closure, HospitalMap

ROLES = ("admin", "technician")


class ClosureIn(Model):
    """Close one node, or every landing of an elevator/stairs group."""

    node_id: str | None = Field(default=None, pattern=ID_PATTERN, description="Node to close.")
    group: str | None = Field(
        default=None, description="Vertical group (elevator, stairs) to close on every floor."
    )
    reason: LocalizedText = Field(description="Why, for staff and the patient screens.")
    until: AwareDatetime | None = Field(default=None, description="When it reopens, if known.")

    @model_validator(mode="after")
    def _one_target(self) -> ClosureIn:
        if (self.node_id is None) == (self.group is None):
            raise ValueError("give exactly one of node_id and group")
        return self


class ClosureOut(Model):
    """A closure in force, and where it comes from."""

    node_id: str = Field(description="The closed node.")
    reason: LocalizedText = Field(description="Why.")
    until: datetime | None = Field(default=None, description="When it reopens, if known.")
    source: str = Field(description="`api` (can be reopened here) or `map_file`.")


class ClosuresOut(Model):
    """Every closure: those set through the API and those in the map file."""

    closures: list[ClosureOut] = Field(description="Closures, API ones first.")


def _current_map(engine: Engine) -> HospitalMap:
    p = publisher_for(engine.db)
    m = p.map if p is not None else None
    if m is None:
        raise Unavailable("the map is not loaded yet; try again shortly", "map")
    return m


def _listing(engine: Engine, m: HospitalMap | None) -> ClosuresOut:
    mine = stored_closures(engine.db)
    ids = {c.node_id for c in mine}
    out = [ClosureOut(**c.model_dump(), source="api") for c in mine]
    if m is not None:
        out += [
            ClosureOut(**c.model_dump(), source="map_file")
            for c in m.closures
            if c.node_id not in ids
        ]
    return ClosuresOut(closures=out)


def map_routes(registry: Registry, engine_of: Callable[[Call], Engine]) -> None:
    """Declare the closure routes on `registry`; `engine_of` gives a call's engine."""

    @registry.route(
        "GET",
        "/map/closures",
        response=ClosuresOut,
        summary="Closures in force",
        roles=ROLES,
        tags=("map",),
        name="list_closures",
    )
    async def list_closures(call: Call) -> ClosuresOut:
        """Closures set through the API, then those written in the map file."""
        engine = engine_of(call)
        p = publisher_for(engine.db)
        return await asyncio.to_thread(_listing, engine, p.map if p else None)

    @registry.route(
        "POST",
        "/map/closures",
        body=ClosureIn,
        response=ClosuresOut,
        summary="Close a node or a whole elevator/stairs group",
        roles=ROLES,
        tags=("map",),
        errors=(422, 503),
        name="add_closure",
    )
    async def add_closure(call: Call) -> ClosuresOut:
        """Routes avoid the closed nodes from the next directory publication (at once)."""
        engine = engine_of(call)
        b: ClosureIn = call.body
        m = _current_map(engine)
        if b.group is not None:
            try:
                new = group_closures(m, b.group, b.reason, b.until)
            except KeyError:
                raise InvalidInput(
                    f"no elevator, stairs or escalator on the map has group {b.group!r}",
                    "body.group",
                ) from None
        else:
            assert b.node_id is not None
            if b.node_id not in {n.node_id for n in m.nodes}:
                raise InvalidInput(f"node {b.node_id!r} is not on the map", "body.node_id")
            new = [Closure(node_id=b.node_id, reason=b.reason, until=b.until)]
        actor = actor_of(call.request) or "api"
        await asyncio.to_thread(put_closures, engine.db, new, actor[:64], engine.clock.now())
        request_check(engine.db)
        return await asyncio.to_thread(_listing, engine, m)

    @registry.route(
        "DELETE",
        "/map/closures/{node_id}",
        response=ClosuresOut,
        summary="Reopen a node closed through the API",
        roles=ROLES,
        tags=("map",),
        errors=(404,),
        name="remove_closure",
    )
    async def delete_closure(call: Call) -> ClosuresOut:
        """Closures written in the map file are changed in the file (`map import`)."""
        engine = engine_of(call)
        node_id = call.path["node_id"]
        if not await asyncio.to_thread(remove_closure, engine.db, node_id):
            raise NotFound(f"no closure set through the API for node {node_id!r}", "path.node_id")
        request_check(engine.db)
        p = publisher_for(engine.db)
        return await asyncio.to_thread(_listing, engine, p.map if p else None)
