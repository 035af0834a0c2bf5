"""The simulated reader: taps injected by software, garbage refused as a failed read."""

from __future__ import annotations

from prometheus_client import REGISTRY

from edge.readers import CardRead, ReadFailure, SimulatedReaderConfig
from edge.readers.simulated import SimulatedReader
from tests.support.readers import running


async def test_injected_taps_are_delivered_in_order_with_normalized_uids():
    reader = SimulatedReader(SimulatedReaderConfig(type="simulated", name="demo"))
    queued = reader.inject("04 a1 b2 c3 d4 e5 f6")  # before run: kept until someone reads
    assert isinstance(queued, CardRead)
    async with running(reader) as got:
        reader.inject("0102030405060708")
        first, second = await got.next(), await got.next()
    assert isinstance(first, CardRead)
    assert isinstance(second, CardRead)
    assert (first.uid, first.technology, first.reader) == ("04A1B2C3D4E5F6", "simulated", "demo")
    assert second.uid == "0102030405060708"
    assert first.read_at_monotonic <= second.read_at_monotonic
    assert reader.health().status == "ok"


async def test_garbage_injected_is_a_counted_failure_that_does_not_echo_it():
    reader = SimulatedReader(SimulatedReaderConfig(type="simulated", name="sim-garbage"))
    labels = {"reader": "sim-garbage", "reason": "bad_uid"}
    before = REGISTRY.get_sample_value("nfch_edge_reader_errors_total", labels) or 0.0
    async with running(reader) as got:
        for garbage in ("12", "not-a-card", "ABC"):
            result = reader.inject(garbage)
            assert isinstance(result, ReadFailure)
            assert garbage not in result.detail
            assert await got.next() == result
    assert REGISTRY.get_sample_value("nfch_edge_reader_errors_total", labels) == before + 3
