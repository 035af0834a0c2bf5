"""A small route registry: method, path, body/query/response models, summary, roles.

Routes are declared once (`Registry.route`); the registry installs them in aiohttp with the
validation wrapper, and generates the OpenAPI 3.1 document from the same declarations and
the pydantic models' JSON Schemas, so the document cannot drift from the code.

`roles` names who may call a route. Auth is issue #7: until it lands `allow_all` is the
authorizer and every route is open; the role check is attached here, per route, so auth only
has to supply a real authorizer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from central.api.errors import ErrorBody, InvalidInput, NotJson, from_validation
from central.metrics import HTTP_REQUESTS
from protocol.base import ID_PATTERN
from protocol.ids import is_valid_id

_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(slots=True)
class Call:
    """What a route handler gets: the request and its validated parts."""

    request: web.Request
    path: dict[str, str]
    body: Any = None
    query: Any = None


RouteHandler = Callable[[Call], Awaitable[BaseModel | bytes]]
"""Returns a response model, or JSON bytes already encoded (shared cached snapshots)."""


@dataclass(frozen=True, slots=True)
class Route:
    """One API operation."""

    method: str
    path: str
    name: str
    summary: str
    handler: RouteHandler
    response: type[BaseModel]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    roles: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    description: str = ""
    errors: tuple[int, ...] = field(default=())

    @property
    def path_params(self) -> list[str]:
        return _PARAM.findall(self.path)


Authorizer = Callable[[web.Request, Route], Awaitable[None]]


async def allow_all(request: web.Request, route: Route) -> None:
    """The authorizer until staff login lands (issue #7): every route is open."""
    return None


class Registry:
    """Every route of the API, in declaration order."""

    def __init__(self, prefix: str = "/api/v1") -> None:
        self.prefix = prefix
        self.routes: list[Route] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        response: type[BaseModel],
        summary: str,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        roles: tuple[str, ...] = (),
        tags: tuple[str, ...] = (),
        errors: tuple[int, ...] = (),
        name: str | None = None,
        prefixed: bool = True,
    ) -> Callable[[RouteHandler], RouteHandler]:
        """Decorator: declare `handler` as `METHOD prefix+path`."""

        def add(handler: RouteHandler) -> RouteHandler:
            self.routes.append(
                Route(
                    method=method.upper(),
                    path=self.prefix + path if prefixed else path,
                    name=name or handler.__name__,
                    summary=summary,
                    handler=handler,
                    response=response,
                    body=body,
                    query=query,
                    roles=roles,
                    tags=tags,
                    description=(handler.__doc__ or "").strip(),
                    errors=errors,
                )
            )
            return handler

        return add

    def install(self, app: web.Application, max_body: int) -> None:
        """Add every route to `app` behind the validation wrapper."""
        for r in self.routes:
            app.router.add_route(r.method, r.path, _wrap(r, max_body), name=r.name)

    # ------------------------------------------------------------------ OpenAPI

    def openapi(self, *, title: str, version: str, description: str = "") -> dict[str, Any]:
        """The OpenAPI 3.1 document of every route, from the models' JSON Schemas."""
        wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = []
        for b in self._models("body"):
            wanted.append((b, "validation"))
        error_model: type[BaseModel] = ErrorBody
        for out in [*self._models("response"), error_model]:
            wanted.append((out, "serialization"))
        refs, top = models_json_schema(wanted, ref_template="#/components/schemas/{model}")
        paths: dict[str, dict[str, Any]] = {}
        for r in self.routes:
            op: dict[str, Any] = {
                "operationId": r.name,
                "summary": r.summary,
                "tags": list(r.tags),
                "parameters": [
                    {
                        "name": p,
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": ID_PATTERN},
                    }
                    for p in r.path_params
                ]
                + _query_parameters(r.query),
                "responses": {
                    "200": {
                        "description": r.response.__doc__.strip().splitlines()[0]
                        if r.response.__doc__
                        else "OK",
                        "content": {
                            "application/json": {"schema": refs[(r.response, "serialization")]}
                        },
                    },
                    **{
                        str(code): {
                            "description": _ERROR_TEXT.get(code, "Error") + " (the error format).",
                            "content": {
                                "application/json": {"schema": refs[(ErrorBody, "serialization")]}
                            },
                        }
                        for code in _error_statuses(r)
                    },
                },
            }
            if r.description:
                op["description"] = r.description
            if r.roles:
                op["x-roles"] = list(r.roles)
            if r.body is not None:
                op["requestBody"] = {
                    "required": False,
                    "content": {"application/json": {"schema": refs[(r.body, "validation")]}},
                }
            paths.setdefault(r.path, {})[r.method.lower()] = op
        return {
            "openapi": "3.1.0",
            "info": {"title": title, "version": version, "description": description},
            "paths": paths,
            "components": {"schemas": top.get("$defs", {})},
        }

    def _models(self, kind: str) -> set[type[BaseModel]]:
        found: set[type[BaseModel]] = set()
        for r in self.routes:
            m = getattr(r, kind)
            if m is not None:
                found.add(m)
        return found


