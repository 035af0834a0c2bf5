"""Reader LED/buzzer feedback: ACR122U pseudo-APDUs, the outcome of each screen, the order
against the durable write and the screen, and drivers that fail."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime
from typing import get_args

import pytest
from pydantic import TypeAdapter, ValidationError

from edge.feedback import ReaderLights
from edge.feedback.acr122 import OUTCOME_OF, LedBuzzerConfig, LedBuzzerPattern, Outcome
from edge.readers import ReaderConfig
from edge.readers.base import CardRead, ReadFailure
from edge.station import Station
from edge.store.db import StationStore
from protocol.codec import encode
from protocol.messages import ScreenKind
from tests.support.edge_world import cards, config, lease, rooms, routes, uid
from tests.support.factories import SITE_KEY

CONFIGS = TypeAdapter(list[ReaderConfig])


def test_default_patterns_are_the_documented_acr122u_pseudo_apdus():
    fb = LedBuzzerConfig()
    # FF 00 40 P2 04 T1 T2 REPS LINK; P2 0xA0 = blink green (initial on), 0x50 = blink red.
    assert fb.pattern("ok").apdu() == bytes.fromhex("FF0040A00401010101")
    assert fb.pattern("tap_again").apdu() == bytes.fromhex("FF0040500401010201")
    assert fb.pattern("reception").apdu() == bytes.fromhex("FF0040500405010101")
    assert fb.pattern("reception").duration_s == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("pattern", "apdu"),
    [
        # Orange blink, then both LEDs set: green on, red off.
        (
            {"colour": "orange", "on_ms": 300, "off_ms": 0, "final": "green", "buzzer": "both"},
            "FF0040FE0403000103",
        ),
        # Silent red blink x5, then the LEDs off.
        (
            {
                "colour": "red",
                "on_ms": 200,
                "off_ms": 200,
                "repeat": 5,
                "buzzer": "off",
                "final": "off",
            },
            "FF00405C0402020500",
        ),
        # Beep in the dark half only, final red.
        ({"colour": "green", "on_ms": 100, "buzzer": "t2", "final": "red"}, "FF0040AD0401010102"),
        # Longest durations and most repetitions the byte format can carry.
        ({"colour": "green", "on_ms": 25500, "off_ms": 25500, "repeat": 255}, "FF0040A004FFFFFF01"),
    ],
)
def test_patterns_encode_bit_by_bit(pattern, apdu):
    assert LedBuzzerPattern.model_validate(pattern).apdu() == bytes.fromhex(apdu)


@pytest.mark.parametrize(
    ("pattern", "where"),
    [
        ({"colour": "green", "on_ms": 150}, "on_ms"),  # not a 100 ms step
        ({"colour": "green", "on_ms": 0}, "on_ms"),
        ({"colour": "green", "on_ms": 100, "off_ms": 25600}, "off_ms"),  # past one byte
        ({"colour": "green", "on_ms": 100, "repeat": 0}, "repeat"),
        ({"colour": "blue", "on_ms": 100}, "colour"),
        ({"colour": "green", "on_ms": 100, "beep": True}, "beep"),  # unknown key
    ],
)
def test_bad_patterns_are_refused_naming_the_key(pattern, where):
    with pytest.raises(ValidationError) as e:
        CONFIGS.validate_python([{"type": "pcsc", "led_buzzer": {"ok": pattern}}])
    assert where in str(e.value)
    assert "led_buzzer" in str(e.value)


def test_every_screen_has_an_outcome_and_every_field_is_described():
    assert set(OUTCOME_OF) == set(get_args(ScreenKind))
    assert OUTCOME_OF["checked_in"] == "ok"
    assert OUTCOME_OF["read_error"] == "tap_again"
    assert OUTCOME_OF["unknown_card"] == OUTCOME_OF["refused"] == "reception"
    assert OUTCOME_OF["idle"] is None
    for model in (LedBuzzerConfig, LedBuzzerPattern):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name}"


def test_mode_auto_means_acr122_readers_only():
    auto = LedBuzzerConfig()
    assert auto.enabled_for("ACS ACR122U PICC Interface 00 00")
    assert not auto.enabled_for("Virtual PCD 00 00")
    assert not auto.enabled_for("HID Global OMNIKEY 5022 Smart Card Reader 00 00")
    assert LedBuzzerConfig(mode="on").enabled_for("Virtual PCD 00 00")
    assert not LedBuzzerConfig(mode="off").enabled_for("ACS ACR122U PICC Interface 00 00")
    (pcsc,) = CONFIGS.validate_python(
        [{"type": "pcsc", "led_buzzer": {"mode": "on", "ok": {"colour": "green", "on_ms": 200}}}]
    )
    assert pcsc.led_buzzer.ok.apdu() == bytes.fromhex("FF0040A00402010101")


class Driver:
    def __init__(self, fail: bool = False) -> None:
        self.outcomes: list[Outcome] = []
        self.fail = fail

    def signal_outcome(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        if self.fail:
            raise RuntimeError("pyscard surprise")


class NoLights:
    """A driver without LED control (keyboard, nfcpy, simulated)."""


def test_reader_lights_signal_only_drivers_with_lights_and_survive_their_errors(caplog):
    door, broken = Driver(), Driver(fail=True)
    lights = ReaderLights({"door": door, "kbd": NoLights(), "broken": broken})
    lights.signal("door", "checked_in")
    lights.signal("door", "idle")  # nothing to say
    lights.signal("door", "unknown_card")
    lights.signal("kbd", "checked_in")  # no lights: nothing happens
    lights.signal("elsewhere", "checked_in")  # not a reader of this station
    with caplog.at_level(logging.ERROR):
        lights.signal("broken", "read_error")
    assert door.outcomes == ["ok", "reception"]
    assert broken.outcomes == ["tap_again"]
    assert "feedback.signal_failed reader=broken" in caplog.text


def _station(tmp_path) -> Station:
    wall = datetime(2026, 11, 27, 1, 0, tzinfo=UTC).timestamp()
    st = Station("st-1", StationStore(tmp_path / "st.sqlite3"), SITE_KEY, wall=lambda: wall)
    for doc in (rooms(), config(), routes(), cards(5)):
        st.apply_directory(doc, encode(doc).decode())
    st.apply_lease(lease("st-1", 1, [("l1", "xray-1", 1, 50)]))
    return st


async def test_the_reader_is_signalled_after_the_durable_write_and_the_screen(tmp_path):
    st = _station(tmp_path)
    seen: list[tuple[str, ScreenKind, int, ScreenKind]] = []

    class Recording:
        def signal(self, reader: str, kind: ScreenKind) -> None:
            # Another connection sees the event committed, and the screen is already shown.
            with sqlite3.connect(st.store.path) as other:
                (n,) = other.execute("SELECT count(*) FROM outbox").fetchone()
            seen.append((reader, kind, n, st.feed.latest.kind))

    st.signal = Recording()
    shown = await st.on_read(CardRead(uid(1), "door", "iso14443a", 0.0))
    await st.on_read(CardRead("04FFFFFFFFFFFF", "door", "iso14443a", 0.0))
    await st.on_read(ReadFailure(reader="door", reason="reader_error"))
    assert shown.kind == "checked_in"
    assert seen == [
        ("door", "checked_in", 1, "checked_in"),
        ("door", "unknown_card", 2, "unknown_card"),
        ("door", "read_error", 2, "read_error"),
    ]
    st.store.close()
