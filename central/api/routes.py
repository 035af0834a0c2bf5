"""The HTTP API under /api/v1: every route declared once in `REGISTRY`.

Handlers run engine operations in a worker thread (the engine is synchronous, one transaction
per call), hand the committed `Changes` to the publisher (MQTT + WebSocket), and answer with
a response model. Errors are raised, never answered here: `central.api.errors` maps them.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from central.api import models as m
from central.api.admin_routes import admin_routes
from central.api.errors import error_middleware
from central.api.map_routes import map_routes
from central.api.registry import (
    Authorizer,
    Call,
    Registry,
    allow_all,
    auth_middleware,
    metrics_middleware,
)
from central.api.ws import Hub, websocket_handler
from central.assistant.http import assistant_routes
from central.auth.http import actor_of
from central.bridge.fleet import Fleet
from central.bridge.publisher import ChangePublisher, SnapshotCache
from central.engine import Engine, OpResult
from central.enrolment import enrolment_routes
from protocol.journey import Trigger
from protocol.messages import DirectoryRooms, RoomQueueSnapshot
from protocol.mqtt import MqttLink

REGISTRY = Registry("/api/v1")
API_TITLE = "nfc-hospital central API"
API_VERSION = "1.0.0"
_CTX: web.AppKey[ApiContext] = web.AppKey("ctx")


@dataclass(slots=True)
class ApiContext:
    """What the handlers use."""

    engine: Engine
    publisher: ChangePublisher
    cache: SnapshotCache
    fleet: Fleet
    hub: Hub
    link: MqttLink | None = None


def _ctx(call: Call) -> ApiContext:
    return call.request.app[_CTX]


def _as_caller(call: Call) -> Any:
    """The body with `actor` set to the logged-in staff member: a client-supplied actor is
    ignored, so a hand-made request cannot write someone else's name to the audit log. With
    no login (the API alone under `allow_all`, in tests) the body's actor stands."""
    body = call.body
    user = actor_of(call.request)
    if user is None or body is None or body.actor == user:
        return body
    return body.model_copy(update={"actor": user})


async def _op(call: Call, fn: Callable[[], OpResult]) -> m.OpResultOut:
    ctx = _ctx(call)
    result = await asyncio.to_thread(fn)
    ctx.publisher.submit(result.changes)
    return m.OpResultOut(
        visit=m.VisitOut.model_validate(result.visit),
        rooms_changed=sorted(result.changes.rooms),
        announcements=list(result.changes.announcements),
    )


# ---------------------------------------------------------------------------------------------
# rooms


@REGISTRY.route("GET", "/rooms", response=DirectoryRooms, summary="Every room", tags=("rooms",))
async def list_rooms(call: Call) -> DirectoryRooms:
    """Every room (service point) with its department, floor, kind and whether it is open."""
    return await asyncio.to_thread(_ctx(call).engine.directory_rooms)


@REGISTRY.route(
    "GET",
    "/rooms/{room_id}/queue",
    response=RoomQueueSnapshot,
    summary="A room's live queue",
    tags=("rooms",),
)
async def room_queue(call: Call) -> bytes:
    """The room's current queue snapshot (the same document as the retained MQTT one:
    masked names only, with its version)."""
    _snap, data = await _ctx(call).cache.get(call.path["room_id"])
    return data


@REGISTRY.route(
    "POST",
    "/rooms/{room_id}/call-next",
    body=m.CallBody,
    response=m.OpResultOut,
    summary="Call the next patient",
    roles=m.STAFF,
    tags=("queue",),
)
async def call_next(call: Call) -> m.OpResultOut:
    """Call the first waiting patient (priority class, then arrival) to a desk. One called
    patient per desk: `desk_busy` while the desk has one, `queue_empty` when nobody waits."""
    e, b = _ctx(call).engine, _as_caller(call)
    return await _op(call, lambda: e.call_next(call.path["room_id"], actor=b.actor, desk=b.desk))


@REGISTRY.route(
    "POST",
    "/rooms/{room_id}/open",
    body=m.RoomOpenBody,
    response=m.RoomOpenOut,
    summary="Open or close a room",
    roles=m.STAFF,
    tags=("rooms",),
)
async def room_open(call: Call) -> m.RoomOpenOut:
    """Open or close a room to new check-ins; the queue stays and can still be called."""
    ctx, b, room_id = _ctx(call), _as_caller(call), call.path["room_id"]
    changes = await asyncio.to_thread(ctx.engine.set_room_open, room_id, b.open, actor=b.actor)
    ctx.publisher.submit(changes)
    return m.RoomOpenOut(room_id=room_id, open=b.open)


