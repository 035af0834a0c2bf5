"""Mount auth, the dashboard and the phone page on central's aiohttp app.

`central.app.Central` (or a test) builds the API app with
`build_app(ctx, authorizer=make_authorizer(auth))` and then calls `attach(app, ctx, auth, cfg)`
before the app starts.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from central.api.routes import ApiContext
from central.auth import http as auth_http
from central.auth.service import AuthService
from central.web import admin, analytics, phone, staff
from central.web.config import WebConfig
from central.web.live_map import LiveMap

STATIC_DIR = Path(__file__).parent / "static"


def attach(
    app: web.Application, ctx: ApiContext, auth: AuthService, config: WebConfig
) -> LiveMap | None:
    """Add /auth, /staff, /p and /static to `app`. Returns the live map the phone page draws
    routes on (None without `config.map_file`), for the assistant to share."""
    auth_http.install(app, auth)
    staff.install(app, ctx.engine, config)
    admin.install(app)
    analytics.install(app)
    live = LiveMap(ctx.engine.db, config.map_file) if config.map_file is not None else None
    phone.install(
        app,
        phone.PhoneContext(engine=ctx.engine, auth=auth, config=config, hub=ctx.hub, live_map=live),
    )
    app.router.add_static("/static", STATIC_DIR, name="static", append_version=False)
    return live
