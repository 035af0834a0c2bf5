"""Kiosk models with no widget: version guard, offline state, formatting, de-dup, station state."""

from __future__ import annotations

import json
import wave
from datetime import UTC, datetime, timedelta

import pytest

from kiosk_ui import demo
from kiosk_ui.audio.announcer import Announcer
from kiosk_ui.audio.chime import RATE, write_chime
from kiosk_ui.metrics import BAD_MESSAGES, CACHE_ERRORS, STALE_MESSAGES, counter_value
from kiosk_ui.models import text
from kiosk_ui.models.announcements import AnnouncementModel
from kiosk_ui.models.board import BoardModel
from kiosk_ui.models.cache import DiskCache
from kiosk_ui.models.route import route_sketch
from kiosk_ui.models.station import StationModel
from protocol.codec import encode

ARRIVED = datetime(2026, 11, 27, 0, 5, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_board(qapp, tmp_path=None, **kw) -> tuple[BoardModel, FakeClock]:
    clock = FakeClock()
    cache = DiskCache(tmp_path) if tmp_path else None
    board = BoardModel(
        demo.ROOM_ID,
        offline_after_s=30,
        cache=cache,
        monotonic=clock,
        wall_clock=lambda: ARRIVED,
        **kw,
    )
    return board, clock


# --- board ---------------------------------------------------------------------------------


def test_newer_snapshot_replaces_and_older_is_ignored_and_counted(qapp):
    board, _ = make_board(qapp)
    changes: list[int] = []
    board.changed.connect(lambda: changes.append(board.snapshot.version))
    assert board.feed_snapshot(encode(demo.snapshot(5, calling=120)))
    stale = counter_value(STALE_MESSAGES, kind="snapshot")
    assert not board.feed_snapshot(encode(demo.snapshot(4, calling=119)))
    assert counter_value(STALE_MESSAGES, kind="snapshot") == stale + 1
    assert board.calling().ticket == "120"
    assert board.feed_snapshot(encode(demo.snapshot(6, calling=121)))
    assert board.calling().ticket == "121"
    assert changes == [5, 6]


def test_garbage_and_foreign_room_snapshots_are_ignored_and_counted(qapp):
    board, _ = make_board(qapp)
    board.feed_snapshot(encode(demo.snapshot(2)))
    before = counter_value(BAD_MESSAGES, source="queue", reason="not_json")
    assert not board.feed_snapshot(b"{not json")
    assert counter_value(BAD_MESSAGES, source="queue", reason="not_json") == before + 1
    invalid = counter_value(BAD_MESSAGES, source="queue", reason="invalid")
    doc = json.loads(encode(demo.snapshot(9)))
    doc["waiting"][0]["masked_name"] = "김민수"  # an unmasked name is refused by the protocol
    assert not board.feed_snapshot(json.dumps(doc).encode())
    assert counter_value(BAD_MESSAGES, source="queue", reason="invalid") == invalid + 1
    wrong = counter_value(BAD_MESSAGES, source="queue", reason="wrong_room")
    assert not board.feed_snapshot(encode(demo.snapshot(10, room_id="other-room")))
    assert counter_value(BAD_MESSAGES, source="queue", reason="wrong_room") == wrong + 1
    assert board.snapshot is not None
    assert board.snapshot.version == 2


def test_waiting_list_is_capped_and_holds_only_number_and_masked_name(qapp):
    board, _ = make_board(qapp, max_waiting=5)
    board.feed_snapshot(encode(demo.snapshot(1, calling=101, waiting=9)))
    rows = board.waiting.rows()
    assert [r[0] for r in rows] == [102, 103, 104, 105, 106]
    assert all("*" in name for _, name in rows)
    assert board.waiting.rowCount() == 5


def test_offline_after_no_arrival_for_the_timeout_and_back_on_arrival(qapp):
    board, clock = make_board(qapp)
    seen: list[bool] = []
    board.offlineChanged.connect(seen.append)
    board.feed_snapshot(encode(demo.snapshot(1)))
    clock.now += 29
    board.check_offline()
    assert not board.offline
    clock.now += 2
    board.check_offline()
    assert board.offline
    # The banner time is when the snapshot arrived here, not central's generated_at (09:41Z).
    assert text.clock_text(ARRIVED) in board.offline_text().primary
    assert text.clock_text(demo.NOW) not in board.offline_text().primary
    # The same version arriving again (retained redelivery after a reconnect) is fresh news.
    board.feed_snapshot(encode(demo.snapshot(1)))
    assert not board.offline
    assert seen == [True, False]


def test_offline_uses_arrival_even_if_centrals_clock_is_far_off(qapp):
    board, clock = make_board(qapp)
    snap = demo.snapshot(1).model_copy(update={"generated_at": ARRIVED - timedelta(days=3)})
    board.feed_snapshot(encode(snap))
    clock.now += 10
    board.check_offline()
    assert not board.offline


def test_cached_snapshot_is_shown_after_a_restart(qapp, tmp_path):
    board, _ = make_board(qapp, tmp_path)
    board.feed_rooms(encode(demo.directory_rooms()))
    board.feed_snapshot(encode(demo.snapshot(7, calling=130)))
    board2, clock2 = make_board(qapp, tmp_path)
    board2.start()
    assert board2.snapshot is not None
    assert board2.snapshot.version == 7
    assert board2.calling().ticket == "130"
    assert board2.title().primary == demo.ROOM_NAME.ko
    assert board2.last_arrival == ARRIVED
    assert not board2.offline  # grace period to connect first
    clock2.now += 31
    board2.check_offline()
    assert board2.offline
    # An older snapshot than the cached one is still refused.
    assert not board2.feed_snapshot(encode(demo.snapshot(6)))


def test_corrupt_cache_is_ignored_and_counted(qapp, tmp_path):
    (tmp_path / f"room-{demo.ROOM_ID}.json").write_text("{half a file")
    before = counter_value(CACHE_ERRORS, op="read")
    board, _ = make_board(qapp, tmp_path)
    board.start()
    assert board.snapshot is None
    assert counter_value(CACHE_ERRORS, op="read") == before + 1


def test_room_name_from_directory_and_languages(qapp):
    board, _ = make_board(qapp, language="ja")
    assert board.title().primary == demo.ROOM_ID
    board.feed_rooms(encode(demo.directory_rooms(2)))
    assert board.title().primary == demo.ROOM_NAME.ko
    assert board.title().secondary == demo.ROOM_NAME.ja
    assert not board.feed_rooms(encode(demo.directory_rooms(1)))  # older directory
    board.feed_snapshot(encode(demo.snapshot(1, waiting=3)))
    assert board.wait_text() is not None
    assert board.wait_text().secondary == "予想待ち時間 約 15 分"
    ko_only, _ = make_board(qapp, language="ko")
    ko_only.feed_snapshot(encode(demo.snapshot(1, waiting=3)))
    assert ko_only.wait_text().primary == "예상 대기 약 15분"
    assert ko_only.wait_text().secondary == ""


def test_a_call_newer_than_the_snapshot_is_shown_until_a_snapshot_catches_up(qapp):
    board, _ = make_board(qapp)
    board.feed_snapshot(encode(demo.snapshot(1, calling=101)))
    assert board.calling().masked_name == "김*수"
    announced = demo.call(102, desk="3", at=demo.NOW + timedelta(seconds=30))
    shown = board.calling(announced)
    assert shown.ticket == "102"
    assert shown.desk.primary == "3번 창구"
    assert shown.desk.secondary == "Desk 3"
    older = demo.call(99, at=demo.NOW - timedelta(seconds=30))
    assert board.calling(older).ticket == "101"
    later = demo.snapshot(2, calling=103).model_copy(
        update={"generated_at": demo.NOW + timedelta(seconds=60)}
    )
    board.feed_snapshot(encode(later))
    assert board.calling(announced).ticket == "103"
    assert board.calling(demo.call(5, room_id="other-room", at=later.generated_at)).ticket == "103"


def test_status_line_when_nobody_is_called_or_closed(qapp):
    board, _ = make_board(qapp)
    assert board.status_line().primary == text.NO_DATA.ko
    board.feed_snapshot(encode(demo.snapshot(1, calling=None)))
    assert board.calling() is None
    assert board.status_line().primary == text.NOBODY_CALLED.ko
    closed = demo.snapshot(2, calling=None).model_copy(update={"open": False})
    board.feed_snapshot(encode(closed))
    assert board.status_line().secondary == text.ROOM_CLOSED.en


# --- wording ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "ko", "en"),
    [
        (30, "곧 호출", "very soon"),
        (900, "약 15분", "about 15 min"),
        (929, "약 15분", "about 15 min"),
        (3600, "약 1시간", "about 1 h"),
        (5520, "약 1시간 30분", "about 1 h 30 min"),
    ],
)
def test_minutes_text(seconds, ko, en):
    t = text.minutes_text(seconds)
    assert (t.ko, t.en) == (ko, en)
    assert text.minutes_text(None) is None


