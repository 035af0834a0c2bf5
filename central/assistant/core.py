"""The help assistant: a question in, an answer kind and text out, from the FAQ, the room
directory, the map and (only with the patient's own session) the patient's visit.

`Assistant.answer(question, lang, visit_id, station_node)` is synchronous and does no network
I/O (the engine reads are local database reads); `ask` adds the optional language-model
rephrasing. The caller resolves `visit_id` from the patient's phone-page session; without
one, only general answers are given, and a visit id is never taken from the question text.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from central.assistant import phrases as P
from central.assistant.errors import EmptyQuestion, QuestionTooLong
from central.assistant.faq import FaqEntry, FaqFile
from central.assistant.index import Hit, Index
from central.assistant.models import Answer, AnswerKind, Lang, Source, TopQuestion, TopQuestions
from central.assistant.text import normalize, script_of, tokenize, tokens_en
from central.engine import Engine, Rejected, VisitView
from central.wayfinding.errors import NoRouteError
from central.wayfinding.routing import RoutingGraphs, build_graphs, find_route
from protocol.base import LocalizedText
from protocol.hospital_map import HospitalMap, Route
from protocol.messages import DirectoryRoom

log = logging.getLogger("central.assistant")

MIN_SCORE = 1.0
"""BM25 score below which nothing matches (calibrated on tests/data/assistant_questions.json)."""
MIN_COVERAGE = 0.15
"""Share of the question's word weight the match must contain (calibrated likewise)."""


DIRECTORY_CHECK_S = 5.0
"""How stale the room directory may be (rooms open and close rarely)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What a question is about, before any live data is read."""

    kind: AnswerKind
    entry: FaqEntry | None
    room: DirectoryRoom | None
    hit: Hit | None