# ---------------------------------------------------------------------------------------------
# staff operations on visits

_VisitOp = Callable[[Engine, str, Any], OpResult]

_VISIT_OPS: list[tuple[str, type[m.ActorBody], str, _VisitOp]] = [
    (
        "call",
        m.CallBody,
        "Call this patient now, out of order",
        lambda e, v, b: e.call(v, actor=b.actor, desk=b.desk),
    ),
    (
        "recall",
        m.ActorBody,
        "Call a called patient again",
        lambda e, v, b: e.recall(v, actor=b.actor),
    ),
    (
        "miss",
        m.ActorBody,
        "The called patient did not come: back in line after N others, or no-show",
        lambda e, v, b: e.miss(v, actor=b.actor),
    ),
    (
        "no-show",
        m.ActorBody,
        "Mark a called patient a no-show",
        lambda e, v, b: e.no_show(v, actor=b.actor),
    ),
    ("start", m.ActorBody, "The exam begins", lambda e, v, b: e.start(v, actor=b.actor)),
    (
        "complete",
        m.ActorBody,
        "This step is done: next step's room, or payment",
        lambda e, v, b: e.complete(v, actor=b.actor),
    ),
    (
        "transfer",
        m.TransferBody,
        "Move to another room's queue, keeping priority and arrival order",
        lambda e, v, b: e.transfer(v, b.to_room_id, actor=b.actor),
    ),
    (
        "hold",
        m.ActorBody,
        "Park a waiting patient, keeping the place",
        lambda e, v, b: e.hold(v, actor=b.actor),
    ),
    ("release", m.ActorBody, "Back in line from hold", lambda e, v, b: e.release(v, actor=b.actor)),
    (
        "cancel",
        m.ActorBody,
        "Cancel a visit that has not started an exam",
        lambda e, v, b: e.cancel(v, actor=b.actor),
    ),
    ("pay", m.ActorBody, "Payment done", lambda e, v, b: e.pay(v, actor=b.actor)),
    (
        "finish",
        m.ActorBody,
        "Close a visit with nothing to pay",
        lambda e, v, b: e.finish(v, actor=b.actor),
    ),
    (
        "check-in",
        m.CheckInBody,
        "Queue a registered visit in its current step's room",
        lambda e, v, b: e.check_in(
            v,
            actor=b.actor,
            room_id=b.room_id,
            trigger=Trigger.PHONE if b.by_phone else Trigger.STAFF,
        ),
    ),
]


def _register_visit_op(op: str, body: type[m.ActorBody], summary: str, fn: _VisitOp) -> None:
    async def handler(call: Call) -> m.OpResultOut:
        engine = _ctx(call).engine
        return await _op(
            call, functools.partial(fn, engine, call.path["visit_id"], _as_caller(call))
        )

    handler.__doc__ = summary + "."
    REGISTRY.route(
        "POST",
        f"/visits/{{visit_id}}/{op}",
        body=body,
        response=m.OpResultOut,
        summary=summary,
        roles=m.STAFF,
        tags=("queue",),
        name=op.replace("-", "_"),
    )(handler)


for _op_name, _body, _summary, _fn in _VISIT_OPS:
    _register_visit_op(_op_name, _body, _summary, _fn)


@REGISTRY.route(
    "POST",
    "/cards/check-in",
    body=m.CardCheckInBody,
    response=m.OpResultOut,
    summary="Check a card in at a staff desk",
    roles=m.STAFF,
    tags=("queue",),
)
async def card_check_in(call: Call) -> m.OpResultOut:
    """Check in today's visit of the card read at a staff desk (the UID is hashed at once and
    never stored)."""
    e, b = _ctx(call).engine, _as_caller(call)
    return await _op(call, lambda: e.check_in_card(b.card_uid, actor=b.actor))


# ---------------------------------------------------------------------------------------------
# visits and journeys


