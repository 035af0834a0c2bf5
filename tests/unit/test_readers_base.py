"""The reader interface's shared pieces: debounce, backoff, results, config, factory, threads."""

from __future__ import annotations

import asyncio
import random
import threading

import pytest
from prometheus_client import REGISTRY
from pydantic import TypeAdapter, ValidationError

import edge.readers as readers
from edge.readers import (
    CardRead,
    DebouncedReader,
    Debouncer,
    DisabledReader,
    ReaderConfig,
    ReadFailure,
    SimulatedReaderConfig,
    make_raw_reader,
    make_reader,
)
from edge.readers.base import Backoff, HealthTracker, Reader
from edge.readers.simulated import SimulatedReader
from edge.readers.threaded import run_worker_thread
from tests.support.readers import running

CONFIGS = TypeAdapter(list[ReaderConfig])


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- debounce ---------------------------------------------------------------------------------


def test_same_card_within_the_window_is_one_tap():
    clock = FakeClock()
    d = Debouncer(3.0, clock)
    assert d.accept("AABBCCDD")
    clock.now += 2.9
    assert not d.accept("AABBCCDD")


def test_same_card_after_the_window_is_a_new_tap():
    clock = FakeClock()
    d = Debouncer(3.0, clock)
    assert d.accept("AABBCCDD")
    clock.now += 3.0
    assert d.accept("AABBCCDD")


def test_card_left_on_the_reader_stays_one_tap_however_long_it_stays():
    clock = FakeClock()
    d = Debouncer(3.0, clock)
    assert d.accept("AABBCCDD")
    # A keyboard reader types the UID again every second while the card stays: each sighting
    # extends the window, so 20 s on the reader is still one tap.
    for _ in range(20):
        clock.now += 1.0
        assert not d.accept("AABBCCDD")
    clock.now += 3.0
    assert d.accept("AABBCCDD")


def test_a_different_card_passes_at_once_and_the_first_stays_debounced():
    clock = FakeClock()
    d = Debouncer(3.0, clock)
    assert d.accept("AABBCCDD")
    clock.now += 0.1
    assert d.accept("11223344")
    clock.now += 0.1
    assert not d.accept("AABBCCDD")
    assert not d.accept("11223344")


def test_zero_window_lets_every_read_through_and_negative_is_refused():
    d = Debouncer(0.0, FakeClock())
    assert d.accept("AABBCCDD")
    assert d.accept("AABBCCDD")
    with pytest.raises(ValueError, match="negative"):
        Debouncer(-1.0)


def test_debouncer_forgets_old_cards():
    clock = FakeClock()
    d = Debouncer(1.0, clock)
    for i in range(1000):
        d.accept(f"{i:08X}")
        clock.now += 0.01
    clock.now += 1.0
    d.accept("AABBCCDD")
    assert len(d._last_seen) == 1


async def test_debounced_reader_drops_repeats_but_passes_failures():
    clock = FakeClock()
    inner = SimulatedReader(SimulatedReaderConfig(type="simulated"), clock=clock)
    reader = DebouncedReader(inner, Debouncer(3.0, clock))
    async with running(reader) as got:
        inner.inject("AABBCCDD")
        inner.inject("aa:bb:cc:dd")  # the same card, spelled otherwise
        inner.inject("XYZ")
        inner.inject("AABBCCDD")
        clock.now += 5
        inner.inject("AABBCCDD")
        results = [await got.next() for _ in range(3)]
    assert [type(r).__name__ for r in results] == ["CardRead", "ReadFailure", "CardRead"]
    assert got.queue.empty()


# --- backoff ----------------------------------------------------------------------------------


def test_backoff_grows_with_jitter_up_to_the_maximum_and_resets():
    b = Backoff(initial_s=0.5, maximum_s=8.0, rng=random.Random(7))
    delays = [b.next_delay() for _ in range(10)]
    bases = [0.5, 1, 2, 4, 8, 8, 8, 8, 8, 8]
    for delay, base in zip(delays, bases, strict=True):
        assert base / 2 <= delay <= base
    assert len(set(delays)) == len(delays)  # jittered: no two stations retry in lockstep
    b.reset()
    assert b.next_delay() <= 0.5
    b.next_delay()
    b.reset_if_stable(worked_for_s=1.0)  # opened, then failed at once: keep backing off
    assert b.next_delay() >= 2 / 2
    b.reset_if_stable(worked_for_s=60.0)
    assert b.next_delay() <= 0.5


# --- results ----------------------------------------------------------------------------------


def test_card_read_normalizes_the_uid_and_never_shows_it_in_its_repr():
    read = CardRead(uid="04:a1:b2:c3", reader="r", technology="iso14443a", read_at_monotonic=1.0)
    assert read.uid == "04A1B2C3"
    assert "04A1B2C3" not in repr(read)
    assert "uid_bytes=4" in repr(read)
    with pytest.raises(ValueError, match="bytes"):
        CardRead(uid="04A1", reader="r", technology="iso14443a", read_at_monotonic=1.0)


