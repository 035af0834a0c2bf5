"""A cards document read card by card: the same cards and the same errors as the whole decode,
with memory for one card beyond the document's text."""

from __future__ import annotations

import json
import re
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.codec import CardsStream, decode_directory, decode_directory_streaming, encode
from protocol.errors import DecodeError
from protocol.messages import DirectoryCards
from tests.support.edge_world import cards, config, rooms, routes

DOC = cards(3, version=7)
OBJ = json.loads(encode(DOC))


def read_all(payload: bytes | str) -> DirectoryCards | object:
    """The streaming decode run to the end, as a comparable value."""
    doc = decode_directory_streaming(payload)
    if isinstance(doc, CardsStream):
        return doc.envelope.model_copy(update={"cards": list(doc)})
    return doc


def outcome(decoder, payload):
    """(result, None) or (None, (reason, where, detail without its '(and N more' count))."""
    try:
        return decoder(payload), None
    except DecodeError as e:
        return None, (e.reason, e.where, re.sub(r" \(and \d+ more errors?\)$", "", e.detail))


def assert_same_as_whole(payload: bytes | str) -> None:
    assert outcome(read_all, payload) == outcome(decode_directory, payload)


def test_the_cards_come_one_by_one_and_equal_the_whole_decode():
    doc = cards(50, version=3)
    stream = decode_directory_streaming(encode(doc))
    assert isinstance(stream, CardsStream)
    assert stream.kind == "cards"
    assert stream.version == 3
    assert len(stream) == 50
    assert stream.envelope == doc.model_copy(update={"cards": []})
    assert list(stream) == doc.cards
    assert list(stream) == doc.cards  # it can be read again


@pytest.mark.parametrize("doc", [rooms(), config(), routes(), cards(0)], ids=lambda d: d.kind)
def test_other_documents_decode_as_before(doc):
    assert read_all(encode(doc)) == doc


def mutated(change, doc: DirectoryCards = DOC) -> str:
    obj = json.loads(encode(doc))
    change(obj)
    return json.dumps(obj, ensure_ascii=False)


def _set(path, value):
    def change(obj):
        *parents, last = path
        for p in parents:
            obj = obj[p]
        obj[last] = value

    return change


def _drop(key):
    return lambda obj: obj.pop(key)


@pytest.mark.parametrize(
    "payload",
    [
        mutated(_set(["cards", 1, "card_hash"], "not-a-hash")),
        mutated(_set(["cards", 2, "steps"], [])),
        mutated(_set(["cards", 0], 5)),
        mutated(_set(["cards", 2, "surprise"], 1)),
        mutated(_set(["cards"], {"a": 1})),
        mutated(_set(["cards"], None)),
        mutated(_drop("cards")),
        mutated(_drop("version")),
        mutated(_drop("kind")),
        mutated(_set(["version"], 0)),
        mutated(_set(["kind"], "rooms")),
        mutated(_set(["schema_version"], "2.0")),
        mutated(_set(["service_day"], "yesterday")),
        mutated(_set(["surprise"], [1, 2])),
        mutated(_set(["cards", 1, "steps", 0, "label"], json.loads("[" * 70 + "]" * 70))),
        mutated(_set(["surprise"], json.loads("[" * 70 + "]" * 70))),
        # both an invalid envelope field and an invalid card: the envelope's error comes first
        mutated(lambda o: (_set(["version"], -1)(o), _set(["cards", 0, "priority"], 99)(o))),
    ],
)
def test_invalid_documents_give_the_same_error_as_the_whole_decode(payload):
    assert outcome(read_all, payload)[1] is not None
    assert_same_as_whole(payload)


def test_where_names_the_card_and_its_field():
    payload = mutated(_set(["cards", 2, "card_hash"], "x"))
    stream = decode_directory_streaming(payload)
    assert isinstance(stream, CardsStream)  # the envelope is fine: the stream is made
    seen = []
    with pytest.raises(DecodeError) as info:
        seen.extend(stream)
    assert len(seen) == 2
    assert info.value.reason == "invalid"
    assert info.value.where == "cards.cards.2.card_hash"


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"   ",
        b"[1, 2]",
        b"{not json",
        b'{"kind": "cards", "cards": [1, 2,]}',
        b'{"kind": "cards", "cards": [1 2]}',
        b'{"kind": "cards", "cards": [{"a": NaN}]}',
        b'{"kind": "cards", "version": Infinity, "cards": []}',
        b'{"kind": "cards", "cards": [], }',
        b'{"kind": "cards", "cards": []} extra',
        b'{"kind": "cards" "cards": []}',
        b'{"kind": "cards", "cards": [{"x": "unterminated}]}',
        b'{"kind": "cards", "cards": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}",
        b'{"kind": "cards", "cards": [' + b"[" * 70 + b"]" * 70 + b', {"x": 1]}',
        b"\xff\xfe{}",
        b'{"cards": [], "kind": "rooms", "version": 1, "rooms": []}',
        b'{"cards": [{}]}',
    ],
)
def test_malformed_payloads_give_the_same_error_as_the_whole_decode(payload):
    assert outcome(decode_directory, payload)[1] is not None
    assert_same_as_whole(payload)