@REGISTRY.route(
    "GET",
    "/visits",
    query=m.VisitsQuery,
    response=m.VisitPage,
    summary="Search visits",
    roles=m.VIEWERS,
    tags=("visits",),
)
async def list_visits(call: Call) -> m.VisitPage:
    """Visits of a service day (default today), optionally only those queued in a room,
    by visit_id, paged with `after`."""
    q: m.VisitsQuery = call.query
    views = await asyncio.to_thread(
        _ctx(call).engine.visits,
        service_day=q.service_day,
        room_id=q.room_id,
        after=q.after,
        limit=q.limit,
    )
    items = [m.VisitOut.model_validate(v) for v in views]
    nxt = items[-1].visit_id if len(items) == q.limit else None
    return m.VisitPage(items=items, next_after=nxt)


@REGISTRY.route(
    "GET",
    "/visits/{visit_id}",
    response=m.VisitDetail,
    summary="A visit and its journey",
    roles=m.VIEWERS,
    tags=("visits",),
)
async def get_visit(call: Call) -> m.VisitDetail:
    """One visit with every journey transition recorded for it (audit log, oldest first)."""
    engine, visit_id = _ctx(call).engine, call.path["visit_id"]

    def read() -> m.VisitDetail:
        visit = engine.visit(visit_id)
        journey: list[m.AuditOut] = []
        after = 0
        while True:  # a journey is a few dozen rows; page through to be safe
            rows = engine.audit(visit_id=visit_id, after_id=after, limit=500)
            journey.extend(m.AuditOut.model_validate(r) for r in rows)
            if len(rows) < 500:
                break
            after = rows[-1].audit_id
        return m.VisitDetail(visit=m.VisitOut.model_validate(visit), journey=journey)

    return await asyncio.to_thread(read)


# ---------------------------------------------------------------------------------------------
# stations, events, audit, dead letters


@REGISTRY.route(
    "GET",
    "/stations",
    response=m.StationsOut,
    summary="The station fleet",
    roles=m.TECH,
    tags=("stations",),
)
async def list_stations(call: Call) -> m.StationsOut:
    """Every station: sync progress from the database and health from its last status
    (online, last seen, outbox depth, oldest unsent event, readers, clock offset)."""
    ctx = _ctx(call)
    known = {s.station_id: s for s in await asyncio.to_thread(ctx.engine.stations)}
    heard = ctx.fleet.all()
    items = []
    for sid in sorted(set(known) | set(heard)):
        db, f = known.get(sid), heard.get(sid)
        st = f.status if f else None
        items.append(
            m.StationOut(
                station_id=sid,
                name=db.name if db else None,
                enabled=db.enabled if db else None,
                acked_through=db.acked_through if db else None,
                last_batch_at=db.last_batch_at if db else None,
                lease_version=db.lease_version if db else None,
                online=st.online if st else None,
                last_seen=f.last_seen if f else None,
                software_version=st.software_version if st else None,
                outbox_depth=st.outbox_depth if st else None,
                oldest_unsent_age_s=st.oldest_unsent_age_s if st else None,
                readers=list(st.readers) if st else [],
                clock_offset_ms=st.clock_offset_ms if st else None,
                alarms=list(st.alarms) if st else [],
            )
        )
    return m.StationsOut(items=items)


@REGISTRY.route(
    "GET",
    "/events",
    query=m.EventsQuery,
    response=m.EventPage,
    summary="Station events",
    roles=m.TECH,
    tags=("log",),
)
async def list_events(call: Call) -> m.EventPage:
    """Committed station events in id order, paged with `after_id`."""
    q: m.EventsQuery = call.query
    rows = await asyncio.to_thread(
        _ctx(call).engine.events, station_id=q.station_id, after_id=q.after_id, limit=q.limit
    )
    items = [m.EventOut.model_validate(r) for r in rows]
    return m.EventPage(items=items, next_after_id=items[-1].id if len(items) == q.limit else None)


@REGISTRY.route(
    "GET",
    "/audit",
    query=m.AuditQuery,
    response=m.AuditPage,
    summary="Audit log",
    roles=m.VIEWERS,
    tags=("log",),
)
async def list_audit(call: Call) -> m.AuditPage:
    """Journey transitions in id order, optionally of one visit or room, paged with
    `after_id`."""
    q: m.AuditQuery = call.query
    rows = await asyncio.to_thread(
        _ctx(call).engine.audit,
        visit_id=q.visit_id,
        room_id=q.room_id,
        after_id=q.after_id,
        limit=q.limit,
    )
    items = [m.AuditOut.model_validate(r) for r in rows]
    nxt = items[-1].audit_id if len(items) == q.limit else None
    return m.AuditPage(items=items, next_after_id=nxt)