def test_position_text():
    assert text.position_text(1, False).ko == "바로 다음"
    assert text.position_text(3, False).en == "3rd in line"
    assert text.position_text(12, True).en == "12th in line (estimate)"
    assert text.position_text(22, False).en == "22nd in line"
    assert text.position_text(None, False) is None


def test_spoken_call_says_number_and_room_never_a_name():
    sentence = text.spoken_call(117, demo.ROOM_NAME, None)
    assert sentence.startswith("117번")
    assert demo.ROOM_NAME.ko in sentence
    assert "*" not in sentence


# --- calls ------------------------------------------------------------------------------------


def test_each_announcement_id_is_announced_once(qapp):
    calls = AnnouncementModel(demo.ROOM_ID, flash_s=0)
    announced = []
    calls.announce.connect(announced.append)
    first = demo.call(117)
    assert calls.feed(encode(first))
    assert not calls.feed(encode(first))
    wrong = counter_value(BAD_MESSAGES, source="call", reason="wrong_room")
    assert not calls.feed(encode(demo.call(5, room_id="other-room")))
    assert counter_value(BAD_MESSAGES, source="call", reason="wrong_room") == wrong + 1
    bad = counter_value(BAD_MESSAGES, source="call", reason="not_object")
    assert not calls.feed(b"[1, 2]")
    assert counter_value(BAD_MESSAGES, source="call", reason="not_object") == bad + 1
    recall = demo.call(117)  # a recall is a new announcement id: announced again
    assert calls.feed(encode(recall))
    assert [c.announcement_id for c in announced] == [
        first.announcement_id,
        recall.announcement_id,
    ]


