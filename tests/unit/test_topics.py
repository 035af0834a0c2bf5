"""Topic builders and the strict parser."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import TopicError
from protocol.messages import DIRECTORY_KINDS
from protocol.topics import ROOM_TOPICS, STATION_TOPICS, Topics

ids = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True)


def test_design_topic_names():
    t = Topics()
    assert t.station("st-1", "events") == "nfch/v1/station/st-1/events"
    assert t.room("xray-1", "queue") == "nfch/v1/room/xray-1/queue"
    assert t.directory("cards") == "nfch/v1/directory/cards"
    assert t.station_filter("events") == "nfch/v1/station/+/events"


@given(ids, st.sampled_from(STATION_TOPICS))
def test_station_topics_round_trip(station_id, leaf):
    t = Topics("t1/nfch")
    parsed = t.parse(t.station(station_id, leaf))
    assert (parsed.scope, parsed.name, parsed.leaf) == ("station", station_id, leaf)


@given(ids, st.sampled_from(ROOM_TOPICS))
def test_room_topics_round_trip(room_id, leaf):
    t = Topics()
    parsed = t.parse(t.room(room_id, leaf))
    assert (parsed.scope, parsed.name, parsed.leaf) == ("room", room_id, leaf)


@pytest.mark.parametrize("kind", DIRECTORY_KINDS)
def test_directory_topics_round_trip(kind):
    t = Topics()
    assert t.parse(t.directory(kind)).name == kind


@pytest.mark.parametrize(
    "topic",
    [
        "nfch/v2/station/s1/events",
        "nfch/v1/station/s1/evil",
        "nfch/v1/station/S1/events",
        "nfch/v1/station/+/events",
        "nfch/v1/station/s1/events/extra",
        "nfch/v1/room//queue",
        "nfch/v1/directory/secrets",
        "other/v1/room/r/queue",
        "",
    ],
)
def test_malformed_topics_are_rejected(topic):
    with pytest.raises(TopicError):
        Topics().parse(topic)


def test_builders_refuse_ids_that_would_inject_topic_levels():
    with pytest.raises(TopicError, match="not a valid id"):
        Topics().station("s1/../s2", "events")
    with pytest.raises(TopicError):
        Topics().room("#", "queue")
    with pytest.raises(TopicError):
        Topics("bad/+/root")
