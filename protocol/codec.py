"""Encode messages to JSON bytes and decode untrusted bytes into validated messages.

`decode` never lets a bare KeyError, ValueError, UnicodeDecodeError or RecursionError escape:
whatever the payload, the result is a valid model or a DecodeError naming the field path.

`decode_directory_streaming` reads a cards document (10,000 cards: 4 MB of JSON, about 100 MB
as one tree of dicts and then of models) without building it whole: its cards are validated
one at a time as they are iterated, so a reader that stores them as they come needs memory
for one card, not for the document.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator
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
#
# Walked over the payload's bytes, not over one string of the whole document (which is twice
# the payload with Korean names, and 1.5 times that while UTF-8 is decoded): each value is
# decoded from a small window of bytes. JSON's structure is ASCII and a UTF-8 multi-byte
# sequence never contains an ASCII byte, so the walk finds the same structure in the bytes.

_WHITESPACE = re.compile(rb"[ \t\n\r]*")  # what the json module skips between tokens
_WINDOW = 2048  # bytes decoded to read one value; grown while the value goes on past it
_UTF8_CHUNK = 64 * 1024
_CARDS_MAX = next(
    m.max_length for m in DirectoryCards.model_fields["cards"].metadata if isinstance(m, MaxLen)
)
_STRICT_JSON = json.JSONDecoder(parse_constant=_reject_constant)


class _Malformed(Exception):
    """The walk met something it does not read: the whole decode words the error."""


def _skip(data: bytes, i: int) -> int:
    """The index of the first non-whitespace byte at or after `i`."""
    m = _WHITESPACE.match(data, i)
    return i if m is None else m.end()


def _value(data: bytes, i: int) -> tuple[Any, int]:
    """The JSON value starting at byte `i` of (valid UTF-8) `data`, and the index after it."""
    size = _WINDOW
    n = len(data)
    while True:
        stop = min(n, i + size)
        while stop < n and data[stop] & 0xC0 == 0x80:
            stop -= 1  # never cut a character
        text = data[i:stop].decode("utf-8")
        try:
            value, end = _STRICT_JSON.raw_decode(text)
        except json.JSONDecodeError:
            if stop == n:
                raise _Malformed from None
            size *= 8  # the value may go on past the window
            continue
        if end == len(text) and stop < n:
            size *= 8  # a number may go on past the window
            continue
        consumed = end if text.isascii() else len(text[:end].encode("utf-8"))
        return value, i + consumed


def _is_utf8(data: bytes) -> bool:
    """True if `data` is valid UTF-8, checked a chunk at a time (no string of it all)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    n = len(data)
    try:
        for start in range(0, n, _UTF8_CHUNK):
            decoder.decode(view[start : start + _UTF8_CHUNK], final=start + _UTF8_CHUNK >= n)
    except UnicodeDecodeError:
        return False
    return True


@dataclass
class CardsStream:
    """A cards document whose cards are validated one at a time, as they are iterated.

    `envelope` is the document with `cards=[]`, already validated; `count` cards follow.
    Iterating yields each `CardEntry` or raises the DecodeError `decode_directory` would give
    for that card (`cards.cards.1234.card_hash: ...`): a consumer that stores the cards as
    they come must do so in a transaction it rolls back on that error. The JSON of the whole
    document was checked when the stream was made, so nothing else can fail half-way.
    Holds the payload's bytes, and while iterating one card.
    """

    envelope: DirectoryCards
    count: int
    _data: bytes = field(repr=False)
    _start: int = field(repr=False)  # index just after the `[` of the cards array

    kind: Literal["cards"] = "cards"

    @property
    def version(self) -> int:
        return self.envelope.version

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[CardEntry]:
        data = self._data
        i = self._start
        for index in range(self.count):
            obj, i = _value(data, _skip(data, i))
            try:
                yield CardEntry.model_validate(obj)
            except ValidationError as e:
                raise _from_validation_error(e, ("cards", "cards", index)) from None
            i = _skip(data, i) + 1  # the `,` (or the closing `]`)


