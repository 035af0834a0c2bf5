"""The patient phone page: login, one-time links, the visit's status (HTTP and a live
WebSocket feed) and the route drawing. Read-only; a token opens one visit and nothing else.

The cookie `nfch_p` (HttpOnly, SameSite=Strict, Secure) is scoped to `/p/v/{visit_id}`, so a
phone can hold the sessions of two family members side by side.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from aiohttp import WSMsgType, web
from pydantic import Field

from central.api.errors import ApiError, InvalidInput
from central.auth.errors import NotAuthenticated
from central.auth.http import (
    AUTH_KEY,
    auth_error_response,
    check_origin,
    client_address,
    json_body,
    run_until_invalid,
    set_cookie,
)
from central.auth.service import AuthService, PatientSession
from central.auth.tokens import PatientClaims
from central.engine import Engine, Rejected, VisitView
from central.web.config import WebConfig
from central.web.live_map import LiveMap
from central.web.pages import phone_page
from protocol.base import Model
from protocol.ids import is_valid_id
from protocol.messages import DirectoryRoom

log = logging.getLogger("central.web.phone")

PATIENT_COOKIE = "nfch_p"


class PhoneLoginBody(Model):
    """Phone login: last 4 phone digits and birth date (YYYYMMDD)."""

    last4: str = Field(pattern=r"^[0-9]{4}$", description="Last four digits of the phone.")
    birth: str = Field(pattern=r"^[0-9]{8}$", description="Birth date as YYYYMMDD.")
    visit_id: str | None = Field(
        default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="From the QR page."
    )


@dataclass(slots=True)
class PhoneContext:
    """What the phone handlers use."""

    engine: Engine
    auth: AuthService
    config: WebConfig
    hub: Any
    live_map: LiveMap | None = None
    """The map routes are drawn on (follows `central map import` and API closures)."""
    _rooms: dict[str, DirectoryRoom] = field(default_factory=dict)
    _rooms_version: int = -1
    routes_cache: dict[tuple[str, str, bool, str, str], str] = field(default_factory=dict)
    graphs: tuple[str, Any] | None = None
    """Routing graphs of the map revision and closures they were built for."""
    sockets: set[web.WebSocketResponse] = field(default_factory=set)
    """Open phone feeds, closed when central shuts down."""

    def rooms(self) -> dict[str, DirectoryRoom]:
        doc = self.engine.directory_rooms()
        if doc.version != self._rooms_version:
            self._rooms = {r.room_id: r for r in doc.rooms}
            self._rooms_version = doc.version
        return self._rooms


PHONE_KEY: web.AppKey[PhoneContext] = web.AppKey("nfch_phone")


def _birth(text: str) -> date:
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise InvalidInput("not a calendar date (YYYYMMDD)", "body.birth") from None


def set_patient_cookie(resp: web.StreamResponse, auth: AuthService, s: PatientSession) -> None:
    life = int((s.claims.exp - auth.now()).total_seconds())
    set_cookie(
        resp, auth.config, PATIENT_COOKIE, s.token, path=f"/p/v/{s.claims.visit_id}", max_age=life
    )


def _visit_id(request: web.Request) -> str:
    visit_id = request.match_info["visit_id"]
    if not is_valid_id(visit_id):
        raise web.HTTPNotFound()
    return visit_id


async def patient_claims(request: web.Request) -> PatientClaims:
    """The phone-page token of this request's visit (raises AuthError)."""
    auth = request.app[AUTH_KEY]
    token = request.cookies.get(PATIENT_COOKIE, "")
    if not token:
        raise NotAuthenticated("no phone-page session")
    now = auth.now()
    if auth.revocations.stale(now):
        await asyncio.to_thread(auth.revocations.reload, now)
    return auth.authenticate_patient(token, _visit_id(request))


# ------------------------------------------------------------------ the status document


def _text(t: Any) -> dict[str, str | None] | None:
    return t.model_dump() if t is not None else None


