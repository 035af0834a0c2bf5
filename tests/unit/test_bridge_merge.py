"""Group commit in the bridge: how waiting batches of a station are merged."""

from __future__ import annotations

from central.bridge.bridge import _merge_by_station
from protocol.messages import MAX_BATCH_EVENTS
from tests.support.central_harness import EventFactory
from tests.support.factories import SITE_KEY


def _batches(station: str, sizes: list[int]):
    f = EventFactory(station, SITE_KEY)
    out = []
    for n in sizes:
        events = []
        for _ in range(n):
            e = f._base()
            events.append({"kind": "unknown_card", "card_hash": "a" * 64, **e})
        out.append(f.batch(events))
    return out


def test_a_station_s_waiting_batches_become_one_in_order():
    a = _batches("st-a", [2, 3])
    b = _batches("st-b", [1])
    merged = _merge_by_station([a[0], b[0], a[1]])
    assert [(m.station_id, [e.station_seq for e in m.events], parts) for m, parts in merged] == [
        ("st-a", [1, 2, 3, 4, 5], 2),
        ("st-b", [1], 1),
    ]


def test_replays_and_reordering_merge_to_each_seq_once():
    first, second = _batches("st-a", [2, 2])
    merged = _merge_by_station([second, first, second])
    ((batch, parts),) = merged
    assert [e.station_seq for e in batch.events] == [1, 2, 3, 4]
    assert parts == 3


def test_merged_batches_stay_within_the_message_limit():
    waiting = _batches("st-a", [300, 300, 300])
    merged = _merge_by_station(waiting)
    assert [len(m.events) for m, _ in merged] == [300, 300, 300]
    assert all(len(m.events) <= MAX_BATCH_EVENTS for m, _ in merged)
    small = _merge_by_station(_batches("st-b", [200, 200, 200]))
    assert [len(m.events) for m, _ in small] == [400, 200]


def test_merged_batches_of_several_stations_share_a_transaction_up_to_a_size():
    from central.bridge.bridge import _transactions

    merged = _merge_by_station(
        _batches("st-a", [3]) + _batches("st-b", [4]) + _batches("st-c", [5])
    )
    assert [[b.station_id for b, _ in tx] for tx in _transactions(merged, 7)] == [
        ["st-a", "st-b"],
        ["st-c"],
    ]
    assert [[b.station_id for b, _ in tx] for tx in _transactions(merged, 1000)] == [
        ["st-a", "st-b", "st-c"]
    ]
    # a station's two merged halves never share one transaction
    big = _merge_by_station(_batches("st-a", [MAX_BATCH_EVENTS, 1]) + _batches("st-b", [1]))
    txs = _transactions(big, 10 * MAX_BATCH_EVENTS)
    assert [[b.station_id for b, _ in tx] for tx in txs] == [["st-a"], ["st-a", "st-b"]]
