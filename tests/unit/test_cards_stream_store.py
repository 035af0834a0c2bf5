"""A cards document is stored card by card as it is validated, all or nothing (real SQLite)."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from edge.config import EdgeConfig
from edge.station import Station
from edge.store.db import StationStore
from edge.sync.link import Syncer
from protocol.codec import CardsStream, decode_directory_streaming, encode
from protocol.errors import DecodeError
from protocol.ids import card_hash
from protocol.journey import State
from protocol.mqtt import Incoming
from protocol.topics import Topics
from tests.support.edge_world import cards, config, rooms, uid
from tests.support.factories import SITE_KEY

ROOT = "test/nfch"


@pytest.fixture
def station(tmp_path) -> Iterator[Station]:
    store = StationStore(tmp_path / "st.sqlite3")
    st = Station("st-1", store, SITE_KEY, location_node="st-1")
    for doc in (rooms(), config()):
        st.apply_directory(doc, encode(doc).decode())
    first = cards(3000, state=State.WAITING, version=4)
    assert st.apply_directory(first, encode(first).decode())
    yield st
    store.close()


def stored(st: Station) -> tuple[int, str, list[tuple[str, str]]]:
    """The cards document as the database holds it: version, envelope, every row."""
    conn = st.store.conn
    version, envelope = conn.execute(
        "SELECT version, payload FROM directory WHERE kind = 'cards'"
    ).fetchone()
    rows = conn.execute("SELECT card_hash, entry FROM cards ORDER BY card_hash").fetchall()
    return version, envelope, rows


def bad_at(n: int, index: int, version: int) -> bytes:
    """A document of `n` cards whose card `index` (0-based) has an invalid card hash."""
    obj = json.loads(encode(cards(n, state=State.FINISHED, version=version)))
    obj["cards"][index]["card_hash"] = "not-a-hash"
    return json.dumps(obj, ensure_ascii=False).encode()


def test_a_stream_is_stored_and_looked_up_card_by_card(station):
    doc = cards(6000, state=State.FINISHED, version=5)
    stream = decode_directory_streaming(encode(doc))
    assert isinstance(stream, CardsStream)
    assert station.apply_cards(stream.envelope, stream)
    assert station.cache.versions["cards"] == 5
    assert station.cache.cards_doc == doc.model_copy(update={"cards": []})
    assert len(station.cache.cards) == 6000
    assert station.cache.cards.get(card_hash(SITE_KEY, uid(6000))) == doc.cards[-1]
    assert station.cache.cards.get(card_hash(SITE_KEY, uid(1))).state == State.FINISHED
    # Not newer: counted as stale, nothing read from the stream.
    again = decode_directory_streaming(encode(cards(2, version=5)))
    assert isinstance(again, CardsStream)
    assert not station.apply_cards(again.envelope, iter(()))


def test_a_bad_card_half_way_leaves_the_previous_document_whole(station):
    before = stored(station)
    assert before[0] == 4
    assert len(before[2]) == 3000
    stream = decode_directory_streaming(bad_at(6000, 4999, version=5))
    assert isinstance(stream, CardsStream)  # the envelope is fine; card 5,000 is not
    with pytest.raises(DecodeError) as info:
        station.apply_cards(stream.envelope, stream)
    assert info.value.reason == "invalid"
    assert info.value.where == "cards.cards.4999.card_hash"
    assert stored(station) == before
    assert station.cache.versions["cards"] == 4
    assert len(station.cache.cards) == 3000
    assert station.cache.cards.get(card_hash(SITE_KEY, uid(1))).state == State.WAITING
    assert station.cache.cards.get(card_hash(SITE_KEY, uid(5000))) is None
    # The same version, whole and valid, is taken afterwards: nothing was marked as held.
    good = decode_directory_streaming(encode(cards(6000, state=State.FINISHED, version=5)))
    assert station.apply_cards(good.envelope, good)
    assert len(station.cache.cards) == 6000


def test_replace_cards_rolls_back_when_its_rows_stop_with_an_error(station):
    before = stored(station)

    def rows():
        yield ("a" * 64, "{}")
        yield ("b" * 64, "{}")
        raise DecodeError("invalid", "cards.cards.2", "boom")

    with pytest.raises(DecodeError, match="boom"):
        station.store.replace_cards(9, "{}", rows())
    assert stored(station) == before
    assert not station.store.conn.in_transaction


def syncer_for(station: Station, tmp_path) -> Syncer:
    cfg = EdgeConfig.model_validate(
        {"station_id": "st-1", "data_dir": str(tmp_path), "mqtt": {"topic_root": ROOT}}
    )
    return Syncer(cfg, station)


def bad_count(reason: str) -> float:
    labels = {"source": "mqtt", "reason": reason}
    return REGISTRY.get_sample_value("nfch_edge_bad_messages_total", labels) or 0.0


def deliver(syncer: Syncer, payload: bytes, kind: str = "cards") -> None:
    syncer._on_message(Incoming(Topics(ROOT).directory(kind), payload, retain=True, qos=1))


def test_the_link_counts_a_bad_card_and_stores_nothing(station, tmp_path):
    syncer = syncer_for(station, tmp_path)
    before = stored(station)
    invalid = bad_count("invalid")
    deliver(syncer, bad_at(6000, 4999, version=5))
    assert bad_count("invalid") == invalid + 1
    assert stored(station) == before
    assert station.cache.versions["cards"] == 4
    # A cards document on another kind's topic is refused as before, without reading its cards.
    mismatch = bad_count("kind_mismatch")
    deliver(syncer, bad_at(10, 3, version=6), kind="rooms")
    assert bad_count("kind_mismatch") == mismatch + 1
    # A good newer one goes through the link and is stored.
    deliver(syncer, encode(cards(6000, state=State.FINISHED, version=5)))
    assert station.cache.versions["cards"] == 5
    assert len(station.cache.cards) == 6000
    # Other kinds still go the whole way.
    deliver(syncer, encode(rooms(version=2)), kind="rooms")
    assert station.cache.versions["rooms"] == 2


def test_storing_a_day_of_cards_holds_one_card_of_python_objects(station, tmp_path):
    syncer = syncer_for(station, tmp_path)
    payload = encode(cards(10_000, state=State.FINISHED, version=5))
    tracemalloc.start()
    try:
        deliver(syncer, payload)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert station.cache.versions["cards"] == 5
    assert len(station.cache.cards) == 10_000
    # Beyond the payload it was given, a few 64 KB chunks and one card (about 0.07x the
    # payload). The whole decode peaked at about 12.6x; a string of the whole document alone
    # would be 2x (Korean names make it 2 bytes a character).
    assert peak < 0.15 * len(payload)