def test_flash_toggles_colour_phases_then_stops(qtbot):
    calls = AnnouncementModel(demo.ROOM_ID, flash_s=1.5)
    phases: list[bool] = []
    calls.flashChanged.connect(phases.append)
    calls.feed(encode(demo.call(3)))
    assert calls.flashing
    assert calls.flash_on
    qtbot.waitUntil(lambda: not calls.flashing, timeout=5000)
    # 1.5 s at 500 ms phases: on, off, on, then off for good.
    assert phases == [True, False, True, False]


# --- station ----------------------------------------------------------------------------------


def test_station_screens_follow_seq_and_restart_after_reconnect(qapp):
    m = StationModel(demo.STATION_ID)
    m.set_feed_up(True)
    assert m.page == "idle"
    assert m.message().primary == text.TAP_CARD.ko
    assert m.feed_screen(encode(demo.screen("checked_in", seq=4)))
    assert m.page == "result"
    assert m.ticket_text() == "117"
    stale = counter_value(STALE_MESSAGES, kind="screen")
    assert not m.feed_screen(encode(demo.screen("unknown_card", seq=3)))
    assert counter_value(STALE_MESSAGES, kind="screen") == stale + 1
    assert m.kind == "checked_in"
    # A restarted daemon counts from 1 again; a new connection accepts it.
    m.set_feed_up(False)
    m.set_feed_up(True)
    assert m.feed_screen(encode(demo.screen("unknown_card", seq=1)))
    assert m.page == "error"


def test_station_formats_result(qapp):
    m = StationModel(demo.STATION_ID, language="zh")
    m.feed_map(encode(demo.directory_map()))
    m.set_feed_up(True)
    m.feed_screen(encode(demo.screen("checked_in", seq=1, offline=True)))
    assert m.standing().primary == "3번째 (추정) · 약 15분"
    assert m.standing().secondary == "第 3 位 (估计) · 约 15 分钟"
    assert m.room().primary == "2F 영상의학과 X-ray 1실"
    assert [s.primary for s in m.steps()] == [s.ko for s in demo.route().steps]
    assert m.phone_url() == "https://hospital.example/p/7Hc2kQ"
    assert m.offline_text() is not None
    assert [f.label for f in m.sketch()] == ["1F", "2F"]