_ERROR_TEXT = {
    400: "The body is not a JSON object",
    401: "No, expired or revoked access token",
    403: "The caller's role, or the engine, does not allow this",
    404: "No such room, visit, station or item",
    409: "Refused in the current state (queue empty, desk busy, ...)",
    422: "A body, query or path value is invalid",
    429: "Too many attempts; Retry-After says when to try again",
    503: "The database is unreachable or busy; try again",
}


def _error_statuses(r: Route) -> list[int]:
    """Every error status the route can answer (each in the one error format): invalid input
    and an unreachable database anywhere, refusals where a thing is named, auth where roles
    are, plus the route's own `errors`."""
    codes = {422, 503, *r.errors}
    if r.body is not None:
        codes.add(400)
    if r.body is not None or r.path_params:
        codes |= {403, 404, 409}
    if r.roles:
        codes |= {401, 403}
    return sorted(codes)


def _query_parameters(model: type[BaseModel] | None) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    props = schema.get("properties", {})
    required = set(schema.get("required", []))
    params = []
    for name, prop in props.items():
        prop = dict(prop)
        description = prop.pop("description", "")
        prop.pop("title", None)
        params.append(
            {
                "name": name,
                "in": "query",
                "required": name in required,
                "description": description,
                "schema": prop,
            }
        )
    return params


async def _read_body(request: web.Request, model: type[BaseModel], max_body: int) -> Any:
    raw = await request.content.read(max_body + 1)
    if len(raw) > max_body:
        raise InvalidInput(f"the body is larger than {max_body} bytes", "body")
    if not raw.strip():
        raw = b"{}"
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise NotJson(str(e), "body") from None
    if not isinstance(data, dict):
        raise NotJson(f"expected a JSON object, got {type(data).__name__}", "body")
    try:
        # Strict: the documented JSON types only (0 is not false, "5" is not 5).
        return model.model_validate_json(raw, strict=True)
    except ValidationError as e:
        raise from_validation(e, "body") from None


def _parse_query(request: web.Request, model: type[BaseModel]) -> Any:
    data: dict[str, str] = {}
    for key in request.query:
        values = request.query.getall(key)
        if len(values) > 1:
            raise InvalidInput(f"{key} given {len(values)} times", f"query.{key}")
        data[key] = values[0]
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise from_validation(e, "query") from None


def _wrap(route: Route, max_body: int) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        path = dict(request.match_info)
        for name, value in path.items():
            if not is_valid_id(value):
                raise InvalidInput(
                    f"{value!r} is not a valid id (lower-case letters, digits, - and _)",
                    f"path.{name}",
                )
        call = Call(request, path)
        if route.query is not None:
            call.query = _parse_query(request, route.query)
        elif request.query:
            raise InvalidInput(
                f"this route takes no query parameters, got {sorted(request.query)}", "query"
            )
        if route.body is not None:
            call.body = await _read_body(request, route.body, max_body)
        result = await route.handler(call)
        body = result if isinstance(result, bytes) else result.model_dump_json().encode()
        return web.Response(body=body, content_type="application/json")

    handler.route_spec = route  # type: ignore[attr-defined]
    return handler


def route_of(request: web.Request) -> Route | None:
    """The registry route a request matched (None for static routes and 404s)."""
    try:
        handler = request.match_info.handler
    except AttributeError:
        return None
    spec = getattr(handler, "route_spec", None)
    return spec if isinstance(spec, Route) else None


def auth_middleware(authorizer: Authorizer) -> Any:
    """Runs `authorizer` for every registry route that names roles (a no-op until #7)."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        route = route_of(request)
        if route is not None and route.roles:
            await authorizer(request, route)
        return await handler(request)

    return middleware


@web.middleware
async def metrics_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Count every answer by route name and status (outermost: sees the error answers too)."""
    route = route_of(request)
    name = route.name if route else (request.match_info.route.name or "unmatched")
    response = await handler(request)
    HTTP_REQUESTS.labels(route=name, status=str(response.status)).inc()
    return response
