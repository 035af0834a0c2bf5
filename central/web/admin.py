"""Admin endpoints of the dashboard: staff accounts (list, create, disable, enable, end every
session of an account; admin role only), and the map's places for the enrolment-code and
closure forms (admins and technicians). State changes are CSRF-checked like all others.

Enrolment codes, closures and service-day settings go through the API itself
(`/api/v1/stations/enrolment-codes`, `/api/v1/map/closures`, `/api/v1/admin/settings`)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from pydantic import Field

from central.api.errors import ApiError, InvalidInput, NotFound
from central.auth.errors import RoleForbidden
from central.auth.http import AUTH_KEY, json_body, require_staff
from central.auth.roles import Action, Role, allows
from central.auth.store import StaffUser
from protocol.base import Model


class NewUserBody(Model):
    """A new staff account."""

    username: str = Field(
        pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="Log-in name (a-z 0-9 . _ -)."
    )
    name: str = Field(min_length=1, max_length=100, description="Name shown in the dashboard.")
    role: Role = Field(description="nurse, reception, admin or technician.")
    password: str = Field(min_length=10, max_length=256, description="At least 10 characters.")


class UserExists(ApiError):
    """The user name is taken."""

    status = 409
    reason = "user_exists"
    message_ko = "이미 있는 아이디입니다."
    message_en = "That user name is taken."


def _out(u: StaffUser) -> dict[str, Any]:
    return {
        "user_id": u.user_id,
        "username": u.username,
        "name": u.display_name,
        "role": u.role,
        "active": u.active,
    }


async def list_users(request: web.Request) -> web.Response:
    """GET /staff/api/users."""
    await require_staff(request, Action.STAFF_MANAGE)
    users = await asyncio.to_thread(request.app[AUTH_KEY].store.users)
    return web.json_response({"items": [_out(u) for u in users]})


async def create_user(request: web.Request) -> web.Response:
    """POST /staff/api/users {username, name, role, password}."""
    await require_staff(request, Action.STAFF_MANAGE)
    body: NewUserBody = await json_body(request, NewUserBody)
    auth = request.app[AUTH_KEY]
    if await asyncio.to_thread(auth.store.user_by_name, body.username) is not None:
        raise UserExists(body.username, "body.username")
    try:
        user = await asyncio.to_thread(
            auth.add_user, body.username, body.name, body.role.value, body.password
        )
    except ValueError as e:
        raise InvalidInput(str(e), "body") from None
    return web.json_response(_out(user), status=201)


async def change_user(request: web.Request) -> web.Response:
    """POST /staff/api/users/{user_id}/{disable|enable|end-sessions}."""
    claims = await require_staff(request, Action.STAFF_MANAGE)
    auth = request.app[AUTH_KEY]
    user_id, what = request.match_info["user_id"], request.match_info["what"]
    user = await asyncio.to_thread(auth.store.user_by_id, user_id)
    if user is None:
        raise NotFound(f"no user {user_id!r}", "path.user_id")
    if user_id == claims.sub and what == "disable":
        raise InvalidInput("you cannot disable your own account", "path.user_id")
    if what == "disable":
        await asyncio.to_thread(auth.disable_user, user_id)
    elif what == "enable":
        await asyncio.to_thread(auth.enable_user, user_id)
    elif what == "end-sessions":
        await asyncio.to_thread(auth.revoke_user_tokens, user_id)
    else:
        raise NotFound(f"no action {what!r}", "path.what")
    fresh = await asyncio.to_thread(auth.store.user_by_id, user_id)
    assert fresh is not None
    return web.json_response(_out(fresh))


async def map_places(request: web.Request) -> web.Response:
    """GET /staff/api/map: the map's floors, named places and elevator/stairs groups (for
    picking where a station stands or what to close), from the map served now."""
    claims = await require_staff(request, Action.QUEUE_READ)
    if not (allows(claims.role, Action.MAP_CLOSURES) or allows(claims.role, Action.STATION_ENROL)):
        raise RoleForbidden(f"role {claims.role} may not read the map's places")
    from central.web.phone import PHONE_KEY

    live = request.app[PHONE_KEY].live_map
    m = await asyncio.to_thread(live.current) if live is not None else None
    if m is None:
        return web.json_response({"floors": [], "nodes": [], "groups": []})
    floors = {f.floor_id: f.label for f in m.floors}
    nodes = [
        {
            "node_id": n.node_id,
            "floor": floors.get(n.floor_id, n.floor_id),
            "kind": n.kind,
            "name": n.name.model_dump(exclude_none=True) if n.name else None,
            "group": n.group,
        }
        for n in m.nodes
        if n.kind != "corridor" or n.name is not None
    ]
    groups: dict[str, dict[str, Any]] = {}
    for n in m.nodes:
        if n.group:
            g = groups.setdefault(
                n.group,
                {
                    "group": n.group,
                    "kind": n.kind,
                    "name": n.name.model_dump(exclude_none=True) if n.name else None,
                    "floors": [],
                },
            )
            g["floors"].append(floors.get(n.floor_id, n.floor_id))
    return web.json_response(
        {"floors": list(floors.values()), "nodes": nodes, "groups": list(groups.values())}
    )


def install(app: web.Application) -> None:
    app.router.add_get("/staff/api/map", map_places, name="staff_map_places")
    app.router.add_get("/staff/api/users", list_users, name="staff_users")
    app.router.add_post("/staff/api/users", create_user, name="staff_user_create")
    app.router.add_post("/staff/api/users/{user_id}/{what}", change_user, name="staff_user_change")
