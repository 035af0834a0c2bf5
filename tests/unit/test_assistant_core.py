"""The help assistant without a patient session: retrieval, safety, places and routes, the
Help screen's questions, limits, the FAQ file's validation, the tokenizers. A real engine on
SQLite with the sample hospital and the sample map."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.assistant import Assistant, load_faq
from central.assistant.errors import EmptyQuestion, FaqFileError, QuestionTooLong, RateLimited
from central.assistant.faq import DEFAULT_FAQ, parse_faq
from central.assistant.limits import RateLimiter
from central.assistant.text import numbers_in, script_of, tokenize
from central.clock import SystemClock
from central.engine import Engine
from central.seed import sample_hospital
from central.store import Database
from central.wayfinding import load_map

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_MAP = ROOT / "central" / "data" / "sample_map.json"


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assistant]:
    db = Database(str(tmp_path_factory.mktemp("assistant") / "central.db"))
    db.migrate()
    engine = Engine(db, site_key=b"assistant-test-key-0123456789abc", clock=SystemClock())
    engine.load(sample_hospital(engine.service_day(), patients=4).data)
    yield Assistant(load_faq(), engine, load_map(SAMPLE_MAP))
    engine.close()


# ------------------------------------------------------------------ tokenizers


def test_korean_morphemes_drop_particles_and_endings() -> None:
    assert tokenize("엑스레이실은 어디에 있나요?") == ["엑스레이", "실", "어디"]
    assert "결과" in tokenize("제 검사 결과가 나쁜가요?")
    assert "나쁘" in tokenize("제 검사 결과가 나쁜가요?")


def test_cjk_ngrams_and_scripts() -> None:
    assert script_of("トイレはどこ") == "ja"
    assert script_of("洗手间在哪里") == "zh"
    assert script_of("화장실 MRI") == "ko"
    assert script_of("where") == "en"
    toks = tokenize("洗手间在哪里")
    assert "洗手" in toks
    assert "手间" in toks
    assert "哪里" not in toks
    # All-hiragana bigrams (particles, endings) are noise; katakana and kanji stay.
    ja = tokenize("トイレはどこですか")
    assert "トイ" in ja
    assert "どこ" not in ja
    assert "です" not in ja


def test_numbers_in_normalizes_full_width_and_separators() -> None:
    assert {"1000", "30"} <= numbers_in("30분마다 1,000원")
    assert "8" in numbers_in("８時間")


# ------------------------------------------------------------------ answers


def test_general_faq_answer_in_asked_language(assistant: Assistant) -> None:
    a = assistant.answer("주차비는 얼마인가요?", "ko")
    assert (a.kind, a.topic, a.live) == ("faq", "parking", False)
    assert "주차" in a.text
    assert a.answer.en.startswith("Parking")
    assert a.sources[0].type == "faq"
    assert a.sources[0].id == "parking"
    en = assistant.answer("Where can I park my car?", "en")
    assert en.topic == "parking"
    assert en.text.startswith("Parking")
    ja = assistant.answer("駐車場はどこ", "ja")
    assert ja.topic == "parking"
    assert ja.text == ja.answer.ja


def test_place_answer_routes_to_the_nearest_of_its_kind(assistant: Assistant) -> None:
    # Asked on 2F, the restroom found is the 2F one, with the map's directions.
    a = assistant.answer("화장실 어디예요?", "ko", None, "st-2f")
    assert a.kind == "place"
    assert a.topic == "restroom"
    assert a.route is not None
    assert a.route.to_node == "wc-2f"
    assert a.route.steps
    assert a.route.steps[-1].ko in a.text
    lobby = assistant.answer("Where is the toilet?", "en", None, "st-lobby")
    assert lobby.route is not None
    assert lobby.route.to_node == "wc-1f"


def test_room_answer_from_the_directory(assistant: Assistant) -> None:
    a = assistant.answer("엑스레이 촬영실이 어디예요?", "ko", None, "st-lobby")
    assert a.kind == "place"
    assert a.topic in ("room:xray-1", "room:xray-2")
    assert "1F" in a.text
    assert a.route is not None
    # A room with a number named is that room, not its nearest sibling.
    b = assistant.answer("내과 2진료실", "ko", None, "st-lobby")
    assert b.topic == "room:im-2"


def test_no_station_no_route_but_still_the_place(assistant: Assistant) -> None:
    a = assistant.answer("약국 어디 있어요?", "ko")
    assert a.kind == "place"
    assert a.topic == "pharmacy"
    assert a.route is None
    assert "1층" in a.text


@pytest.mark.parametrize(
    ("question", "lang"),
    [
        ("제 검사 결과가 나쁜가요?", "ko"),
        ("Should I take my pills?", "en"),
        ("is my result bad?", "en"),
        ("我的结果严重吗？", "zh"),
        ("薬を飲んでもいいですか？", "ja"),
    ],
)
def test_medical_questions_go_to_doctor_or_nurse(
    assistant: Assistant, question: str, lang: str
) -> None:
    a = assistant.answer(question, lang)  # type: ignore[arg-type]
    assert a.kind == "medical"
    assert "의사나 간호사" in a.answer.ko
    assert "doctor or nurse" in a.answer.en
    # Without a visit, who to ask is the nurses' station.
    assert "간호사 스테이션" in a.answer.ko
    assert a.route is None


def test_practical_questions_about_results_are_not_medical(assistant: Assistant) -> None:
    assert assistant.answer("검사 결과는 언제 나와요?", "ko").topic == "results_when"
    assert assistant.answer("Where can I pick up my medicine?", "en").kind == "place"


@pytest.mark.parametrize(
    ("question", "lang"),
    [("오늘 날씨 어때요?", "ko"), ("Who won the match?", "en"), ("今天股市怎么样？", "zh")],
)
def test_nothing_matches_points_to_the_help_desk_with_a_route(
    assistant: Assistant, question: str, lang: str
) -> None:
    a = assistant.answer(question, lang, None, "st-2f")  # type: ignore[arg-type]
    assert a.kind == "no_match"
    assert a.topic is None
    assert a.route is not None
    assert a.route.to_node in ("door-reception-1", "door-reception-2")
    assert a.route.steps[-1].ko in a.answer.ko  # the way is in the text too
    assert "원무과 안내 창구" in a.answer.ko
    assert "reception (help) desk" in a.answer.en
    assert len(a.suggestions) == 3


def test_live_kinds_without_session_answer_in_general(assistant: Assistant) -> None:
    a = assistant.answer("얼마나 기다려야 해요?", "ko", None, "st-lobby")
    assert (a.kind, a.live) == ("wait", False)
    assert "단말기" in a.text
    assert all(s.type != "visit" for s in a.sources)
    p = assistant.answer("Where do I pay?", "en", None, "st-lobby")
    assert p.kind == "payment"
    assert p.route is not None
    assert p.route.to_node in ("door-pay-1", "door-pay-2")


def test_top_questions_round_trip_to_their_own_entries(assistant: Assistant) -> None:
    for lang in ("ko", "en", "zh", "ja"):
        top = assistant.top_questions(lang)
        assert len(top.questions) == 6
        assert [q.id for q in top.questions] == [
            "wait",
            "where_to_go",
            "next_step",
            "restroom",
            "payment",
            "missed_call",
        ]
        for q in top.questions:
            assert assistant.answer(q.text, lang).topic == q.id, (lang, q.text)


def test_question_length_and_emptiness(assistant: Assistant) -> None:
    with pytest.raises(QuestionTooLong) as e:
        assistant.answer("가" * 301, "ko")
    assert e.value.status == 422
    assert "301" in e.value.detail
    assert assistant.answer("화장실" + " " * 400, "ko").kind == "place"  # stripped first
    with pytest.raises(EmptyQuestion):
        assistant.answer("   ", "ko")


def test_room_directory_change_rebuilds_the_index(assistant: Assistant) -> None:
    before = assistant.refresh(force=True)
    assert assistant.refresh(force=True) is before  # same directory version: same index
    assistant.engine.set_room_open("mri-1", False, actor="test")
    assert assistant.refresh() is before  # not read again within DIRECTORY_CHECK_S
    after = assistant.refresh(force=True)
    assert after is not before
    assert not assistant.rooms()["mri-1"].open
    assistant.engine.set_room_open("mri-1", True, actor="test")
    assistant.refresh(force=True)


# ------------------------------------------------------------------ rate limits


def test_token_bucket_per_key() -> None:
    now = [0.0]
    lim = RateLimiter(burst=3, per_s=0.5, clock=lambda: now[0])
    for _ in range(3):
        lim.take("a")
    with pytest.raises(RateLimited) as e:
        lim.take("a")
    assert e.value.status == 429
    assert "2 s" in e.value.detail
    lim.take("b")  # another session has its own bucket
    now[0] = 2.0  # one token back after 2 s
    lim.take("a")
    with pytest.raises(RateLimited):
        lim.take("a")


def test_token_bucket_forgets_least_recent_keys() -> None:
    lim = RateLimiter(burst=1, per_s=0.001, max_keys=2, clock=lambda: 0.0)
    lim.take("a")
    lim.take("b")
    lim.take("c")  # pushes "a" out: it starts full again
    lim.take("a")
    with pytest.raises(RateLimited):
        lim.take("c")


# ------------------------------------------------------------------ the FAQ file


def test_shipped_faq_is_valid_and_fully_translated() -> None:
    faq = load_faq(DEFAULT_FAQ)
    assert {"hours", "parking", "wifi", "certificates", "restroom", "pharmacy", "payment"} <= {
        e.id for e in faq.entries
    }
    for e in faq.entries:
        for lang in ("ko", "en", "zh", "ja"):
            assert e.answer.get(lang)
            assert e.questions.get(lang)


def test_faq_errors_name_the_file_and_the_key(tmp_path: Path) -> None:
    data = json.loads(DEFAULT_FAQ.read_text("utf-8"))
    del data["entries"][3]["answer"]["ja"]
    data["entries"][5]["intent"] = "guess"
    bad = tmp_path / "faq.json"
    bad.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    with pytest.raises(FaqFileError) as e:
        load_faq(bad)
    msg = str(e.value)
    assert str(bad) in msg
    assert "entries.3.answer.ja" in msg
    assert "entries.5.intent" in msg
    with pytest.raises(FaqFileError, match="not JSON"):
        parse_faq("{", "x.json")
    data = json.loads(DEFAULT_FAQ.read_text("utf-8"))
    data["entries"][1]["id"] = data["entries"][0]["id"]
    with pytest.raises(FaqFileError, match="used twice"):
        parse_faq(json.dumps(data), "x.json")
    with pytest.raises(FaqFileError, match="cannot read"):
        load_faq(tmp_path / "missing.json")


# ------------------------------------------------------------------ offline


def test_no_network_at_run_time() -> None:
    """Kiwi's model ships as a package: building and asking works with sockets forbidden."""
    code = """
import socket
def refuse(*a, **k):
    raise RuntimeError("network access attempted")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
from central.assistant.faq import load_faq
from central.assistant.index import Index
idx = Index(load_faq(), [])
hit = idx.search("주차는 어디에 하나요")
assert hit is not None and hit.entry is not None and hit.entry.id == "parking", hit
print("ok")
"""
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_faq_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from central.assistant.__main__ import main

    assert main(["check"]) == 0
    assert "ok, version" in capsys.readouterr().out
    bad = tmp_path / "faq.json"
    bad.write_text('{"version": 0}', "utf-8")
    assert main(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err
    assert "version" in err
