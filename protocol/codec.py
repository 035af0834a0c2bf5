"""Encode messages to JSON bytes and decode untrusted bytes into validated messages.

`decode` never lets a bare KeyError, ValueError, UnicodeDecodeError or RecursionError escape:
whatever the payload, the result is a valid model or a DecodeError naming the field path.

`decode_directory_streaming` reads a cards document (10,000 cards: 4 MB of JSON, about 100 MB
as one tree of dicts and then of models) without building it whole: its cards are validated
one at a time as they are iterated, so a reader that stores them as they come needs memory
for one card, not for the document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from annotated_types import MaxLen
from pydantic import BaseModel, TypeAdapter, ValidationError

from protocol.base import SCHEMA_MAJOR, Message
from protocol.errors import DecodeError
from protocol.messages import CardEntry, DirectoryCards, DirectoryDocument

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


def _from_validation_error(exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> DecodeError:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in (*prefix, *first["loc"])) or "$"
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


# --- a cards document, card by card -----------------------------------------------------------

_WHITESPACE = re.compile(r"[ \t\n\r]*")  # what the json module skips between tokens


def _skip(text: str, i: int) -> int:
    """The index of the first non-whitespace character at or after `i`."""
    m = _WHITESPACE.match(text, i)
    return i if m is None else m.end()


_CARDS_MAX = next(
    m.max_length for m in DirectoryCards.model_fields["cards"].metadata if isinstance(m, MaxLen)
)


@dataclass
class CardsStream:
    """A cards document whose cards are validated one at a time, as they are iterated.

    `envelope` is the document with `cards=[]`, already validated; `count` cards follow.
    Iterating yields each `CardEntry` or raises the DecodeError `decode_directory` would give
    for that card (`cards.cards.1234.card_hash: ...`): a consumer that stores the cards as
    they come must do so in a transaction it rolls back on that error. The JSON of the whole
    document was checked when the stream was made, so nothing else can fail half-way.
    """

    envelope: DirectoryCards
    count: int
    _text: str = field(repr=False)
    _start: int = field(repr=False)  # index just after the `[` of the cards array

    kind: Literal["cards"] = "cards"

    @property
    def version(self) -> int:
        return self.envelope.version

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[CardEntry]:
        text, skip = self._text, _skip
        i = self._start
        for index in range(self.count):
            i = skip(text, i)
            obj, i = _STRICT_JSON.raw_decode(text, i)
            try:
                yield CardEntry.model_validate(obj)
            except ValidationError as e:
                raise _from_validation_error(e, ("cards", "cards", index)) from None
            i = skip(text, i) + 1  # the `,` (or the closing `]`)


_STRICT_JSON = json.JSONDecoder(parse_constant=_reject_constant)


@dataclass
class _Layout:
    """The top level of a JSON object as `_scan` found it."""

    fields: dict[str, Any]  # every key but a `cards` array, parsed
    cards_start: int | None = None  # just after the `[` of the (last) `cards` array
    cards_count: int = 0
    too_deep: bool = False


def _scan(text: str) -> _Layout | None:
    """Walk a JSON object's top level, parsing each value but a `cards` array, whose elements
    are parsed one at a time (for their depth) and dropped.

    None when the text is not a well-formed object in the way the walk expects: the caller
    then parses it whole with `parse_json` for the exact error. A JSONDecodeError from inside
    a value is the one `json.loads` gives (same scanner, same absolute position).
    """
    skip, decode = _skip, _STRICT_JSON.raw_decode
    layout = _Layout(fields={})
    i = skip(text, 0)
    if text[i : i + 1] != "{":
        return None
    i = skip(text, i + 1)
    if text[i : i + 1] == "}":
        i += 1
    else:
        while True:
            if text[i : i + 1] != '"':
                return None
            key, i = decode(text, i)
            i = skip(text, i)
            if text[i : i + 1] != ":":
                return None
            i = skip(text, i + 1)
            if key == "cards" and text[i : i + 1] == "[":
                layout.fields.pop("cards", None)
                layout.cards_start = i + 1
                end = _skip_array(text, i, layout)
                if end is None:
                    return None
                i = end
            else:
                value, i = decode(text, i)
                layout.fields[key] = value
                if key == "cards":  # a later `cards` that is not an array replaces the array
                    layout.cards_start = None
                    layout.cards_count = 0
            i = skip(text, i)
            c = text[i : i + 1]
            if c == "}":
                i += 1
                break
            if c != ",":
                return None
            i = skip(text, i + 1)
    if skip(text, i) != len(text):
        return None  # extra data
    return layout


def _skip_array(text: str, i: int, layout: _Layout) -> int | None:
    """Count the elements of the array at `text[i]` (one parsed at a time); its end index."""
    skip, decode = _skip, _STRICT_JSON.raw_decode
    element_limit = _MAX_DEPTH - 2  # the document is level 1, the array level 2
    n = 0
    i = skip(text, i + 1)
    if text[i : i + 1] == "]":
        layout.cards_count = 0
        return i + 1
    while True:
        value, i = decode(text, i)
        n += 1
        if not layout.too_deep and _depth(value, element_limit) > element_limit:
            layout.too_deep = True  # reported after the walk, as parse_json does
        i = skip(text, i)
        c = text[i : i + 1]
        if c == "]":
            layout.cards_count = n
            return i + 1
        if c != ",":
            return None
        i = skip(text, i + 1)
        if text[i : i + 1] == "]":
            return None  # a trailing comma: json.loads words that error itself


def decode_directory_streaming(
    payload: bytes | str, max_bytes: int = DIRECTORY_MAX_BYTES
) -> DirectoryDocument | CardsStream:
    """Like `decode_directory`, but a cards document comes back as a `CardsStream`.

    Every check `decode_directory` makes is made, in the same order and with the same
    DecodeError (size, UTF-8, JSON anywhere in the document, nesting depth, schema version,
    the envelope's fields, the number of cards) before this returns; only each card's own
    validation is left to the iteration. Other kinds are decoded whole, as by
    `decode_directory`.
    """
    if isinstance(payload, str):
        payload = payload.encode("utf-8", errors="surrogatepass")
    if len(payload) > max_bytes:
        raise DecodeError("too_large", "$", f"payload is {len(payload)} bytes; limit {max_bytes}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DecodeError("not_utf8", "$", f"invalid UTF-8 at byte {e.start}") from None
    try:
        layout = _scan(text)
    except json.JSONDecodeError as e:
        raise DecodeError("not_json", f"line {e.lineno} column {e.colno}", e.msg) from None
    except RecursionError:
        raise DecodeError("too_deep", "$", "JSON nesting is too deep") from None
    if layout is None or (layout.fields.get("kind") != "cards" and layout.cards_start is not None):
        # Not the shape walked here (malformed JSON; a `cards` array in another kind): the
        # whole path, which also words any error exactly as before.
        return decode_directory(payload, max_bytes)
    fields = layout.fields
    if layout.too_deep or _depth(fields, _MAX_DEPTH) > _MAX_DEPTH:
        raise DecodeError("too_deep", "$", f"JSON nesting deeper than {_MAX_DEPTH} levels")
    _check_version(fields)
    start = layout.cards_start
    try:
        doc = _directory_adapter.validate_python(
            fields if start is None else {**fields, "cards": []}
        )
    except ValidationError as e:
        raise _from_validation_error(e) from None
    if start is None or not isinstance(doc, DirectoryCards):
        return doc  # another kind (`fields` was the whole document)
    if layout.cards_count > _CARDS_MAX:
        raise DecodeError(
            "invalid",
            "cards.cards",
            f"List should have at most {_CARDS_MAX} items after validation, "
            f"not {layout.cards_count}",
        )
    return CardsStream(doc, layout.cards_count, text, start)
