"""Auth on the HTTP server: cookies, the /auth routes, the registry authorizer (role and
CSRF checks per route), security headers on every answer, and the WebSocket guard.

Cookies (all HttpOnly except the CSRF one, all SameSite=Strict, Secure unless configured off):
- `nfch_at`  staff access token (JWT, ≤ 15 min), Path=/
- `nfch_rt`  refresh token (opaque, rotated on every use), Path=/auth
- `nfch_csrf` CSRF token, readable by the page's script, echoed in `X-CSRF-Token`
- `nfch_dev` "this browser logged in as U before" (exempts it from U's account-wide lock)

API clients without a browser may send `Authorization: Bearer <access token>` instead of the
cookie; such requests cannot be forged cross-site, so they skip the CSRF check.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import Field, ValidationError

from central.api.errors import ApiError, InvalidInput, NotJson, error_response, from_validation
from central.api.registry import Route
from central.auth.config import AuthConfig
from central.auth.errors import (
    AuthError,
    CsrfRejected,
    NotAuthenticated,
    RefreshReused,
    RoleForbidden,
    Throttled,
    TokenRevoked,
)
from central.auth.roles import Action, allows
from central.auth.service import AuthService, StaffSession
from central.auth.tokens import StaffClaims, token_hash
from central.metrics import BAD_INPUT
from protocol.base import Model

log = logging.getLogger("central.auth")

ACCESS_COOKIE = "nfch_at"
REFRESH_COOKIE = "nfch_rt"
CSRF_COOKIE = "nfch_csrf"
DEVICE_COOKIE = "nfch_dev"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WS_RECHECK_S = 5.0

AUTH_KEY: web.AppKey[AuthService] = web.AppKey("nfch_auth")
_CLAIMS: web.RequestKey[StaffClaims] = web.RequestKey("nfch_staff_claims", StaffClaims)
_VIA_COOKIE: web.RequestKey[bool] = web.RequestKey("nfch_via_cookie", bool)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # The phone page's one-time link token must never leave in a Referer.
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class LoginBody(Model):
    """Staff login."""

    username: str = Field(min_length=1, max_length=64, description="User name.")
    password: str = Field(min_length=1, max_length=256, description="Password.")


def auth_of(request: web.Request) -> AuthService:
    return request.app[AUTH_KEY]


# ------------------------------------------------------------------ origin and CSRF


def allowed_origins(request: web.Request, config: AuthConfig) -> set[str]:
    """The configured origins, or the origin this request was addressed to."""
    if config.allowed_origins:
        return {o.rstrip("/") for o in config.allowed_origins}
    return {f"{request.scheme}://{request.host}"}


def request_origin(request: web.Request) -> str | None:
    """The Origin header, or the origin of the Referer when a browser left Origin out."""
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        return origin.rstrip("/")
    referer = request.headers.get("Referer")
    if referer:
        parts = urlsplit(referer)
        if parts.scheme and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
    return None


def check_origin(request: web.Request, config: AuthConfig) -> None:
    """Refuse a browser request from a foreign (or unknown) origin."""
    origin = request_origin(request)
    if origin is None or origin not in allowed_origins(request, config):
        raise CsrfRejected(f"origin {origin!r} is not allowed", "header.Origin")


def check_csrf(request: web.Request, service: AuthService, family: str | None) -> None:
    """Origin check plus the double-submit token, which must also be the one of this login."""
    check_origin(request, service.config)
    header = request.headers.get(CSRF_HEADER, "")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    expected = service.signer.csrf_for(family) if family else ""
    if not (
        header
        and expected
        and hmac.compare_digest(header, cookie)
        and hmac.compare_digest(header, expected)
    ):
        raise CsrfRejected("missing or wrong CSRF token", f"header.{CSRF_HEADER}")


# ------------------------------------------------------------------ principals


async def staff_claims(request: web.Request) -> StaffClaims:
    """The verified staff caller of this request (raises AuthError)."""
    if _CLAIMS in request:
        return request[_CLAIMS]
    service = auth_of(request)
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        token, via_cookie = header[7:].strip(), False
    else:
        token, via_cookie = request.cookies.get(ACCESS_COOKIE, ""), True
    if not token:
        raise NotAuthenticated("no access token")
    now = service.now()
    if service.revocations.stale(now):
        await asyncio.to_thread(service.revocations.reload, now)
    claims = service.authenticate_staff(token)
    request[_CLAIMS] = claims
    request[_VIA_COOKIE] = via_cookie
    return claims


def actor_of(request: web.Request) -> str | None:
    """The logged-in staff member's user name, once the authorizer has run for this request
    (None for open routes). The API should write this, not a client-supplied `actor`, to the
    audit log."""
    return request[_CLAIMS].username if _CLAIMS in request else None


async def require_staff(request: web.Request, action: Action) -> StaffClaims:
    """The staff caller, who must be allowed `action`; CSRF-checked for state changes."""
    claims = await staff_claims(request)
    if not allows(claims.role, action):
        raise RoleForbidden(f"role {claims.role} may not {action.value}")
    if request.method not in SAFE_METHODS and request.get(_VIA_COOKIE):
        check_csrf(request, auth_of(request), claims.fam)
    return claims


def make_authorizer(service: AuthService) -> Callable[[web.Request, Route], Awaitable[None]]:
    """The registry authorizer: role check on every route that names roles, CSRF on
    cookie-authenticated state changes."""

    async def authorize(request: web.Request, route: Route) -> None:
        claims = await staff_claims(request)
        if claims.role not in route.roles:
            raise RoleForbidden(f"role {claims.role} may not call {route.name}")
        if route.method not in SAFE_METHODS and request.get(_VIA_COOKIE):
            check_csrf(request, service, claims.fam)

    return authorize


# ------------------------------------------------------------------ cookies


def set_cookie(
    resp: web.StreamResponse,
    config: AuthConfig,
    name: str,
    value: str,
    *,
    path: str,
    max_age: int,
    httponly: bool = True,
) -> None:
    resp.set_cookie(
        name,
        value,
        path=path,
        max_age=max(0, max_age),
        httponly=httponly,
        secure=config.cookie_secure,
        samesite="Strict",
    )


def set_session_cookies(
    resp: web.StreamResponse, service: AuthService, session: StaffSession
) -> None:
    cfg, now = service.config, service.now()
    set_cookie(resp, cfg, ACCESS_COOKIE, session.access_token, path="/", max_age=cfg.access_ttl_s)
    life = int((session.refresh_expires_at - now).total_seconds())
    set_cookie(resp, cfg, REFRESH_COOKIE, session.refresh_token, path="/auth", max_age=life)
    set_cookie(resp, cfg, CSRF_COOKIE, session.csrf, path="/", max_age=life, httponly=False)


def clear_session_cookies(resp: web.StreamResponse) -> None:
    resp.del_cookie(ACCESS_COOKIE, path="/")
    resp.del_cookie(REFRESH_COOKIE, path="/auth")
    resp.del_cookie(CSRF_COOKIE, path="/")


def _session_body(session: StaffSession) -> dict[str, Any]:
    c = session.claims
    return {
        "user_id": c.sub,
        "username": c.username,
        "name": c.name,
        "role": c.role,
        "csrf": session.csrf,
        "access_expires_at": c.exp.isoformat(),
        "session_expires_at": session.refresh_expires_at.isoformat(),
    }


def auth_error_response(e: ApiError) -> web.Response:
    """The API's one error format, for the auth and phone routes that answer errors
    themselves (to add Retry-After or clear cookies)."""
    if isinstance(e, InvalidInput | NotJson):
        BAD_INPUT.labels(source="http", reason=e.reason).inc()
    resp = error_response(e.status, e.reason, e.message_ko, e.message_en, e.detail, e.where)
    if isinstance(e, Throttled):
        resp.headers["Retry-After"] = str(e.retry_after_s)
    return resp


async def json_body(request: web.Request, model: type[Model], limit: int = 4096) -> Any:
    raw = await request.content.read(limit + 1)
    if len(raw) > limit:
        raise InvalidInput(f"the body is larger than {limit} bytes", "body")
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as e:
        if any(err["type"] == "json_invalid" for err in e.errors()):
            raise NotJson("not a JSON object", "body") from None
        raise from_validation(e, "body") from None


def client_address(request: web.Request) -> str:
    """The caller's address: the peer, or, when the peer is a trusted proxy, the last
    X-Forwarded-For hop that is not one (anything further left could be forged)."""
    peer = request.remote or "unknown"
    trusted = set(auth_of(request).config.trusted_proxies)
    if peer not in trusted:
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",")]
    for hop in reversed([h for h in hops if h]):
        if hop not in trusted:
            return hop[:64]
    return peer


# ------------------------------------------------------------------ routes


async def login(request: web.Request) -> web.Response:
    """POST /auth/login {username, password}: start a login, set the cookies."""
    service = auth_of(request)
    try:
        check_origin(request, service.config)
        body: LoginBody = await json_body(request, LoginBody)
        session = await asyncio.to_thread(
            service.login,
            body.username,
            body.password,
            client_address(request),
            request.cookies.get(DEVICE_COOKIE),
        )
    except ApiError as e:
        return auth_error_response(e)
    resp = web.json_response(_session_body(session))
    set_session_cookies(resp, service, session)
    device = await asyncio.to_thread(service.device_cookie, session.claims.username)
    set_cookie(
        resp,
        service.config,
        DEVICE_COOKIE,
        device,
        path="/auth",
        max_age=service.config.device_cookie_days * 86400,
    )
    return resp


async def refresh(request: web.Request) -> web.Response:
    """POST /auth/refresh: rotate the refresh token, issue a new access token."""
    service = auth_of(request)
    presented = request.cookies.get(REFRESH_COOKIE, "")
    try:
        if not presented:
            raise NotAuthenticated("no refresh token")
        family_csrf = await asyncio.to_thread(service.family_csrf, presented)
        check_origin(request, service.config)
        header = request.headers.get(CSRF_HEADER, "")
        if not (family_csrf and header and hmac.compare_digest(header, family_csrf)):
            raise CsrfRejected("missing or wrong CSRF token", f"header.{CSRF_HEADER}")
        session = await asyncio.to_thread(service.refresh, presented)
    except AuthError as e:
        resp = auth_error_response(e)
        if isinstance(e, RefreshReused | TokenRevoked | NotAuthenticated):
            clear_session_cookies(resp)
        return resp
    except ApiError as e:
        return auth_error_response(e)
    resp = web.json_response(_session_body(session))
    set_session_cookies(resp, service, session)
    return resp


async def logout(request: web.Request) -> web.Response:
    """POST /auth/logout: end this login everywhere it is used."""
    service = auth_of(request)
    presented = request.cookies.get(REFRESH_COOKIE)
    claims: StaffClaims | None = None
    try:
        try:
            claims = await staff_claims(request)
            family: str | None = claims.fam
        except AuthError:
            family = None
        if family is None and presented:
            row = await asyncio.to_thread(service.store.refresh_row, _hash(presented))
            family = row.family_id if row is not None else None
        check_csrf(request, service, family)
        await asyncio.to_thread(service.logout, presented, claims)
    except ApiError as e:
        return auth_error_response(e)
    resp = web.json_response({"ok": True})
    clear_session_cookies(resp)
    return resp


def _hash(token: str) -> str:
    return token_hash(token)


async def me(request: web.Request) -> web.Response:
    """GET /auth/me: who is logged in (401 when nobody or the access token expired)."""
    service = auth_of(request)
    try:
        c = await staff_claims(request)
    except ApiError as e:
        return auth_error_response(e)
    return web.json_response(
        {
            "user_id": c.sub,
            "username": c.username,
            "name": c.name,
            "role": c.role,
            "csrf": service.signer.csrf_for(c.fam),
            "access_expires_at": c.exp.isoformat(),
            "actions": sorted(a.value for a in Action if allows(c.role, a)),
        }
    )


# ------------------------------------------------------------------ headers and WebSocket


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every answer (pages, static files, errors) gets the headers."""
    for k, v in SECURITY_HEADERS.items():
        response.headers.setdefault(k, v)
    if request.path.startswith(("/auth", "/api", "/staff", "/p")):
        response.headers.setdefault("Cache-Control", "no-store")


