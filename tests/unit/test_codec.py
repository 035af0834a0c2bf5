"""Every decoder gives a valid model or the project's DecodeError, whatever the bytes."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.codec import decode, decode_directory, encode
from protocol.errors import DecodeError
from protocol.messages import ALL_MESSAGES, EventBatch, RoomQueueSnapshot
from tests.support.factories import all_examples

EXAMPLES = all_examples()
BY_TYPE = {type(m): m for m in EXAMPLES}


def test_there_is_an_example_of_every_message():
    assert set(BY_TYPE) == set(ALL_MESSAGES)


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
def test_round_trip(message):
    assert decode(type(message), encode(message)) == message


@pytest.mark.parametrize(
    "message",
    [m for m in EXAMPLES if hasattr(m, "kind") and type(m).__name__.startswith("Dir")],
    ids=lambda m: type(m).__name__,
)
def test_directory_documents_decode_by_kind(message):
    assert decode_directory(encode(message)) == message


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
def test_unknown_field_is_refused_with_its_name(message):
    obj = json.loads(encode(message))
    obj["surprise"] = 1
    with pytest.raises(DecodeError) as info:
        decode(type(message), json.dumps(obj))
    assert info.value.where == "surprise"


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
def test_unknown_major_schema_version_is_refused_with_a_clear_reason(message):
    obj = json.loads(encode(message))
    obj["schema_version"] = "2.0"
    with pytest.raises(DecodeError) as info:
        decode(type(message), json.dumps(obj))
    assert info.value.reason == "unsupported_schema_version"
    assert "2.0" in str(info.value)


def test_newer_minor_version_is_accepted():
    message = BY_TYPE[RoomQueueSnapshot]
    obj = json.loads(encode(message))
    obj["schema_version"] = "1.7"
    assert decode(RoomQueueSnapshot, json.dumps(obj)).version == message.version


def test_error_names_the_field_path_inside_a_batch():
    obj = json.loads(encode(BY_TYPE[EventBatch]))
    obj["events"][0]["card_hash"] = "04A23B1C"  # a plaintext UID, not a hash
    with pytest.raises(DecodeError) as info:
        decode(EventBatch, json.dumps(obj))
    assert info.value.where == "events.0.check_in.card_hash"


def test_plain_names_are_refused_on_public_snapshots():
    obj = json.loads(encode(BY_TYPE[RoomQueueSnapshot]))
    obj["waiting"][0]["masked_name"] = "김민수"
    with pytest.raises(DecodeError) as info:
        decode(RoomQueueSnapshot, json.dumps(obj))
    assert info.value.where == "waiting.0.masked_name"


def test_batches_out_of_sequence_order_are_refused():
    obj = json.loads(encode(BY_TYPE[EventBatch]))
    obj["events"].reverse()
    with pytest.raises(DecodeError, match="station_seq"):
        decode(EventBatch, json.dumps(obj))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe\x00garbage", "not_utf8"),
        (b"{not json", "not_json"),
        (b"[1, 2]", "not_object"),
        (b'{"a": NaN}', "not_json"),
        (b"[" * 100_000 + b"]" * 100_000, "too_deep"),
        (b'{"a":' * 100 + b"1" + b"}" * 100, "too_deep"),
        (b'{"station_id": "' + b"x" * (9 * 1024 * 1024) + b'"}', "too_large"),
        (b"", "not_json"),
    ],
)
def test_hostile_payloads_get_a_reason(payload, reason):
    with pytest.raises(DecodeError) as info:
        decode(EventBatch, payload)
    assert info.value.reason == reason


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)


def _mutations(message):
    """Realistic hostile variants: a field replaced by random JSON, or deleted."""
    obj = json.loads(encode(message))
    keys = sorted(obj)
    return st.tuples(st.sampled_from(keys), json_values, st.booleans()).map(
        lambda t: {
            **{k: v for k, v in obj.items() if k != t[0] or not t[2]},
            **({t[0]: t[1]} if not t[2] else {}),
        }
    )


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_messages_decode_or_raise_decode_error(message, data):
    payload = json.dumps(data.draw(_mutations(message)))
    try:
        result = decode(type(message), payload)
    except DecodeError as e:
        failure = e
    else:
        assert isinstance(result, type(message))
        return
    assert failure.reason
    assert failure.where


@given(st.binary(max_size=2000))
def test_random_bytes_decode_or_raise_decode_error(payload):
    for cls in ALL_MESSAGES:
        with pytest.raises(DecodeError):
            decode(cls, payload)
    with pytest.raises(DecodeError):
        decode_directory(payload)


@given(json_values)
def test_random_json_raises_decode_error(value):
    for cls in ALL_MESSAGES:
        with pytest.raises(DecodeError):
            decode(cls, json.dumps(value))


def test_the_cards_of_a_big_day_fit_the_directory_limit_but_not_the_message_limit():
    from datetime import date

    from protocol.base import LocalizedText
    from protocol.codec import DEFAULT_MAX_BYTES, DIRECTORY_MAX_BYTES
    from protocol.messages import CardEntry, DirectoryCards, VisitStepInfo

    step = VisitStepInfo(room_id="lab-1", label=LocalizedText(ko="채혈실", en="Blood test"))
    entry = CardEntry(
        card_hash="ab" * 32,
        visit_id="v-2026-000001",
        masked_name="김*각",
        state="REGISTERED",
        steps=[step, step, step],
        current_step=0,
    )
    doc = DirectoryCards(
        kind="cards", version=1, service_day=date(2026, 11, 27), cards=[entry] * 25_000
    )
    data = encode(doc)
    assert DEFAULT_MAX_BYTES < len(data) < DIRECTORY_MAX_BYTES  # a 20,000-visit day
    assert decode_directory(data) == doc
    with pytest.raises(DecodeError) as e:
        decode_directory(data, max_bytes=DEFAULT_MAX_BYTES)
    assert e.value.reason == "too_large"