@REGISTRY.route(
    "GET",
    "/dead-letters",
    query=m.PageQuery,
    response=m.DeadLetterPage,
    summary="Refused MQTT payloads",
    roles=m.TECH,
    tags=("log",),
)
async def list_dead_letters(call: Call) -> m.DeadLetterPage:
    """Payloads the bridge could not use (malformed, wrong station), with the reason."""
    q: m.PageQuery = call.query
    rows = await asyncio.to_thread(
        _ctx(call).engine.dead_letters, after_id=q.after_id, limit=q.limit
    )
    items = [m.DeadLetterOut.model_validate(r) for r in rows]
    return m.DeadLetterPage(
        items=items, next_after_id=items[-1].id if len(items) == q.limit else None
    )


# The help assistant's routes (central.assistant.http): in this registry so build_app installs
# them and the OpenAPI document lists them; central.app installs the service itself.
REGISTRY.routes.extend(assistant_routes())

# Station enrolment (central.enrolment): code creation, the code exchange, leave, revoke. The
# app sets `central.enrolment.SERVICE_KEY` when the config has an [enrolment] section.
enrolment_routes(REGISTRY)
map_routes(REGISTRY, lambda call: _ctx(call).engine)  # map closures (central.api.map_routes)
# Service-day settings and enrolment-code listing (central.api.admin_routes).
admin_routes(REGISTRY, lambda call: _ctx(call).engine, lambda call: _ctx(call).publisher)


@REGISTRY.route(
    "GET", "/healthz", response=m.Health, summary="Health", tags=("ops",), prefixed=False
)
async def healthz(call: Call) -> m.Health:
    """Liveness and readiness: answers 200 with `status: degraded` when the database or the
    broker is unreachable (the API still serves what it can)."""
    ctx = _ctx(call)
    try:
        day = await asyncio.to_thread(ctx.engine.service_day)
        db_ok = await asyncio.to_thread(_db_ping, ctx.engine)
    except Exception:
        day, db_ok = None, False
    mqtt_ok = bool(ctx.link and ctx.link.connected.is_set())
    online = sum(1 for e in ctx.fleet.all().values() if e.status.online)
    return m.Health(
        status="ok" if db_ok and mqtt_ok else "degraded",
        database=db_ok,
        mqtt_connected=mqtt_ok,
        service_day=day,
        stations_online=online,
        ws_clients=ctx.hub.client_count,
    )


def _db_ping(engine: Engine) -> bool:
    engine.room_ids()
    return True


# ---------------------------------------------------------------------------------------------
# the application


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of this API."""
    return REGISTRY.openapi(
        title=API_TITLE,
        version=API_VERSION,
        description="Queues, visits, stations and logs of nfc-hospital central. Every error "
        'answer is {"error": {"reason", "message_ko", "message_en", "detail", "where"}}. '
        "Staff routes take a bearer access token (POST /auth/login); `x-roles` lists the "
        'roles a route accepts. Bodies and parameters are validated strictly: "5" is not '
        "an integer and 0 is not false (422). WebSocket feed: /api/v1/ws (see docs/api.md).",
    )


def build_app(
    ctx: ApiContext, *, max_body: int = 64 * 1024, authorizer: Authorizer = allow_all
) -> web.Application:
    """The aiohttp application: API routes, OpenAPI, WebSocket, metrics."""
    app = web.Application(
        middlewares=[metrics_middleware, error_middleware, auth_middleware(authorizer)],
        client_max_size=max_body,
    )
    app[_CTX] = ctx

    async def load_room(stream: str) -> str | None:
        # A WebSocket client subscribing to a room the hub has no state for yet.
        try:
            _snap, data = await ctx.cache.get(stream.split(":", 1)[1])
        except Exception:
            return None
        return data.decode()

    ctx.hub.set_loader(load_room)
    REGISTRY.install(app, max_body)
    doc = openapi_document()

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(doc)

    async def metrics(request: web.Request) -> web.Response:
        resp = web.Response(body=generate_latest())
        resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return resp

    async def ws(request: web.Request) -> web.StreamResponse:
        return await websocket_handler(ctx.hub, request)

    async def close_ws(app: web.Application) -> None:
        ctx.hub.close_all()

    app.router.add_get("/api/v1/openapi.json", openapi, name="openapi")
    app.router.add_get("/metrics", metrics, name="metrics")
    app.router.add_get("/api/v1/ws", ws, name="ws")
    app.on_shutdown.append(close_ws)
    return app