def patient_status(ctx: PhoneContext, visit_id: str) -> dict[str, Any]:
    """Everything the phone page shows, for this visit only (no other patient's data)."""
    v: VisitView = ctx.engine.visit(visit_id)
    rooms = ctx.rooms()
    steps = []
    for s in v.steps:
        room = rooms.get(s.room_id)
        steps.append(
            {
                "label": _text(s.label),
                "room": _text(room.name) if room else None,
                "floor": room.floor_label if room else None,
                "done": s.done,
                "current": s.step_index == v.current_step and not s.done,
            }
        )
    room_id = v.room_id or (
        v.steps[v.current_step].room_id if v.current_step < len(v.steps) else None
    )
    room = rooms.get(room_id) if room_id else None
    position = wait = low = high = None
    if v.room_id and v.queue_state in ("WAITING", "CALLED", "ONGOING"):
        snap = ctx.engine.room_snapshot(v.room_id)
        for entry in [*snap.now_calling, *snap.ongoing, *snap.waiting]:
            if entry.visit_id == visit_id:
                position = entry.position
                wait, low, high = entry.estimated_wait_s, entry.wait_low_s, entry.wait_high_s
                break
    ahead = position - 1 if position is not None else None
    near = v.queue_state == "WAITING" and (
        (ahead is not None and ahead <= ctx.config.near_ahead)
        or (wait is not None and wait <= ctx.config.near_wait_s)
    )
    return {
        "visit_id": v.visit_id,
        "masked_name": v.masked_name,
        "state": v.state.value,
        "queue_state": v.queue_state,
        "ticket_number": v.ticket_number,
        "desk": v.desk,
        "call_count": v.call_count,
        "position": position,
        "ahead": ahead,
        "estimated_wait_s": wait,
        "wait_low_s": low,
        "wait_high_s": high,
        "near": near,
        "steps": steps,
        "steps_done": sum(1 for s in v.steps if s.done),
        "steps_total": len(v.steps),
        "room": {
            "room_id": room.room_id,
            "name": _text(room.name),
            "department": _text(room.department_name),
            "floor": room.floor_label,
            "prep_notes": _text(room.prep_notes),
            "has_route": bool(ctx.live_map is not None and room.node_id),
        }
        if room
        else None,
    }


# ------------------------------------------------------------------ handlers


async def login_page(request: web.Request) -> web.Response:
    return web.Response(
        text=phone_page(request.app[PHONE_KEY].config, None), content_type="text/html"
    )


async def visit_page(request: web.Request) -> web.StreamResponse:
    """GET /p/v/{visit_id}[?t=one-time-link]: the page; a link is spent at once and the
    browser sent on to the bare URL, so the token is not left in the address bar."""
    ctx = request.app[PHONE_KEY]
    visit_id = _visit_id(request)
    link = request.query.get("t")
    if link:
        try:
            session = await asyncio.to_thread(ctx.auth.redeem_link, link)
        except ApiError as e:
            log.info("phone.link_refused visit=%s reason=%s", visit_id, e.reason)
            raise web.HTTPSeeOther(f"/p/v/{visit_id}") from None
        if session.claims.visit_id != visit_id:
            raise web.HTTPSeeOther(f"/p/v/{visit_id}")
        resp = web.HTTPSeeOther(f"/p/v/{visit_id}")
        set_patient_cookie(resp, ctx.auth, session)
        raise resp
    # The chat box only where central.assistant is mounted (not in tests of the pages alone).
    chat = "phone_assistant_ask" in request.app.router.named_resources()
    page = phone_page(ctx.config, visit_id, assistant=chat)
    return web.Response(text=page, content_type="text/html")


async def login(request: web.Request) -> web.Response:
    """POST /p/login {last4, birth, visit_id?}: a phone-page session."""
    ctx = request.app[PHONE_KEY]
    try:
        check_origin(request, ctx.auth.config)
        body: PhoneLoginBody = await json_body(request, PhoneLoginBody)
        session = await asyncio.to_thread(
            ctx.auth.phone_login,
            body.last4,
            _birth(body.birth),
            client_address(request),
            body.visit_id,
        )
    except ApiError as e:
        return auth_error_response(e)
    resp = web.json_response({"url": f"/p/v/{session.claims.visit_id}"})
    set_patient_cookie(resp, ctx.auth, session)
    return resp


