"""Encode messages to JSON bytes and decode untrusted bytes into validated messages.

`decode` never lets a bare KeyError, ValueError, UnicodeDecodeError or RecursionError escape:
whatever the payload, the result is a valid model or a DecodeError naming the field path.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from protocol.base import SCHEMA_MAJOR, Message
from protocol.errors import DecodeError
from protocol.messages import DirectoryDocument

M = TypeVar("M", bound=BaseModel)

DEFAULT_MAX_BYTES = 8 * 1024 * 1024
DIRECTORY_MAX_BYTES = 48 * 1024 * 1024
"""Directory documents may be larger: today's cards of a 16,000-visit day already pass 8 MB
(about 490 bytes per card), and the document admits 50,000 cards."""
_MAX_DEPTH = 64

_directory_adapter: TypeAdapter[DirectoryDocument] = TypeAdapter(DirectoryDocument)


def encode(message: BaseModel) -> bytes:
    """Compact UTF-8 JSON of a message."""
    return message.model_dump_json().encode("utf-8")


def _reject_constant(name: str) -> Any:
    raise DecodeError("not_json", "$", f"{name} is not allowed in JSON payloads")


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of parsed JSON, stopping early past `limit` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    deepest = 0
    while stack:
        item, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, d + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, d + 1) for v in item)
    return deepest


def parse_json(payload: bytes | str, max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, Any]:
    """Parse an untrusted payload into a JSON object, or raise DecodeError."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8", errors="surrogatepass")
    if len(payload) > max_bytes:
        raise DecodeError("too_large", "$", f"payload is {len(payload)} bytes; limit {max_bytes}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DecodeError("not_utf8", "$", f"invalid UTF-8 at byte {e.start}") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise DecodeError("not_json", f"line {e.lineno} column {e.colno}", e.msg) from None
    except RecursionError:
        raise DecodeError("too_deep", "$", "JSON nesting is too deep") from None
    if not isinstance(value, dict):
        raise DecodeError("not_object", "$", f"expected a JSON object, got {type(value).__name__}")
    if _depth(value, _MAX_DEPTH) > _MAX_DEPTH:
        raise DecodeError("too_deep", "$", f"JSON nesting deeper than {_MAX_DEPTH} levels")
    return value


def _check_version(obj: dict[str, Any]) -> None:
    version = obj.get("schema_version")
    if isinstance(version, str) and version.partition(".")[0].isdigit():
        major = int(version.partition(".")[0])
        if major != SCHEMA_MAJOR:
            raise DecodeError(
                "unsupported_schema_version",
                "schema_version",
                f"message is schema {version}; this reader understands {SCHEMA_MAJOR}.x only",
            )


def _from_validation_error(exc: ValidationError) -> DecodeError:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"]) or "$"
    detail = first["msg"]
    if exc.error_count() > 1:
        detail += f" (and {exc.error_count() - 1} more errors)"
    return DecodeError("invalid", where, detail)


def decode(cls: type[M], payload: bytes | str, max_bytes: int = DEFAULT_MAX_BYTES) -> M:
    """Decode and validate `payload` as `cls`; raises DecodeError on anything else."""
    obj = parse_json(payload, max_bytes)
    if issubclass(cls, Message):
        _check_version(obj)
    try:
        return cls.model_validate(obj)
    except ValidationError as e:
        raise _from_validation_error(e) from None
    except RecursionError:
        raise DecodeError("too_deep", "$", "payload nesting is too deep") from None


def decode_directory(
    payload: bytes | str, max_bytes: int = DIRECTORY_MAX_BYTES
) -> DirectoryDocument:
    """Decode any directory document (rooms, cards, config, map, routes) by its `kind`."""
    obj = parse_json(payload, max_bytes)
    _check_version(obj)
    try:
        return _directory_adapter.validate_python(obj)
    except ValidationError as e:
        raise _from_validation_error(e) from None
