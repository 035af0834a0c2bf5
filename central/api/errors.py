"""The API's one error format and the one place every failure becomes an HTTP answer.

Every error body is `{"error": {"reason", "message_ko", "message_en", "detail", "where"}}`:
- `Rejected` from the engine -> its own status and reason;
- `ApiError` (bad JSON, validation, unknown route ...) -> its status;
- `StorageError` -> 503 (the database is unreachable or locked: try again);
- aiohttp's own 404/405 -> the same format;
- anything else -> 500 `internal`, logged with its traceback, nothing of it in the body.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import Field, ValidationError

from central.engine import Rejected, StorageError
from central.metrics import BAD_INPUT, HTTP_ERRORS
from protocol.base import Model

log = logging.getLogger("central.api")


class ErrorDetail(Model):
    """What went wrong, for machines (`reason`, `where`) and for people (messages)."""

    reason: str = Field(description="Machine-readable reason code (e.g. queue_empty).")
    message_ko: str = Field(description="Korean explanation.")
    message_en: str = Field(description="English explanation.")
    detail: str = Field(default="", description="Specifics: the validation message, the route.")
    where: str = Field(
        default="", description="Where the problem is: body.field path, query.name, path.name."
    )


class ErrorBody(Model):
    """Every error answer of the API."""

    error: ErrorDetail = Field(description="The error.")


class ApiError(Exception):
    """An error the API answers with its own status (base of the API's hierarchy)."""

    status = 400
    reason = "bad_request"
    message_ko = "요청이 올바르지 않습니다."
    message_en = "The request is not valid."

    def __init__(self, detail: str = "", where: str = "") -> None:
        self.detail = detail
        self.where = where
        super().__init__(f"{self.reason}: {detail}")


class InvalidInput(ApiError):
    """A body, query or path parameter failed validation."""

    status = 422
    reason = "invalid_input"
    message_ko = "입력이 올바르지 않습니다."
    message_en = "The request has an invalid value."


class NotJson(ApiError):
    """The body is not a JSON object."""

    status = 400
    reason = "not_json"
    message_ko = "요청 본문이 JSON 형식이 아닙니다."
    message_en = "The request body is not a JSON object."


class NotFound(ApiError):
    """No such route."""

    status = 404
    reason = "not_found"
    message_ko = "없는 주소입니다."
    message_en = "There is no such API route."


class MethodNotAllowed(ApiError):
    """The route exists, not with this method."""

    status = 405
    reason = "method_not_allowed"
    message_ko = "지원하지 않는 요청 방식입니다."
    message_en = "This route does not take this method."


class Forbidden(ApiError):
    """The caller's role may not use this route (used once auth lands, issue #7)."""

    status = 403
    reason = "forbidden"
    message_ko = "이 작업을 할 권한이 없습니다."
    message_en = "Your role may not do this."


class Unavailable(ApiError):
    """The database is unreachable or busy."""

    status = 503
    reason = "unavailable"
    message_ko = "잠시 후 다시 시도해 주세요."
    message_en = "The server is busy or its database is unreachable; try again shortly."


def from_validation(exc: ValidationError, prefix: str) -> InvalidInput:
    """The first validation error as `InvalidInput`, its field path prefixed (`body.desk`)."""
    first = exc.errors(include_url=False)[0]
    where = ".".join([prefix, *(str(p) for p in first["loc"])])
    detail = first["msg"]
    if exc.error_count() > 1:
        detail += f" (and {exc.error_count() - 1} more errors)"
    return InvalidInput(detail, where)


def error_response(
    status: int,
    reason: str,
    message_ko: str,
    message_en: str,
    detail: str = "",
    where: str = "",
) -> web.Response:
    HTTP_ERRORS.labels(reason=reason).inc()
    body = ErrorBody(
        error=ErrorDetail(
            reason=reason, message_ko=message_ko, message_en=message_en, detail=detail, where=where
        )
    )
    return web.Response(
        status=status, body=body.model_dump_json().encode(), content_type="application/json"
    )


def _api_error(e: ApiError) -> web.Response:
    if isinstance(e, InvalidInput | NotJson):
        BAD_INPUT.labels(source="http", reason=e.reason).inc()
    return error_response(e.status, e.reason, e.message_ko, e.message_en, e.detail, e.where)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into the one error format (the only place that does)."""
    try:
        return await handler(request)
    except Rejected as e:
        return error_response(e.status, e.reason, e.message_ko, e.message_en)
    except ApiError as e:
        return _api_error(e)
    except StorageError as e:
        log.error("api.storage_error path=%s error=%s", request.path, e)
        return _api_error(Unavailable())
    except web.HTTPMethodNotAllowed as e:
        return _api_error(
            MethodNotAllowed(
                f"{request.method} {request.path}; allowed: {', '.join(sorted(e.allowed_methods))}"
            )
        )
    except web.HTTPNotFound:
        return _api_error(NotFound(f"{request.method} {request.path}", "path"))
    except web.HTTPRequestEntityTooLarge as e:
        return _api_error(InvalidInput(e.text or "request body too large", "body"))
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return error_response(
            e.status, "http_error", "요청을 처리할 수 없습니다.", e.reason, e.text or ""
        )
    except Exception:
        # Logged with the traceback here; the client learns nothing about the internals.
        log.exception("api.unexpected_error method=%s path=%s", request.method, request.path)
        return error_response(
            500,
            "internal",
            "서버 오류가 발생했습니다. 잠시 후 다시 시도해 주세요.",
            "Internal server error; it was logged. Try again shortly.",
        )