async def status(request: web.Request) -> web.Response:
    """GET /p/v/{visit_id}/api/status."""
    ctx = request.app[PHONE_KEY]
    try:
        claims = await patient_claims(request)
        doc = await asyncio.to_thread(patient_status, ctx, claims.visit_id)
    except ApiError as e:
        return auth_error_response(e)
    doc["session_expires_at"] = claims.exp.isoformat()
    return web.json_response(doc)


async def renew(request: web.Request) -> web.Response:
    """POST /p/v/{visit_id}/api/renew: a fresh token before the old one runs out."""
    ctx = request.app[PHONE_KEY]
    try:
        check_origin(request, ctx.auth.config)
        claims = await patient_claims(request)
        session = await asyncio.to_thread(ctx.auth.renew_patient, claims)
    except ApiError as e:
        return auth_error_response(e)
    resp = web.json_response({"session_expires_at": session.claims.exp.isoformat()})
    set_patient_cookie(resp, ctx.auth, session)
    return resp


async def logout(request: web.Request) -> web.Response:
    """POST /p/v/{visit_id}/api/logout: forget this phone's session."""
    ctx = request.app[PHONE_KEY]
    try:
        check_origin(request, ctx.auth.config)
        claims = await patient_claims(request)
        await asyncio.to_thread(ctx.auth.revoke_access, claims.jti, claims.exp, "phone_logout")
    except ApiError as e:
        return auth_error_response(e)
    resp = web.json_response({"ok": True})
    resp.del_cookie(PATIENT_COOKIE, path=f"/p/v/{claims.visit_id}")
    return resp


async def route_svg(request: web.Request) -> web.Response:
    """GET /p/v/{visit_id}/route.svg?lang=ko: the way to the current room, drawn by
    central.wayfinding (escaped by construction; shown through <img>, so nothing in it runs)."""
    from central.wayfinding.routing import build_graphs, closed_nodes, find_route
    from central.wayfinding.svg import render_route_svg

    ctx = request.app[PHONE_KEY]
    try:
        claims = await patient_claims(request)
    except ApiError as e:
        return auth_error_response(e)
    lang = request.query.get("lang", "ko")
    if lang not in ("ko", "en", "zh", "ja"):
        lang = "ko"
    if ctx.live_map is None:
        raise web.HTTPNotFound()
    live = ctx.live_map

    def draw() -> str | None:
        m, revision = live.snapshot()
        if m is None:
            return None
        v = ctx.engine.visit(claims.visit_id)
        rooms = ctx.rooms()
        target_id = v.room_id or (
            v.steps[v.current_step].room_id if v.current_step < len(v.steps) else None
        )
        target = rooms.get(target_id) if target_id else None
        if target is None or target.node_id is None:
            return None
        # From the last room done today, else from the main entrance.
        start = next((n.node_id for n in m.nodes if n.kind == "entrance"), None)
        for s in v.steps:
            done_room = rooms.get(s.room_id)
            if s.done and done_room is not None and done_room.node_id:
                start = done_room.node_id
        if start is None or start == target.node_id:
            return None
        # Closures with an `until` lapse by themselves: part of the key with the revision.
        now = ctx.engine.clock.now()
        graphs_key = revision + "|" + ",".join(sorted(closed_nodes(m, now)))
        key = (start, target.node_id, v.step_free, lang, graphs_key)
        if key not in ctx.routes_cache:
            if len(ctx.routes_cache) > 2000:
                ctx.routes_cache.clear()
            if ctx.graphs is None or ctx.graphs[0] != graphs_key:
                ctx.graphs = (graphs_key, build_graphs(m, now))
            route = find_route(ctx.graphs[1], start, target.node_id, v.step_free)
            ctx.routes_cache[key] = render_route_svg(m, route, lang=lang)
        return ctx.routes_cache[key]

    try:
        svg = await asyncio.to_thread(draw)
    except Exception:
        log.exception("phone.route_failed visit=%s", claims.visit_id)
        svg = None
    if svg is None:
        raise web.HTTPNotFound()
    return web.Response(text=svg, content_type="image/svg+xml")


