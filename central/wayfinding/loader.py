"""Read and validate a map file, reporting every problem with its line or element path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from central.wayfinding.errors import MapFileError
from protocol.hospital_map import HospitalMap

MAX_MAP_BYTES = 16 * 1024 * 1024


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "$"


def validation_problems(error: ValidationError) -> list[str]:
    """One line per problem: pydantic's field errors, and each finding of the map's own checks."""
    out: list[str] = []
    for err in error.errors(include_url=False):
        ctx: dict[str, Any] = err.get("ctx") or {}
        if err["type"] == "map_invalid" and isinstance(ctx.get("problems"), list):
            out.extend(f"{p['path']}: {p['message']}" for p in ctx["problems"])
            continue
        value = err.get("input")
        shown = ""
        if isinstance(value, str | int | float | bool) and len(repr(value)) <= 60:
            shown = f" (got {value!r})"
        out.append(f"{_loc(err['loc'])}: {err['msg']}{shown}")
    return out


def parse_map(text: str, source: str = "<map>") -> HospitalMap:
    """Validate map JSON text; raise MapFileError listing every problem."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise MapFileError(source, [f"line {e.lineno} column {e.colno}: {e.msg}"]) from None
    if not isinstance(data, dict):
        raise MapFileError(source, [f"$: expected a JSON object, got {type(data).__name__}"])
    try:
        return HospitalMap.model_validate(data)
    except ValidationError as e:
        raise MapFileError(source, validation_problems(e)) from None


def load_map(path: str | Path) -> HospitalMap:
    """Read a map file (JSON, UTF-8); raise MapFileError listing every problem."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise MapFileError(str(p), [f"cannot read the file: {e.strerror or e}"]) from None
    if len(raw) > MAX_MAP_BYTES:
        raise MapFileError(str(p), [f"the file is {len(raw)} bytes; the limit is {MAX_MAP_BYTES}"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MapFileError(str(p), [f"byte {e.start}: not UTF-8 text"]) from None
    return parse_map(text, str(p))


def check_map_file(path: str | Path) -> list[str]:
    """Every problem of a map file, one line each; empty when the map is valid."""
    try:
        load_map(path)
    except MapFileError as e:
        return e.problems
    return []