def test_station_garbage_and_foreign_station_are_counted(qapp):
    m = StationModel(demo.STATION_ID)
    m.set_feed_up(True)
    bad = counter_value(BAD_MESSAGES, source="screen", reason="not_json")
    assert not m.feed_screen("<html>")
    assert counter_value(BAD_MESSAGES, source="screen", reason="not_json") == bad + 1
    other = demo.screen("checked_in").model_copy(update={"station_id": "st-other"})
    wrong = counter_value(BAD_MESSAGES, source="screen", reason="wrong_station")
    assert not m.feed_screen(encode(other))
    assert counter_value(BAD_MESSAGES, source="screen", reason="wrong_station") == wrong + 1
    assert m.page == "idle"


def test_station_result_times_out_to_idle_and_down_feed_shows_help(qtbot):
    m = StationModel(demo.STATION_ID, result_timeout_s=0.3, down_after_s=0.3)
    m.start()
    qtbot.waitUntil(lambda: m.page == "station_down", timeout=3000)
    assert m.message().primary == text.STATION_DOWN.ko
    m.set_feed_up(True)
    assert m.page == "idle"
    m.feed_screen(encode(demo.screen("checked_in", seq=1)))
    assert m.page == "result"
    qtbot.waitUntil(lambda: m.page == "idle", timeout=3000)
    assert m.ticket_text() == "117"  # the data stays, but the idle page hides it


def test_station_map_version_guard_and_cache(qapp, tmp_path):
    m = StationModel(demo.STATION_ID, cache=DiskCache(tmp_path))
    assert m.feed_map(encode(demo.directory_map(3)))
    assert not m.feed_map(encode(demo.directory_map(2)))
    m2 = StationModel(demo.STATION_ID, cache=DiskCache(tmp_path))
    m2.start()
    assert m2.map is not None


# --- route, cache, chime, announcer --------------------------------------------------------------


def test_route_sketch_splits_floors_and_marks_ends_and_transfers():
    floors = route_sketch(demo.hospital_map(), demo.route())
    assert [f.label for f in floors] == ["1F", "2F"]
    f1, f2 = floors
    assert f1.start == (8, 32)
    assert f1.end is None
    assert f2.end == (52, 14)
    assert f2.start is None
    assert f1.transfers == [(30, 20)]
    assert f2.transfers == [(30, 20)]
    assert f1.path == [(8, 32), (30, 32), (30, 20)]
    assert len(f1.edges) == 5
    assert len(f2.edges) == 5
    unknown = demo.route().model_copy(update={"nodes": ["nowhere"]})
    assert route_sketch(demo.hospital_map(), unknown) == []


def test_disk_cache_roundtrip(tmp_path):
    cache = DiskCache(tmp_path / "c")
    assert cache.load("rooms") is None
    cache.save("rooms", b'{"a": "\xea\xb0\x80"}', ARRIVED)
    assert cache.load("rooms") == (b'{"a": "\xea\xb0\x80"}', ARRIVED)
    with pytest.raises(ValueError, match="not a valid id"):
        cache.load("../etc/passwd")


def test_chime_is_a_valid_wav(tmp_path):
    path = write_chime(tmp_path / "chime.wav")
    with wave.open(str(path)) as w:
        assert w.getframerate() == RATE
        assert w.getnchannels() == 1
        assert 1.0 < w.getnframes() / RATE < 2.0
        frames = w.readframes(w.getnframes())
    assert max(frames) > 0


def test_announcer_muted_and_speech_off_report_what_they_did(qapp, tmp_path):
    a = Announcer(tmp_path, muted=True, speech="off")
    r = a.announce(demo.call(42))
    assert (r.chime, r.speech, r.muted) == ("muted", "muted", True)
    a.set_muted(False)
    r = a.announce(demo.call(43))
    assert r.chime in ("played", "unavailable")
    assert r.speech == "none"
    assert r.spoken_text.startswith("43번")
    assert len(a.reports) == 2
    assert (tmp_path / "chime.wav").exists()