def test_key_order_whitespace_and_repeated_keys_read_as_json_does():
    obj = json.loads(encode(DOC))
    reordered = {"cards": obj["cards"], **{k: v for k, v in obj.items() if k != "cards"}}
    assert read_all(json.dumps(reordered, indent=3)) == DOC
    # Repeated keys: the last one counts, for `cards` as for any other key.
    body = json.dumps(obj["cards"][:1])
    repeated = encode(DOC).decode().replace('"cards":[', f'"cards":{body},"version":2,"cards":[')
    assert_same_as_whole(repeated)
    assert read_all(repeated).version == 2
    cards_then_null = encode(DOC).decode()[:-1] + ',"cards":null}'
    assert_same_as_whole(cards_then_null)


def test_too_many_cards_is_refused_before_any_card_is_read():
    one = json.dumps(OBJ["cards"][0])
    head = json.dumps({k: v for k, v in OBJ.items() if k != "cards"})[:-1]
    payload = f'{head}, "cards": [{",".join([one] * 50_001)}]}}'
    with pytest.raises(DecodeError) as info:
        decode_directory_streaming(payload)
    assert (info.value.reason, info.value.where) == ("invalid", "cards.cards")
    assert info.value.detail == "List should have at most 50000 items after validation, not 50001"


def test_the_size_limit_applies_as_before():
    with pytest.raises(DecodeError) as info:
        decode_directory_streaming(encode(cards(30)), max_bytes=1000)
    assert info.value.reason == "too_large"


json_text = st.text(alphabet=st.sampled_from(list('{}[],:"\\ 0123456789.-eE+ntrufalsx김')))


# The walk decodes each value from a window of bytes and checks UTF-8 a chunk at a time; tiny
# sizes put every boundary in the middle of values, numbers and Korean characters.
SIZES = [(2048, 64 * 1024), (16, 7), (5, 2)]


@pytest.mark.parametrize(("window", "chunk"), SIZES)
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_corrupted_documents_give_the_same_error_as_the_whole_decode(window, chunk, data):
    raw = encode(DOC)
    at = data.draw(st.integers(0, len(raw)))
    cut = data.draw(st.integers(0, 3))
    insert = data.draw(
        json_text.filter(lambda s: len(s) <= 3).map(str.encode)
        | st.binary(max_size=3)  # bytes that may not be UTF-8, or cut a character
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("protocol.codec._WINDOW", window)
        mp.setattr("protocol.codec._UTF8_CHUNK", chunk)
        assert_same_as_whole(raw[:at] + insert + raw[at + cut :])


@pytest.mark.parametrize(("window", "chunk"), SIZES)
def test_values_longer_than_the_window_read_whole(window, chunk, monkeypatch):
    monkeypatch.setattr("protocol.codec._WINDOW", window)
    monkeypatch.setattr("protocol.codec._UTF8_CHUNK", chunk)
    doc = cards(40, version=123456789)
    assert isinstance(decode_directory_streaming(encode(doc)), CardsStream)  # not the whole path
    assert read_all(encode(doc)) == doc
    for change in (
        _set(["cards", 5, "masked_name"], "김" * 3000 + "*"),
        _set(["cards", 7, "priority"], 12345678901234567890),
        _set(["cards", 7, "priority"], 1.5e300),
    ):
        payload = mutated(change, doc)
        assert outcome(read_all, payload)[1] is not None
        assert_same_as_whole(payload)
    long_label = mutated(_set(["cards", 39, "steps", 0, "label", "ko"], "영상" * 999), doc)
    assert read_all(long_label) == decode_directory(long_label)


def test_reading_a_day_of_cards_holds_one_card_not_the_document():
    payload = encode(cards(10_000))
    tracemalloc.start()
    try:
        stream = decode_directory_streaming(payload)
        assert isinstance(stream, CardsStream)
        made = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        n = 0
        for card in stream:
            n += len(card.model_dump_json())
        read = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert n > len(payload) * 0.9
    # Beyond the payload it is given (4 MB), making the stream takes a few 64 KB chunks (the
    # UTF-8 check) and reading all 10,000 cards about one card (~400 bytes): the whole decode
    # built about 50 MB of dicts and models, and one string of the document is 8 MB.
    assert made < 512 * 1024
    assert read < 64 * 1024


json_values = st.recursive(
    st.none() | st.integers() | st.text(max_size=3),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children),
    max_leaves=40,
)


@given(json_values, st.integers(0, 12))
def test_the_quick_depth_check_agrees_with_the_full_one(value, limit):
    from protocol.codec import _deeper_than, _depth

    assert _deeper_than(value, limit) == (_depth(value, limit) > limit)
