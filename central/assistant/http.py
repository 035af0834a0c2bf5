"""The assistant's HTTP routes, declared with the API's registry pattern.

- `POST /api/v1/assistant/ask` {question, lang, visit_id?, station_id?}: a patient-specific
  answer needs the patient's phone-page token for that visit (`Authorization: Bearer`);
  without `visit_id` the answer is general. A kiosk names its `station_id` so routes start
  where the patient stands.
- `GET /api/v1/assistant/top-questions?lang=ko`: the station Help screen's six questions.
- `POST /p/v/{visit_id}/api/ask` {question, lang}: the same for the phone page's chat box,
  authenticated by the page's own cookie (scoped to /p/v/{visit_id}).
- `/assistant/static/assistant.js`: the chat box / Help buttons script for the pages.

`install(app, service)` mounts all of it; `assistant_routes()` lists the registry routes (for
the OpenAPI document).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web
from pydantic import Field

from central.api.errors import InvalidInput, Unavailable
from central.api.registry import Call, Registry, Route
from central.assistant.models import Answer, Lang, TopQuestions
from central.assistant.service import AssistantService
from central.auth.errors import NotAuthenticated
from central.auth.http import AUTH_KEY, check_origin, client_address
from protocol.base import Model, StationId, VisitId
from protocol.ids import is_valid_id

STATIC_DIR = Path(__file__).parent / "static"
ASSISTANT_KEY: web.AppKey[AssistantService] = web.AppKey("nfch_assistant")
PATIENT_COOKIE = "nfch_p"  # the phone page's cookie (central.web.phone)

REGISTRY = Registry("/api/v1")


class AskBody(Model):
    """A question for the help assistant."""

    # The hard cap only bounds the body; the configured limit (300) answers question_too_long.
    question: str = Field(max_length=2000, description="The question, as typed or tapped.")
    lang: Lang = Field(default="ko", description="Language to answer in.")
    visit_id: VisitId | None = Field(
        default=None,
        description="The patient's visit, for live answers; needs that visit's phone-page "
        "token as `Authorization: Bearer`.",
    )
    station_id: StationId | None = Field(
        default=None, description="The station asking (routes start there)."
    )


class PhoneAskBody(Model):
    """A question from the phone page's chat box."""

    question: str = Field(max_length=2000, description="The question.")
    lang: Lang = Field(default="ko", description="Language to answer in.")


class TopQuery(Model):
    """Query of the top-questions route."""

    lang: Lang = Field(default="ko", description="Language of the question texts.")


def _service(request: web.Request) -> AssistantService:
    service = request.app.get(ASSISTANT_KEY)
    if service is None:  # the routes are in the API registry; the service is installed apart
        raise Unavailable("the assistant is not running on this server")
    return service


async def _verify_patient(request: web.Request, token: str, visit_id: str) -> None:
    """Raise NotAuthenticated (401) unless `token` is a live phone-page token for `visit_id`."""
    auth = request.app.get(AUTH_KEY)
    if auth is None:
        raise NotAuthenticated("patient sessions are not enabled on this server", "visit_id")
    if not token:
        raise NotAuthenticated(
            "a visit's answers need its phone-page token", "header.Authorization"
        )
    now = auth.now()
    if auth.revocations.stale(now):
        await asyncio.to_thread(auth.revocations.reload, now)
    auth.authenticate_patient(token, visit_id)


def _bearer(request: web.Request) -> str:
    value = request.headers.get("Authorization", "")
    return value[7:].strip() if value.lower().startswith("bearer ") else ""


@REGISTRY.route(
    "POST",
    "/assistant/ask",
    body=AskBody,
    response=Answer,
    summary="Ask the help assistant",
    tags=("assistant",),
    name="assistant_ask",
    errors=(401, 422, 429),
)
async def ask(call: Call) -> Answer:
    """Answer a patient's question: the kind of answer, the text in the asked language and in
    all four, its sources, a route when there is a place to go, and suggested questions.
    Medical questions get "please ask your doctor or nurse"; when nothing matches, the answer
    says so and points to the nearest help desk. Live answers (wait, next step, where to go)
    need `visit_id` and that visit's phone-page token."""
    body: AskBody = call.body
    service = _service(call.request)
    if body.visit_id is not None:
        await _verify_patient(call.request, _bearer(call.request), body.visit_id)
        rate_key = "visit:" + body.visit_id
    else:
        rate_key = "addr:" + client_address(call.request)
    node = None
    if body.station_id is not None:
        try:
            node = await asyncio.to_thread(service.station_node, body.station_id)
        except KeyError:
            raise InvalidInput(f"no station {body.station_id!r}", "body.station_id") from None
    return await service.ask(
        body.question, body.lang, rate_key=rate_key, visit_id=body.visit_id, station_node=node
    )


@REGISTRY.route(
    "GET",
    "/assistant/top-questions",
    query=TopQuery,
    response=TopQuestions,
    summary="The Help screen's questions",
    tags=("assistant",),
    name="assistant_top_questions",
)
async def top_questions(call: Call) -> TopQuestions:
    """The six questions for the station's "도움말 / Help" screen, in rank order; send a
    question's `text` to /assistant/ask when its button is pressed."""
    q: TopQuery = call.query
    return _service(call.request).top_questions(q.lang)


async def phone_ask(request: web.Request) -> web.Response:
    """POST /p/v/{visit_id}/api/ask {question, lang}: the phone page's chat box."""
    visit_id = request.match_info["visit_id"]
    if not is_valid_id(visit_id):
        raise web.HTTPNotFound()
    auth = request.app.get(AUTH_KEY)
    if auth is None:
        raise NotAuthenticated("patient sessions are not enabled on this server")
    check_origin(request, auth.config)
    await _verify_patient(request, request.cookies.get(PATIENT_COOKIE, ""), visit_id)
    raw = await request.content.read(8193)
    if len(raw) > 8192:
        raise InvalidInput("the body is larger than 8192 bytes", "body")
    try:
        body = PhoneAskBody.model_validate_json(raw or b"{}")
    except ValueError as e:
        raise InvalidInput(str(e).splitlines()[0], "body") from None
    answer = await _service(request).ask(
        body.question, body.lang, rate_key="visit:" + visit_id, visit_id=visit_id
    )
    return web.Response(body=answer.model_dump_json().encode(), content_type="application/json")


def assistant_routes() -> list[Route]:
    """The assistant's registry routes (add them to the API's OpenAPI document)."""
    return list(REGISTRY.routes)


def install(app: web.Application, service: AssistantService, *, max_body: int = 16384) -> None:
    """Mount the assistant's routes, the phone route and the script on `app` (before start).
    The registry routes are skipped when the API's `build_app` already installed them (the
    API registry holds them, for its OpenAPI document)."""
    app[ASSISTANT_KEY] = service
    if "assistant_ask" not in app.router.named_resources():
        REGISTRY.install(app, max_body)
    app.router.add_post("/p/v/{visit_id}/api/ask", phone_ask, name="phone_assistant_ask")
    app.router.add_static("/assistant/static", STATIC_DIR, name="assistant_static")

    async def close(app: web.Application) -> None:
        await service.close()

    app.on_cleanup.append(close)