async def feed(request: web.Request) -> web.StreamResponse:
    """GET /p/v/{visit_id}/ws: the patient's own status, pushed when their room's queue
    changes (and every `phone_refresh_s`). Token and Origin checked; closed when the token
    expires or is revoked."""
    ctx = request.app[PHONE_KEY]
    try:
        check_origin(request, ctx.auth.config)
        claims = await patient_claims(request)
    except ApiError as e:
        return auth_error_response(e)
    auth = ctx.auth

    def still_valid() -> datetime | None:
        now = auth.now()
        if claims.exp <= now:
            return None
        auth.revocations.ensure(now)
        if auth.revocations.revoked(
            jti=claims.jti, family=None, subject="visit:" + claims.visit_id, iat=claims.iat
        ):
            return None
        return min(claims.exp, now + auth.revocations.ttl)

    async def serve(req: web.Request) -> web.StreamResponse:
        return await _serve_feed(ctx, req, claims.visit_id)

    return await run_until_invalid(request, serve, still_valid)


async def _serve_feed(ctx: PhoneContext, request: web.Request, visit_id: str) -> web.StreamResponse:
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=1024)
    await ws.prepare(request)
    ctx.sockets.add(ws)
    hub = ctx.hub
    client = hub.connect()
    room: str | None = None
    last = ""

    async def push() -> None:
        nonlocal room, last
        try:
            doc = await asyncio.to_thread(patient_status, ctx, visit_id)
        except Rejected:
            await ws.close(code=4404, message=b"unknown visit")
            return
        now_room = doc["room"]["room_id"] if doc.get("room") else None
        if now_room != room:
            if room is not None:
                hub.unsubscribe(client, ["room:" + room])
            if now_room is not None:
                await hub.subscribe(client, {"room:" + now_room: None}, None)
            room = now_room
        text = json.dumps(doc, ensure_ascii=False, sort_keys=True)
        if text != last:
            last = text
            await ws.send_str(text)

    async def pump() -> None:
        await push()
        while True:
            try:
                await asyncio.wait_for(client.queue.get(), ctx.config.phone_refresh_s)
                while not client.queue.empty():  # one status for a burst of frames
                    client.queue.get_nowait()
            except TimeoutError:
                pass
            await push()

    async def reader() -> None:
        async for msg in ws:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break

    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [
                tg.create_task(pump(), name="phone-pump"),
                tg.create_task(reader(), name="phone-reader"),
            ]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in tasks:
                t.cancel()
    except* (ConnectionResetError, RuntimeError) as eg:
        log.info("phone.feed_ended visit=%s error=%r", visit_id, eg.exceptions[0])
    finally:
        ctx.sockets.discard(ws)
        hub.disconnect(client)
        if not ws.closed:
            await ws.close()
    return ws


async def _close_feeds(app: web.Application) -> None:
    for ws in list(app[PHONE_KEY].sockets):
        await ws.close(code=1001, message=b"server shutting down")


def install(app: web.Application, ctx: PhoneContext) -> None:
    app[PHONE_KEY] = ctx
    app.on_shutdown.append(_close_feeds)
    app.router.add_get("/p", login_page, name="phone_login_page")
    app.router.add_post("/p/login", login, name="phone_login")
    app.router.add_get("/p/v/{visit_id}", visit_page, name="phone_page")
    app.router.add_get("/p/v/{visit_id}/api/status", status, name="phone_status")
    app.router.add_post("/p/v/{visit_id}/api/renew", renew, name="phone_renew")
    app.router.add_post("/p/v/{visit_id}/api/logout", logout, name="phone_logout")
    app.router.add_get("/p/v/{visit_id}/route.svg", route_svg, name="phone_route")
    app.router.add_get("/p/v/{visit_id}/ws", feed, name="phone_feed")