def test_health_tracker_reports_protocol_reader_health():
    h = HealthTracker("door", "pcsc")
    assert h.snapshot().status == "disconnected"
    h.set("ok", "x" * 600)
    snap = h.snapshot()
    assert (snap.name, snap.driver, snap.status, len(snap.detail)) == ("door", "pcsc", "ok", 500)


def test_losing_a_working_reader_is_counted_but_a_stop_is_not():
    h = HealthTracker("ht-count", "pcsc")
    labels = {"reader": "ht-count", "reason": "disconnected"}

    def lost() -> float:
        return REGISTRY.get_sample_value("nfch_edge_reader_errors_total", labels) or 0.0

    h.set("disconnected", "not found yet")  # never worked: not a loss
    assert lost() == 0
    h.set("ok")
    h.set("disconnected", "unplugged")
    h.set("disconnected", "still unplugged")
    assert lost() == 1
    h.set("ok")
    h.set("disconnected", "stopped")
    assert lost() == 1


# --- config and factory -----------------------------------------------------------------------


def test_reader_configs_are_picked_by_type_with_defaults():
    parsed = CONFIGS.validate_python(
        [
            {"type": "nfcpy", "device": "usb:054c:06c1"},
            {"type": "pcsc", "reader": "ACR122"},
            {"type": "pcsc", "reader": 1},
            {"type": "keyboard", "device": "/dev/input/event3", "uid_format": "decimal"},
            {"type": "simulated", "name": "demo"},
        ]
    )
    assert [c.type for c in parsed] == ["nfcpy", "pcsc", "pcsc", "keyboard", "simulated"]
    assert parsed[0].targets == ["106A", "212F"]
    assert parsed[1].reader == "ACR122"
    assert parsed[2].reader == 1
    assert parsed[3].byte_order == "normal"
    assert parsed[3].grab is True


@pytest.mark.parametrize(
    ("item", "where"),
    [
        ({"type": "nfcpy", "devise": "usb"}, "devise"),  # unknown key, a typo
        ({"type": "nfcpy", "targets": ["106X"]}, "targets"),
        ({"type": "bluetooth"}, "type"),
        ({"type": "keyboard"}, "device"),  # required
        ({"type": "simulated", "name": "Front Door"}, "name"),
        ({"type": "simulated", "debounce_s": -1}, "debounce_s"),
    ],
)
def test_bad_reader_config_is_refused_naming_the_key(item, where):
    with pytest.raises(ValidationError) as e:
        CONFIGS.validate_python([item])
    assert where in str(e.value)


def test_every_config_field_is_described():
    for model in (
        readers.NfcpyReaderConfig,
        readers.PcscReaderConfig,
        readers.KeyboardReaderConfig,
        readers.SimulatedReaderConfig,
    ):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name}"


def test_make_reader_builds_each_driver_debounced():
    for item in (
        {"type": "simulated"},
        {"type": "nfcpy", "device": "udp:127.0.0.1:9"},
        {"type": "pcsc"},
        {"type": "keyboard", "device": "/dev/input/event0"},
    ):
        (config,) = CONFIGS.validate_python([item])
        reader = make_reader(config)
        assert isinstance(reader, DebouncedReader)
        assert isinstance(reader, Reader)
        assert reader.driver == item["type"]
        assert reader.debouncer.window_s == config.debounce_s
        assert not isinstance(reader.inner, DisabledReader)
        assert readers.unwrap(reader) is reader.inner


async def test_missing_driver_library_disables_only_that_reader(monkeypatch):
    monkeypatch.setitem(
        readers._DRIVERS, "nfcpy", ("edge.readers.no_such_module", "NfcpyReader", "nfc")
    )
    (config,) = CONFIGS.validate_python([{"type": "nfcpy", "name": "door"}])
    reader = make_raw_reader(config)
    assert isinstance(reader, DisabledReader)
    health = reader.health()
    assert health.status == "error"
    assert "pip install 'nfc-hospital[nfc]'" in health.detail
    # It runs like any reader (and delivers nothing) until cancelled.
    async with running(reader) as got:
        await asyncio.sleep(0)
    assert got.seen == []


# --- the worker-thread bridge -----------------------------------------------------------------


async def test_worker_thread_results_arrive_in_order_and_cancel_stops_the_thread():
    stopped = threading.Event()

    def worker(stop: threading.Event, emit) -> None:
        for i in range(3):
            emit(ReadFailure(reader="t", reason="reader_error", detail=str(i)))
        stop.wait()
        stopped.set()

    got: asyncio.Queue[object] = asyncio.Queue()

    async def on_read(result) -> None:
        got.put_nowait(result)

    task = asyncio.create_task(run_worker_thread("t", worker, on_read), name="worker-test")
    details = [(await asyncio.wait_for(got.get(), 5)).detail for _ in range(3)]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert details == ["0", "1", "2"]
    assert stopped.is_set()  # run() returned only after the worker let go of its device


async def test_a_crashed_worker_thread_crashes_run():
    def worker(stop: threading.Event, emit) -> None:
        raise RuntimeError("driver bug")

    async def on_read(result) -> None:
        raise AssertionError("nothing to read")

    with pytest.raises(RuntimeError, match="driver bug"):
        await asyncio.wait_for(run_worker_thread("t", worker, on_read), 5)