def ws_guard(service: AuthService, path: str = "/api/v1/ws") -> Any:
    """Middleware: the staff WebSocket needs a valid token and, from a browser, an allowed
    Origin (no cross-site WebSocket hijacking). The connection is closed when the token
    expires or is revoked; the dashboard reconnects with a fresh one and resumes by seq."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path != path:
            return await handler(request)
        claims = await staff_claims(request)
        if request.get(_VIA_COOKIE) or "Origin" in request.headers:
            check_origin(request, service.config)
        if not allows(claims.role, Action.QUEUE_READ):
            raise RoleForbidden(f"role {claims.role} may not read queues")
        return await run_until_invalid(request, handler, lambda: _staff_valid(service, claims))

    return middleware


def _staff_valid(service: AuthService, claims: StaffClaims) -> datetime | None:
    """None when the token is no longer good, else when to look again."""
    now = service.now()
    if claims.exp <= now:
        return None
    service.revocations.ensure(now)
    if service.revocations.revoked(
        jti=claims.jti, family=claims.fam, subject=claims.sub, iat=claims.iat
    ):
        return None
    return min(claims.exp, now + service.revocations.ttl)


async def run_until_invalid(
    request: web.Request,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    still_valid: Callable[[], datetime | None],
) -> web.StreamResponse:
    """Serve a WebSocket handler while `still_valid` says so; then cut the connection."""

    async def watch() -> None:
        while True:
            until = await asyncio.to_thread(still_valid)
            if until is None:
                log.info("ws.auth_ended remote=%s", request.remote)
                if request.transport is not None:
                    request.transport.close()
                return
            # Local revocations (logout on this worker) are seen at the next look: look often;
            # a look is a cache check, the database only when the cache is stale.
            wait = max(0.5, (until - datetime.now(until.tzinfo)).total_seconds())
            await asyncio.sleep(min(wait, WS_RECHECK_S))

    async def serve() -> web.StreamResponse:
        return await handler(request)

    async with asyncio.TaskGroup() as tg:
        served = tg.create_task(serve(), name="ws-serve")
        watcher = tg.create_task(watch(), name="ws-auth-watch")
        response = await served
        watcher.cancel()
    return response


PRUNE_EVERY_S = 3600.0


def pruning(service: AuthService) -> Callable[[web.Application], Any]:
    """cleanup_ctx: an hourly task, owned by the app's lifetime, that deletes expired auth
    rows. Not essential: a failed round is logged and the next one tries again."""

    async def ctx(app: web.Application) -> Any:
        async def loop() -> None:
            while True:
                await asyncio.sleep(PRUNE_EVERY_S)
                try:
                    await asyncio.to_thread(service.store.prune, service.now())
                    log.info("auth.pruned")
                except Exception:
                    log.exception("auth.prune_failed")

        task = asyncio.create_task(loop(), name="auth-prune")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return ctx


def install(app: web.Application, service: AuthService) -> None:
    """Mount /auth routes, the WebSocket guard and the security headers on `app`
    (before it starts). Pass `make_authorizer(service)` to `build_app` for the API routes."""
    app[AUTH_KEY] = service
    app.router.add_post("/auth/login", login, name="auth_login")
    app.router.add_post("/auth/refresh", refresh, name="auth_refresh")
    app.router.add_post("/auth/logout", logout, name="auth_logout")
    app.router.add_get("/auth/me", me, name="auth_me")
    app.middlewares.append(ws_guard(service))
    app.on_response_prepare.append(add_security_headers)
    app.cleanup_ctx.append(pruning(service))
