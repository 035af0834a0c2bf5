"""`nfc-hospital bench assistant`: the help assistant's accuracy on the question set (correct
answer kind and topic per language) and the time per answer without the language model."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from central.assistant import Assistant, load_faq
from central.assistant.evaluate import evaluate, load_questions
from central.assistant.faq import DEFAULT_FAQ
from central.assistant.text import clear_token_cache
from central.clock import SystemClock
from central.engine import Engine
from central.seed import sample_hospital
from central.store import Database
from central.wayfinding import load_map

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "tests" / "data" / "assistant_questions.json"
SAMPLE_MAP = ROOT / "central" / "data" / "sample_map.json"


def _pct(ms: list[float], q: float) -> float:
    ms = sorted(ms)
    return ms[min(len(ms) - 1, int(len(ms) * q))]


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nfc-hospital bench assistant")
    parser.add_argument("--questions", default=str(QUESTIONS), help="question set (JSON)")
    parser.add_argument("--faq", default=str(DEFAULT_FAQ), help="FAQ file")
    parser.add_argument("--repeat", type=int, default=5, help="passes over the set for timing")
    parser.add_argument("--station", default="st-lobby", help="station node routes start at")
    parser.add_argument("--misses", action="store_true", help="list the wrong answers")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(str(Path(tmp) / "central.db"))
        db.migrate()
        engine = Engine(db, site_key=b"bench-assistant-site-key-0123456", clock=SystemClock())
        engine.load(sample_hospital(engine.service_day(), patients=12).data)
        t0 = time.perf_counter()
        assistant = Assistant(load_faq(args.faq), engine, load_map(SAMPLE_MAP))
        start_s = time.perf_counter() - t0
        questions = load_questions(args.questions)
        report = evaluate(assistant, questions, args.station)
        times: dict[str, list[float]] = {lang: [] for lang in report.by_lang}
        for _ in range(args.repeat):
            # Every pass tokenizes afresh: the answer-time cache would flatter repeated questions.
            clear_token_cache()
            for lang, score in evaluate(assistant, questions, args.station).by_lang.items():
                times[lang].extend(score.times_ms)
        # Live answers: a checked-in patient's own session (engine reads, snapshot, route).
        visit = engine.visits()[0].visit_id
        engine.check_in(visit, actor="bench")
        live_ms: list[float] = []
        live_qs = ["얼마나 기다려야 해요?", "지금 어디로 가야 하나요?", "Where do I pay?"]
        for i in range(args.repeat * 20):
            t1 = time.perf_counter()
            assistant.answer(live_qs[i % len(live_qs)], "ko", visit, args.station)
            live_ms.append((time.perf_counter() - t1) * 1000)
        engine.close()

    print(f"question set: {args.questions} ({len(questions)} questions)")
    print(f"start-up (Kiwi model + index + map): {start_s:.2f} s")
    head = ("lang", "n", "correct", "accuracy", "median", "p95", "max")
    print("{:<5} {:>3} {:>8} {:>9} {:>9} {:>9} {:>9}".format(*head))
    all_ms: list[float] = []
    for lang in ("ko", "en", "zh", "ja"):
        if lang not in report.by_lang:
            continue
        s = report.by_lang[lang]
        ms = times[lang]
        all_ms += ms
        print(
            f"{lang:<5} {s.total:>3} {s.correct:>8} {s.accuracy:>8.1%} "
            f"{statistics.median(ms):>6.2f} ms {_pct(ms, 0.95):>6.2f} ms {max(ms):>6.2f} ms"
        )
    total = sum(s.total for s in report.by_lang.values())
    correct = sum(s.correct for s in report.by_lang.values())
    print(
        f"{'all':<5} {total:>3} {correct:>8} {correct / total:>8.1%} "
        f"{statistics.median(all_ms):>6.2f} ms {_pct(all_ms, 0.95):>6.2f} ms "
        f"{max(all_ms):>6.2f} ms"
    )
    print(
        f"live  {len(live_ms):>3} answers with a session (wait / where to go / pay): median "
        f"{statistics.median(live_ms):.2f} ms, p95 {_pct(live_ms, 0.95):.2f} ms, "
        f"max {max(live_ms):.2f} ms"
    )
    print(
        f"timing: {args.repeat} passes after a warm-up pass (token cache cleared before each), "
        "no language model, no session; routes from the station"
    )
    missed = {(m.question.lang, m.question.q) for m in report.misses}
    for part in ("tuning", "holdout"):
        subset = [q for q in questions if q.set == part]
        if not subset:
            continue
        cells = []
        for lang in ("ko", "en", "zh", "ja"):
            asked = [q for q in subset if q.lang == lang]
            right = sum(1 for q in asked if (q.lang, q.q) not in missed)
            cells.append(f"{lang} {right}/{len(asked)}")
        right_all = sum(1 for q in subset if (q.lang, q.q) not in missed)
        print(f"{part:<8} {right_all}/{len(subset)} correct ({', '.join(cells)})")
    if args.misses:
        for m in report.misses:
            q = m.question
            print(f"  miss [{q.lang}] {q.q!r}: want {q.kind}/{q.topic}, got {m.kind}/{m.topic}")
    return 0