@dataclass
class _Layout:
    """The top level of a JSON object as `_scan` found it."""

    fields: dict[str, Any]  # every key but a `cards` array, parsed
    cards_start: int | None = None  # just after the `[` of the (last) `cards` array
    cards_count: int = 0
    too_deep: bool = False


def _scan(data: bytes) -> _Layout:
    """Walk a JSON object's top level, parsing each value but a `cards` array, whose elements
    are parsed one at a time (for their depth) and dropped.

    Raises _Malformed (or RecursionError) when `data` is not a well-formed JSON object.
    """
    layout = _Layout(fields={})
    i = _skip(data, 0)
    if data[i : i + 1] != b"{":
        raise _Malformed
    i = _skip(data, i + 1)
    if data[i : i + 1] == b"}":
        i += 1
    else:
        while True:
            if data[i : i + 1] != b'"':
                raise _Malformed
            key, i = _value(data, i)
            i = _skip(data, i)
            if data[i : i + 1] != b":":
                raise _Malformed
            i = _skip(data, i + 1)
            if key == "cards" and data[i : i + 1] == b"[":
                layout.fields.pop("cards", None)
                layout.cards_start = i + 1
                i = _skip_array(data, i, layout)
            else:
                layout.fields[key], i = _value(data, i)
                if key == "cards":  # a later `cards` that is not an array replaces the array
                    layout.cards_start = None
                    layout.cards_count = 0
            i = _skip(data, i)
            c = data[i : i + 1]
            if c == b"}":
                i += 1
                break
            if c != b",":
                raise _Malformed
            i = _skip(data, i + 1)
    if _skip(data, i) != len(data):
        raise _Malformed  # extra data
    return layout


def _deeper_than(value: Any, limit: int) -> bool:
    """`_depth(value, limit) > limit`, faster for a card: scalars are not visited one by one.

    Recursive, but never deeper than `limit` calls.
    """
    if isinstance(value, dict):
        children: Iterable[Any] = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return limit < 1
    if limit < 2:
        return limit < 1 or bool(value)
    for child in children:
        if isinstance(child, dict | list) and _deeper_than(child, limit - 1):
            return True
    return False


def _skip_array(data: bytes, i: int, layout: _Layout) -> int:
    """Count the elements of the array at `data[i]` (one parsed at a time); its end index."""
    element_limit = _MAX_DEPTH - 2  # the document is level 1, the array level 2
    n = 0
    i = _skip(data, i + 1)
    if data[i : i + 1] == b"]":
        layout.cards_count = 0
        return i + 1
    while True:
        value, i = _value(data, i)
        n += 1
        if not layout.too_deep and _deeper_than(value, element_limit):
            layout.too_deep = True  # reported after the walk, as parse_json does
        i = _skip(data, i)
        c = data[i : i + 1]
        if c == b"]":
            layout.cards_count = n
            return i + 1
        if c != b",":
            raise _Malformed
        i = _skip(data, i + 1)


def decode_directory_streaming(
    payload: bytes | str, max_bytes: int = DIRECTORY_MAX_BYTES
) -> DirectoryDocument | CardsStream:
    """Like `decode_directory`, but a cards document comes back as a `CardsStream`.

    Every check `decode_directory` makes is made, in the same order and with the same
    DecodeError (size, UTF-8, JSON anywhere in the document, nesting depth, schema version,
    the envelope's fields, the number of cards) before this returns; only each card's own
    validation is left to the iteration. Other kinds are decoded whole, as by
    `decode_directory`; so is a payload that is not well-formed JSON, for its exact error.
    """
    if isinstance(payload, str):
        payload = payload.encode("utf-8", errors="surrogatepass")
    if len(payload) > max_bytes:
        raise DecodeError("too_large", "$", f"payload is {len(payload)} bytes; limit {max_bytes}")
    try:
        layout = _scan(payload) if _is_utf8(payload) else None
    except (_Malformed, RecursionError, DecodeError):
        layout = None
    if layout is None or (layout.fields.get("kind") != "cards" and layout.cards_start is not None):
        # Not UTF-8 or not well-formed JSON (the whole decode fails with the exact error,
        # wherever it is), or a `cards` array in another kind of document: the whole path.
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
    return CardsStream(doc, layout.cards_count, payload, start)
