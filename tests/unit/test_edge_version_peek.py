"""Recognising a retained document that is not news without parsing all of it."""

from __future__ import annotations

import json

import pytest

from edge.sync.link import Syncer, leading_version
from protocol.codec import DEFAULT_MAX_BYTES, DIRECTORY_MAX_BYTES, encode
from protocol.errors import DecodeError
from tests.support.edge_world import cards


def test_the_version_of_our_own_documents_is_read_before_their_bulk():
    assert leading_version(encode(cards(5, version=7))) == 7


@pytest.mark.parametrize(
    ("payload", "version"),
    [
        (b' \n{ "kind" : "cards" ,\t"version" : 12 , "cards": [1, 2]}', 12),
        (b'{"a": {"version": 1}, "b": [{"version": 2}], "version": 5}', 5),  # nested ones skipped
        (b'{"version": 3', 3),  # cut short after the version: the version is still its claim
        (b'{"cards": [], "kind": "cards"}', None),  # no version
        (b'{"version": true}', None),
        (b'{"version": "3"}', None),
        (b'{"version": 3.5}', None),
        (b"[1, 2, 3]", None),
        (b"not json", None),
        (b'{"kind" "cards", "version": 3}', None),  # malformed before the version
        (b'{"kind": "cards" "version": 3}', None),
        (b"\xff\xfe", None),
        (b"", None),
        (b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b', "version": 1}', None),  # too deep
    ],
)
def test_leading_version_reads_only_a_well_formed_prefix(payload, version):
    assert leading_version(payload) == version


def test_a_document_that_is_not_newer_is_recognised_without_the_8_mb_parse_limit():
    bulk = json.dumps([{"card_hash": "x" * 64}] * 140_000)
    big = f'{{"kind": "cards", "version": 3, "cards": {bulk}}}'.encode()
    assert DEFAULT_MAX_BYTES < len(big) < DIRECTORY_MAX_BYTES
    # A directory document may be up to 48 MB: an old one is recognised as not newer ...
    assert Syncer._not_newer(big, 5, DIRECTORY_MAX_BYTES)
    assert not Syncer._not_newer(big, 2, DIRECTORY_MAX_BYTES)
    # ... while a room snapshot that large is refused as before.
    with pytest.raises(DecodeError) as refused:
        Syncer._not_newer(big, 5, DEFAULT_MAX_BYTES)
    assert refused.value.reason == "too_large"
    # Without a leading version the whole payload is parsed, and garbage is an error.
    with pytest.raises(DecodeError) as garbage:
        Syncer._not_newer(b'{"kind": "cards" garbage', 5)
    assert garbage.value.reason == "not_json"
    assert Syncer._not_newer(b'{"cards": [], "version": 4}', 5)


def test_only_the_first_bytes_are_looked_at_and_a_value_cut_at_the_boundary_is_not_trusted():
    tail = b', "cards": [' + b'"x",' * 50_000 + b'"x"]}'
    doc = b'{"kind": "cards", "version": 12345' + tail
    assert leading_version(doc) == 12345
    # The peek ends inside the number: 12 must not be taken for 12345.
    assert leading_version(doc, peek=doc.index(b"345")) is None
    # A version after a bulk larger than the peek: not found, the caller parses it all.
    assert leading_version(b'{"cards": [' + b'"x",' * 50_000 + b'"x"], "version": 3}') is None
    # A multi-byte character cut by the peek is fine; invalid UTF-8 before it is not.
    korean = '{"site": "한빛병원", "version": 4, "cards": []}'.encode()
    assert leading_version(korean, peek=korean.index(b'", "version') - 1) is None
    assert leading_version(korean + b" " * 10, peek=len(korean) - 2) == 4
    assert leading_version(b'{"site": "\xff", "version": 4}' + tail) is None
