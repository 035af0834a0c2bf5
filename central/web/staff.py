"""Staff pages and the few staff endpoints the API does not have: patient search (ticket
number, name, registration number) and one-time phone-page links."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import qrcode
import qrcode.image.svg
from aiohttp import web
from sqlalchemy import and_, or_, select

from central.api.errors import InvalidInput
from central.api.models import VisitOut
from central.auth.http import AUTH_KEY, require_staff
from central.auth.roles import Action
from central.engine import Engine, Rejected
from central.store.schema import patients, queue_entries, visits
from central.web.config import WebConfig
from central.web.pages import staff_dashboard, staff_login
from protocol.ids import is_valid_id

ENGINE_KEY: web.AppKey[Engine] = web.AppKey("nfch_web_engine")
WEB_CONFIG_KEY: web.AppKey[WebConfig] = web.AppKey("nfch_web_config")
SEARCH_LIMIT = 30


def search_visits(engine: Engine, q: str) -> list[VisitOut]:
    """Today's visits whose ticket number, registration number or name matches `q`."""
    day = engine.service_day()
    q = q.strip()
    like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    conds = [
        patients.c.registration_no.ilike(q + "%", escape="\\")
        if q
        else patients.c.registration_no.is_(None),
        patients.c.name.like(like, escape="\\"),
    ]
    if q.isdigit() and len(q) <= 5:
        conds.append(
            visits.c.visit_id.in_(
                select(queue_entries.c.visit_id).where(
                    and_(
                        queue_entries.c.service_day == day,
                        queue_entries.c.ticket_number == int(q),
                    )
                )
            )
        )
    stmt = (
        select(visits.c.visit_id)
        .select_from(visits.join(patients, visits.c.patient_id == patients.c.patient_id))
        .where(and_(visits.c.service_day == day, or_(*conds)))
        .order_by(visits.c.visit_id)
        .limit(SEARCH_LIMIT)
    )
    with engine.db.read() as conn:
        ids = list(conn.execute(stmt).scalars().all())
    out = []
    for visit_id in ids:
        try:
            out.append(VisitOut.model_validate(engine.visit(visit_id)))
        except Rejected:
            continue  # gone between the two reads
    return out


async def search(request: web.Request) -> web.Response:
    """GET /staff/api/search?q=..."""
    await require_staff(request, Action.PATIENT_SEARCH)
    q = request.query.get("q", "")
    if not 1 <= len(q.strip()) <= 64:
        raise InvalidInput("give 1 to 64 characters to search for", "query.q")
    found = await asyncio.to_thread(search_visits, request.app[ENGINE_KEY], q)
    return web.json_response({"items": [v.model_dump(mode="json") for v in found]})


def _qr_svg(text: str) -> str:
    img = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    buf = io.BytesIO()
    img.save(buf)
    return buf.getvalue().decode()


async def phone_link(request: web.Request) -> web.Response:
    """POST /staff/api/visits/{visit_id}/phone-link: a one-time link (and its QR code) that
    opens this patient's phone page, for a patient at the desk without the phone login."""
    await require_staff(request, Action.PHONE_LINK)
    visit_id = request.match_info["visit_id"]
    if not is_valid_id(visit_id):
        raise InvalidInput("not a visit id", "path.visit_id")
    engine = request.app[ENGINE_KEY]
    await asyncio.to_thread(engine.visit, visit_id)  # Rejected unknown_visit -> 404
    auth = request.app[AUTH_KEY]
    token, claims = await asyncio.to_thread(auth.make_link, visit_id)
    url = f"{request.scheme}://{request.host}/p/v/{visit_id}?t={token}"
    svg = await asyncio.to_thread(_qr_svg, url)
    body: dict[str, Any] = {"url": url, "expires_at": claims.exp.isoformat(), "qr_svg": svg}
    return web.json_response(body)


async def login_page(request: web.Request) -> web.Response:
    return web.Response(text=staff_login(request.app[WEB_CONFIG_KEY]), content_type="text/html")


async def dashboard(request: web.Request) -> web.Response:
    return web.Response(text=staff_dashboard(request.app[WEB_CONFIG_KEY]), content_type="text/html")


async def root(request: web.Request) -> web.Response:
    raise web.HTTPFound("/staff")


def install(app: web.Application, engine: Engine, config: WebConfig) -> None:
    app[ENGINE_KEY] = engine
    app[WEB_CONFIG_KEY] = config
    app.router.add_get("/", root, name="root")
    app.router.add_get("/staff", dashboard, name="staff_dashboard")
    app.router.add_get("/staff/login", login_page, name="staff_login")
    app.router.add_get("/staff/api/search", search, name="staff_search")
    app.router.add_post(
        "/staff/api/visits/{visit_id}/phone-link", phone_link, name="staff_phone_link"
    )