class Assistant:
    """Answers patients' questions; thread-safe (the index is rebuilt under a lock)."""

    def __init__(
        self,
        faq: FaqFile,
        engine: Engine,
        hospital_map: HospitalMap | None,
        *,
        max_chars: int = 300,
        min_score: float = MIN_SCORE,
        min_coverage: float = MIN_COVERAGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.faq = faq
        self.engine = engine
        self._map = hospital_map
        self._map_source: Callable[[], HospitalMap | None] | None = None
        self.max_chars = max_chars
        self.min_score = min_score
        self.min_coverage = min_coverage
        self.clock = clock
        self._lock = threading.Lock()
        self._rooms_version = -1
        self._rooms: dict[str, DirectoryRoom] = {}
        self._index: Index | None = None
        self._checked_at = 0.0
        self._graphs: RoutingGraphs | None = None
        self._graphs_at = 0.0
        self._floor_labels: dict[str, str] = {}
        self._node_floor: dict[str, str] = {}
        self._use_map(hospital_map)
        self._by_id = {e.id: e for e in faq.entries}
        # The index (the Korean analyser and every FAQ entry tokenised: seconds) is built by
        # the first `refresh()`: central calls it in a thread after start-up.

    # ------------------------------------------------------------------ data

    @property
    def map(self) -> HospitalMap | None:
        """The map now: from the source given to `follow_map`, else the one given at start."""
        if self._map_source is not None:
            m = self._map_source()
            if m is not self._map:
                self._use_map(m)
        return self._map

    def follow_map(self, source: Callable[[], HospitalMap | None]) -> None:
        """Ask `source` for the map before each use (an imported map, API closures); a new
        map object rebuilds the routing graphs at once."""
        self._map_source = source

    def _use_map(self, m: HospitalMap | None) -> None:
        with self._lock:
            self._map = m
            self._graphs = None
            self._floor_labels = {f.floor_id: f.label for f in m.floors} if m else {}
            self._node_floor = {n.node_id: n.floor_id for n in m.nodes} if m else {}

    def refresh(self, *, force: bool = False) -> Index:
        """The index, rebuilt when the room directory changed (a room added, renamed, opened
        or closed). The directory is read at most every DIRECTORY_CHECK_S seconds: reading
        it was most of the time of an answer."""
        now = self.clock()
        with self._lock:
            if not force and self._index is not None and now - self._checked_at < DIRECTORY_CHECK_S:
                return self._index
        doc = self.engine.directory_rooms()
        with self._lock:
            self._checked_at = now
            if self._index is None or doc.version != self._rooms_version:
                self._index = Index(self.faq, doc.rooms)
                self._rooms = {r.room_id: r for r in doc.rooms}
                self._rooms_version = doc.version
                log.info("assistant.index_built rooms=%d version=%d", len(doc.rooms), doc.version)
            return self._index

    def graphs(self) -> RoutingGraphs | None:
        """Routing graphs, rebuilt each minute so closures that ended are forgotten."""
        m = self.map
        if m is None:
            return None
        now = self.clock()
        with self._lock:
            if self._graphs is None or now - self._graphs_at > 60.0:
                self._graphs = build_graphs(m)
                self._graphs_at = now
            return self._graphs

    def nearest(self, start: str | None, targets: list[str], step_free: bool) -> Route | None:
        """The shortest route from `start` to any of `targets` (None without a start or way)."""
        graphs = self.graphs()
        if graphs is None or start is None:
            return None
        best: Route | None = None
        for t in targets:
            if t == start:
                continue
            try:
                r = find_route(graphs, start, t, step_free)
            except NoRouteError:
                continue
            if best is None or r.length_m < best.length_m:
                best = r
        return best

    def floor_of(self, node_id: str) -> str | None:
        """The floor label (2F) of a map node."""
        self.map  # noqa: B018 - a newer map replaces the floor tables
        floor = self._node_floor.get(node_id)
        return self._floor_labels.get(floor) if floor else None

    # ------------------------------------------------------------------ deciding

    def check(self, question: str) -> str:
        """The question, stripped; QuestionTooLong / EmptyQuestion when it cannot be used."""
        q = question.strip()
        if len(q) > self.max_chars:
            raise QuestionTooLong(f"{len(q)} characters; at most {self.max_chars}", "question")
        if not q:
            raise EmptyQuestion("", "question")
        return q

    def is_medical(self, question: str) -> bool:
        """A question about results, medicines or symptoms (and not about when or where)."""
        text = normalize(question)
        lang = script_of(text)
        tokens = tokenize(text)
        joined = " ".join(tokens)

        def has(word: str) -> bool:
            w = normalize(word)
            if lang in ("zh", "ja"):
                return w in text
            if lang == "ko":
                return any(t.startswith(w) for t in tokens) or w in joined
            stems = tokens_en(w)  # the term stemmed like the question (dangerous -> dangerou)
            return bool(stems) and all(t in tokens for t in stems)

        terms = self.faq.medical_terms.get(lang)
        if not any(has(w) for w in terms):
            return False
        return not any(has(w) for w in self.faq.medical_exceptions.get(lang))

    def decide(self, question: str) -> Decision:
        """The answer kind and the FAQ entry or room it comes from."""
        if self.is_medical(question):
            return Decision("medical", self._medical_entry(), None, None)
        hit = self.refresh().search(question)
        if hit is None or hit.score < self.min_score or hit.coverage < self.min_coverage:
            return Decision("no_match", None, None, hit)
        if hit.room is not None:
            return Decision("place", None, hit.room, hit)
        assert hit.entry is not None
        kind: AnswerKind = hit.entry.intent
        return Decision(kind, hit.entry, None, hit)

    def _medical_entry(self) -> FaqEntry:
        return next(e for e in self.faq.entries if e.intent == "medical")

    # ------------------------------------------------------------------ answering

    def answer(
        self,
        question: str,
        lang: Lang = "ko",
        visit_id: str | None = None,
        station_node: str | None = None,
    ) -> Answer:
        """Answer one question. `visit_id` only from the caller's verified patient session."""
        q = self.check(question)
        d = self.decide(q)
        visit = self._visit(visit_id)
        ctx = _Ctx(self, q, lang, visit, station_node, d)
        if d.kind == "medical":
            result = ctx.medical()
        elif d.kind == "no_match":
            result = ctx.no_match()
        elif d.kind == "place":
            result = ctx.place()
        elif d.kind == "faq":
            result = ctx.faq()
        else:
            result = ctx.live()
        log.info(
            "assistant.answered kind=%s topic=%s live=%s lang=%s",
            result.kind,
            result.topic,
            result.live,
            lang,
        )
        return result

    def _visit(self, visit_id: str | None) -> VisitView | None:
        if visit_id is None:
            return None
        try:
            return self.engine.visit(visit_id)
        except Rejected:
            return None

    def top_questions(self, lang: Lang = "ko") -> TopQuestions:
        """The Help screen's questions, in rank order."""
        ranked = sorted((e for e in self.faq.entries if e.top), key=lambda e: e.top or 0)
        return TopQuestions(
            lang=lang,
            questions=[
                TopQuestion(id=e.id, text=e.questions.get(lang)[0], label=_first_questions(e))
                for e in ranked
            ],
        )

    def suggestions(self, lang: Lang, exclude: str | None) -> list[str]:
        """Three top questions other than the one answered."""
        out = [q.text for q in self.top_questions(lang).questions if q.id != exclude]
        return out[:3]

    def rooms(self) -> dict[str, DirectoryRoom]:
        """The room directory the index was built from."""
        self.refresh()
        return self._rooms

    def entry(self, entry_id: str) -> FaqEntry | None:
        """An FAQ entry by id."""
        return self._by_id.get(entry_id)


def _alike(
    room: DirectoryRoom, rooms: Iterable[DirectoryRoom], question: str
) -> list[DirectoryRoom]:
    """Rooms the question cannot tell apart from `room` (내과 -> 내과 1, 2, 3), unless the
    question names a number."""
    if any(c.isdigit() for c in normalize(question)):
        return [room]
    base = room.room_id.rstrip("0123456789-")
    return [
        r
        for r in rooms
        if r.department_id == room.department_id
        and r.kind == room.kind
        and r.room_id.rstrip("0123456789-") == base
    ]


def _first_questions(e: FaqEntry) -> LocalizedText:
    return LocalizedText(
        ko=e.questions.ko[0], en=e.questions.en[0], zh=e.questions.zh[0], ja=e.questions.ja[0]
    )


class _Ctx:
    """One question being answered: language, the patient's visit (if any), where they stand."""

    def __init__(
        self,
        a: Assistant,
        question: str,
        lang: Lang,
        visit: VisitView | None,
        station_node: str | None,
        d: Decision,
    ) -> None:
        self.a = a
        self.question = question
        self.lang = lang
        self.visit = visit
        self.station_node = station_node
        self.d = d
        self.rooms = a.rooms()

    # -- pieces

    @property
    def step_free(self) -> bool:
        return bool(self.visit and self.visit.step_free)

    def start_node(self) -> str | None:
        """Where the patient is: the station asked at, else the last room done today."""
        if self.station_node:
            return self.station_node
        if self.visit is None:
            return None
        start = None
        for s in self.visit.steps:
            room = self.rooms.get(s.room_id)
            if s.done and room is not None and room.node_id:
                start = room.node_id
        if start is None and self.a.map is not None:
            start = next((n.node_id for n in self.a.map.nodes if n.kind == "entrance"), None)
        return start

    def route_to(self, targets: list[str]) -> Route | None:
        return self.a.nearest(self.start_node(), targets, self.step_free)

    def make(
        self,
        kind: AnswerKind,
        text: LocalizedText,
        *,
        topic: str | None,
        sources: list[Source],
        route: Route | None = None,
        live: bool = False,
    ) -> Answer:
        hit = self.d.hit
        return Answer(
            kind=kind,
            topic=topic,
            lang=self.lang,
            text=text.get(self.lang),
            answer=text,
            live=live,
            sources=sources,
            route=route,
            suggestions=self.a.suggestions(self.lang, topic),
            score=round(hit.score, 3) if hit else 0.0,
        )

    def current_room(self) -> DirectoryRoom | None:
        v = self.visit
        if v is None:
            return None
        room_id = v.room_id or (
            v.steps[v.current_step].room_id if v.current_step < len(v.steps) else None
        )
        return self.rooms.get(room_id) if room_id else None

    def rooms_of_kind(self, kind: str) -> list[DirectoryRoom]:
        return [r for r in self.rooms.values() if r.kind == kind and r.open]

    # -- answers

    def faq(self) -> Answer:
        e = self.d.entry
        assert e is not None
        return self.make("faq", e.answer, topic=e.id, sources=[Source(type="faq", id=e.id)])

    def medical(self) -> Answer:
        e = self.a._medical_entry()
        room = self.current_room()
        if room is not None:
            who = P.ask_room_staff(room)
            sources = [Source(type="faq", id=e.id), Source(type="visit", id="visit")]
        else:
            who = P.ask_nurse_station(self.a.faq.nurse_station)
            sources = [Source(type="faq", id=e.id)]
        return self.make(
            "medical", P.join(e.answer, who), topic=e.id, sources=sources, live=room is not None
        )

    def no_match(self) -> Answer:
        desks = self.a.faq.help_desk_nodes
        route = self.route_to(desks)
        target = route.to_node if route else desks[0]
        text = P.no_match(self.a.faq.help_desk_name, self.a.floor_of(target))
        if route is not None:
            text = P.join(text, P.route_intro(route, self.a.floor_of(target)))
        return self.make(
            "no_match", text, topic=None, sources=[Source(type="map", id=target)], route=route
        )

    def place(self) -> Answer:
        if self.d.room is not None:
            return self._room_place()
        e = self.d.entry
        assert e is not None
        targets: list[str] = []
        if e.place_kind and self.a.map is not None:
            kinds = {e.place_kind, "entrance"} if e.place_kind == "exit" else {e.place_kind}
            targets = [n.node_id for n in self.a.map.nodes if n.kind in kinds]
        if e.room_kind:
            targets += [r.node_id for r in self.rooms_of_kind(e.room_kind) if r.node_id]
        route = self.route_to(targets)
        text: LocalizedText = e.answer
        sources = [Source(type="faq", id=e.id)]
        if route is not None:
            text = P.join(text, P.route_intro(route, self.a.floor_of(route.to_node)))
            sources.append(Source(type="map", id=route.to_node))
        return self.make("place", text, topic=e.id, sources=sources, route=route)

    def _room_place(self) -> Answer:
        assert self.d.room is not None
        tied = _alike(self.d.room, self.rooms.values(), self.question)
        mine = self.current_room()
        # Of equally good rooms (내과 1, 2, 3) prefer the patient's own, else the nearest.
        room = mine if mine is not None and mine in tied else self.d.room
        route = None
        if room is not mine and len(tied) > 1:
            nodes = {r.node_id: r for r in tied if r.node_id}
            route = self.route_to(list(nodes))
            if route is not None:
                room = nodes[route.to_node]
        elif room.node_id:
            route = self.route_to([room.node_id])
        text = P.room_location(room)
        sources = [Source(type="room", id=room.room_id)]
        if route is not None:
            text = P.join(text, P.route_intro(route, room.floor_label))
        return self.make("place", text, topic=f"room:{room.room_id}", sources=sources, route=route)

    def live(self) -> Answer:
        """wait / where_to_go / next_step / payment / missed_call."""
        e = self.d.entry
        assert e is not None
        kind = self.d.kind
        v = self.visit
        if kind == "payment":
            return self._payment(e)
        if v is None:
            return self.make(kind, e.answer, topic=e.id, sources=[Source(type="faq", id=e.id)])
        sources = [Source(type="visit", id="visit")]
        room = self.current_room()
        route = None
        if kind == "wait":
            text = self._wait_text(v, room, sources)
        elif kind == "missed_call":
            text = P.join(P.missed_call(v, room), e.answer)
            sources.append(Source(type="faq", id=e.id))
        elif kind == "next_step":
            text = P.next_step(v, self.rooms)
        else:  # where_to_go
            text = P.where_to_go(v, room)
        if room is not None and room.node_id and v.queue_state != "ONGOING":
            route = self.route_to([room.node_id])
            if route is not None:
                text = P.join(text, P.route_intro(route, room.floor_label))
        if v.state.value == "PAYMENT" and kind != "missed_call":
            return self._payment(e, lead=text)
        return self.make(kind, text, topic=e.id, sources=sources, route=route, live=True)

    def _wait_text(
        self, v: VisitView, room: DirectoryRoom | None, sources: list[Source]
    ) -> LocalizedText:
        position = wait = low = high = None
        if v.room_id and v.queue_state in ("WAITING", "CALLED", "ONGOING"):
            snap = self.a.engine.room_snapshot(v.room_id)
            sources.append(Source(type="queue", id=v.room_id))
            # Only this visit's own entry is read; nobody else's data leaves the snapshot.
            for entry in [*snap.now_calling, *snap.ongoing, *snap.waiting]:
                if entry.visit_id == v.visit_id:
                    position = entry.position
                    wait, low, high = entry.estimated_wait_s, entry.wait_low_s, entry.wait_high_s
                    break
        return P.wait(v, room, position, wait, low, high)

    def _payment(self, e: FaqEntry, lead: LocalizedText | None = None) -> Answer:
        pay = next((x for x in self.a.faq.entries if x.intent == "payment"), e)
        desks = [r.node_id for r in self.rooms_of_kind(pay.room_kind or "payment") if r.node_id]
        route = self.route_to(desks)
        v = self.visit
        text: LocalizedText = pay.answer
        sources = [Source(type="faq", id=pay.id)]
        live = False
        if v is not None and v.state.value == "PAYMENT":
            text = P.payment_now()
            live = True
            sources.append(Source(type="visit", id="visit"))
        elif v is not None:
            text = P.join(P.payment_not_yet(), pay.answer)
            live = True
            sources.append(Source(type="visit", id="visit"))
        if lead is not None and e.intent != "payment":
            text = P.join(lead, text)
        if route is not None:
            text = P.join(text, P.route_intro(route, self.a.floor_of(route.to_node)))
            sources.append(Source(type="map", id=route.to_node))
        kind: AnswerKind = e.intent if e.intent != "faq" else "payment"
        return self.make(kind, text, topic=e.id, sources=sources, route=route, live=live)
