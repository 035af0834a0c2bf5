"""Short written directions from a route's geometry, in Korean, English, Chinese and Japanese.

A route is cut into walks (on one floor) and rides (elevator, stairs, escalator, ramp). Along a
walk, a turn is where the heading changes by more than `TURN_MIN_DEG`; straight runs merge.
Floor coordinates have y growing downward (as drawn), so a positive cross product of two
successive segment vectors is a right turn. Each step comes from one template per language,
phrased for elderly patients: one action per sentence, landmarks rather than distances.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal

from protocol.base import LocalizedText
from protocol.hospital_map import VERTICAL_EDGE_KINDS, Floor, HospitalMap, MapNode

LANGS = ("ko", "en", "zh", "ja")
TURN_MIN_DEG = 30.0
FOLLOW_MIN_M = 8.0  # a walk this long before the door earns "follow the corridor"
MAX_STEPS = 6

Turn = Literal["left", "right", "straight"]
Side = Literal["left", "right", "ahead", "near", "here"]
Texts = dict[str, str]


def turn_direction(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> Turn:
    """How one turns at `b` walking a -> b -> c, in floor coordinates (y downward)."""
    v1 = (b[0] - a[0], b[1] - a[1])
    v2 = (c[0] - b[0], c[1] - b[1])
    if v1 == (0, 0) or v2 == (0, 0):
        return "straight"
    cross = v1[0] * v2[1] - v1[1] * v2[0]
    dot = v1[0] * v2[0] + v1[1] * v2[1]
    angle = math.degrees(math.atan2(cross, dot))
    if abs(angle) < TURN_MIN_DEG:
        return "straight"
    return "right" if angle > 0 else "left"


def floor_name(f: Floor, lang: str) -> str:
    """A floor as said aloud: 3층, 3F, 3楼, 3階; basements 지하 1층 ...; else its label."""
    if f.level == 0 or lang not in ("ko", "zh", "ja"):
        return f.label
    n = abs(f.level)
    word = {"ko": f"{n}층", "zh": f"{n}楼", "ja": f"{n}階"}[lang]
    if f.level > 0:
        return word
    return {"ko": f"지하 {word}", "zh": f"地下{word}", "ja": f"地下{word}"}[lang]


# --- Korean particles -------------------------------------------------------------------------

_LATIN_WITH_FINAL = set("lmnr")  # 엘 엠 엔 알: letters whose Korean reading ends in a consonant
_DIGIT_WITH_FINAL = set("013678")  # 영 일 삼 육 칠 팔


def _has_final_consonant(word: str) -> bool | None:
    """Whether a Korean reading of `word` ends in a consonant (받침); None when unsure."""
    for ch in reversed(word.strip()):
        if "가" <= ch <= "힣":
            return (ord(ch) - 0xAC00) % 28 != 0
        if ch.isdigit():
            return ch in _DIGIT_WITH_FINAL
        if ch.isascii() and ch.isalpha():
            return ch.lower() in _LATIN_WITH_FINAL
        if ch in ")]」』 ":
            continue
        return None
    return None


def josa(word: str, with_final: str, without_final: str) -> str:
    """`word` with the particle that fits it: josa('진료실', '은', '는') == '진료실은'."""
    final = _has_final_consonant(word)
    if final is None:
        return f"{word}{with_final}({without_final})"
    return word + (with_final if final else without_final)


# --- Places -----------------------------------------------------------------------------------

_GENERIC: dict[str, Texts] = {
    "elevator": {"ko": "엘리베이터", "en": "the elevator", "zh": "电梯", "ja": "エレベーター"},
    "stairs": {"ko": "계단", "en": "the stairs", "zh": "楼梯", "ja": "階段"},
    "escalator": {
        "ko": "에스컬레이터",
        "en": "the escalator",
        "zh": "自动扶梯",
        "ja": "エスカレーター",
    },
    "restroom": {"ko": "화장실", "en": "the restrooms", "zh": "洗手间", "ja": "お手洗い"},
    "entrance": {"ko": "출입구", "en": "the entrance", "zh": "入口", "ja": "入口"},
    "exit": {"ko": "출구", "en": "the exit", "zh": "出口", "ja": "出口"},
    "station": {
        "ko": "안내 단말기",
        "en": "the check-in station",
        "zh": "签到机",
        "ja": "受付端末",
    },
    "desk": {"ko": "창구", "en": "the desk", "zh": "窗口", "ja": "窓口"},
    "pharmacy": {"ko": "약국", "en": "the pharmacy", "zh": "药房", "ja": "薬局"},
    "ramp": {"ko": "경사로", "en": "the ramp", "zh": "坡道", "ja": "スロープ"},
    "room": {"ko": "목적지", "en": "your destination", "zh": "目的地", "ja": "目的地"},
}
# Which neighbour best names an unnamed corridor junction ("turn left by the restrooms").
_LANDMARK_RANK = [
    "elevator", "escalator", "stairs", "restroom", "entrance", "exit", "desk", "pharmacy",
    "station", "room",
]  # fmt: skip


def _name_texts(name: LocalizedText) -> Texts:
    out = {lang: name.get(lang) for lang in LANGS}
    # Landmark names are written lower-case in English ("central hall") and take "the";
    # proper names of rooms ("X-ray room 1") stand alone.
    if out["en"][:1].islower():
        out["en"] = "the " + out["en"]
    return out


def _own_place(n: MapNode) -> Texts | None:
    """What to call a destination: its name, else what it is."""
    if n.name is not None:
        return _name_texts(n.name)
    return _GENERIC.get(n.kind)


def _landmark(n: MapNode) -> Texts | None:
    """What to call a place one passes: its name, else what it is if that tells it apart."""
    if n.name is not None:
        return _name_texts(n.name)
    if n.kind in ("corridor", "room", "desk", "station"):
        return None  # "turn left at the room" would not say which one
    return _GENERIC.get(n.kind)


class MapIndex:
    """Look-ups over one map that every route's directions share; build once per map."""

    def __init__(self, m: HospitalMap) -> None:
        self.map = m
        self.nodes = {n.node_id: n for n in m.nodes}
        self.floors: dict[str, Floor] = {f.floor_id: f for f in m.floors}
        self.edges = {frozenset((e.a, e.b)): e for e in m.edges}
        self.neighbours: dict[str, list[str]] = {}
        for e in m.edges:
            self.neighbours.setdefault(e.a, []).append(e.b)
            self.neighbours.setdefault(e.b, []).append(e.a)


class _Context:
    def __init__(self, index: MapIndex, path: list[str]) -> None:
        self.nodes = index.nodes
        self.floors = index.floors
        self.edges = index.edges
        self.neighbours = index.neighbours
        self.on_route = set(path)

    def xy(self, node_id: str) -> tuple[float, float]:
        n = self.nodes[node_id]
        return (n.x, n.y)

    def dist(self, a: str, b: str) -> float:
        (ax, ay), (bx, by) = self.xy(a), self.xy(b)
        return math.hypot(ax - bx, ay - by)

    def place(self, node_id: str) -> Texts | None:
        """What to call a turning point: its own name, or 'by' its best-named neighbour."""
        n = self.nodes[node_id]
        own = _landmark(n)
        if own is not None:
            return own
        candidates = [
            self.nodes[o]
            for o in self.neighbours.get(node_id, [])
            if o not in self.on_route
            and self.nodes[o].floor_id == n.floor_id
            and self.nodes[o].kind in _LANDMARK_RANK
            and _landmark(self.nodes[o]) is not None
        ]
        if not candidates:
            return None
        best = min(
            candidates, key=lambda c: (_LANDMARK_RANK.index(c.kind), self.dist(node_id, c.node_id))
        )
        texts = _landmark(best)
        assert texts is not None
        return {
            "ko": f"{texts['ko']} 앞",
            "en": texts["en"],
            "zh": f"{texts['zh']}前",
            "ja": f"{texts['ja']}の前",
        }

    def floor_texts(self, node_id: str) -> Texts:
        f = self.floors[self.nodes[node_id].floor_id]
        return {lang: floor_name(f, lang) for lang in LANGS}


# --- Actions and their templates --------------------------------------------------------------

_DIR: dict[str, Texts] = {
    "left": {"ko": "왼쪽", "en": "left", "zh": "左", "ja": "左"},
    "right": {"ko": "오른쪽", "en": "right", "zh": "右", "ja": "右"},
}

_EXIT: dict[str, Texts] = {
    "elevator": {
        "ko": "엘리베이터에서 내려",
        "en": "Leave the elevator",
        "zh": "出电梯后",
        "ja": "エレベーターを降りたら",
    },
    "escalator": {
        "ko": "에스컬레이터에서 내려",
        "en": "Step off the escalator",
        "zh": "下扶梯后",
        "ja": "エスカレーターを降りたら",
    },
    "stairs": {
        "ko": "계단을 나와",
        "en": "Leave the stairs",
        "zh": "出楼梯后",
        "ja": "階段を出たら",
    },
    "ramp": {
        "ko": "경사로를 지나",
        "en": "At the end of the ramp",
        "zh": "走完坡道后",
        "ja": "スロープを過ぎたら",
    },
}

_RIDE: dict[tuple[str, bool], Texts] = {
    ("elevator", True): {
        "ko": "엘리베이터를 타고 {floor}으로 가세요.",
        "en": "Take the elevator to {floor}.",
        "zh": "乘电梯到{floor}。",
        "ja": "エレベーターで{floor}へ行ってください。",
    },
    ("elevator", False): {
        "ko": "엘리베이터를 타고 {floor}으로 가세요.",
        "en": "Take the elevator to {floor}.",
        "zh": "乘电梯到{floor}。",
        "ja": "エレベーターで{floor}へ行ってください。",
    },
    ("stairs", True): {
        "ko": "계단으로 {floor}까지 올라가세요.",
        "en": "Take the stairs up to {floor}.",
        "zh": "走楼梯上到{floor}。",
        "ja": "階段で{floor}まで上がってください。",
    },
    ("stairs", False): {
        "ko": "계단으로 {floor}까지 내려가세요.",
        "en": "Take the stairs down to {floor}.",
        "zh": "走楼梯下到{floor}。",
        "ja": "階段で{floor}まで下りてください。",
    },
    ("escalator", True): {
        "ko": "에스컬레이터를 타고 {floor}으로 올라가세요.",
        "en": "Take the escalator up to {floor}.",
        "zh": "乘自动扶梯上到{floor}。",
        "ja": "エスカレーターで{floor}へ上がってください。",
    },
    ("escalator", False): {
        "ko": "에스컬레이터를 타고 {floor}으로 내려가세요.",
        "en": "Take the escalator down to {floor}.",
        "zh": "乘自动扶梯下到{floor}。",
        "ja": "エスカレーターで{floor}へ下りてください。",
    },
    ("ramp", True): {
        "ko": "경사로를 따라 {floor}으로 가세요.",
        "en": "Follow the ramp to {floor}.",
        "zh": "沿坡道前往{floor}。",
        "ja": "スロープで{floor}へ行ってください。",
    },
    ("ramp", False): {
        "ko": "경사로를 따라 {floor}으로 가세요.",
        "en": "Follow the ramp to {floor}.",
        "zh": "沿坡道前往{floor}。",
        "ja": "スロープで{floor}へ行ってください。",
    },
}

_T: dict[str, Texts] = {
    "go_to": {
        "ko": "{place}까지 가세요.",
        "en": "Go to {place}.",
        "zh": "请前往{place}。",
        "ja": "{place}まで行ってください。",
    },
    "go_to_turn": {
        "ko": "{place}까지 가서 {dir}으로 도세요.",
        "en": "Go to {place}, then turn {dir}.",
        "zh": "走到{place}后向{dir}转。",
        "ja": "{place}まで行って、{dir}に曲がってください。",
    },
    "turn_at": {
        "ko": "{place}에서 {dir}으로 도세요.",
        "en": "Turn {dir} at {place}.",
        "zh": "在{place}向{dir}转。",
        "ja": "{place}で{dir}に曲がってください。",
    },
    "turn": {
        "ko": "{dir}으로 도세요.",
        "en": "Turn {dir}.",
        "zh": "向{dir}转。",
        "ja": "{dir}に曲がってください。",
    },
    "exit_turn": {
        "ko": "{exit} {dir}으로 도세요.",
        "en": "{exit} and turn {dir}.",
        "zh": "{exit}向{dir}转。",
        "ja": "{exit}{dir}に曲がってください。",
    },
    "corridor_turn": {
        "ko": "복도로 나가서 {dir}으로 도세요.",
        "en": "Step into the corridor and turn {dir}.",
        "zh": "走到走廊后向{dir}转。",
        "ja": "廊下に出て、{dir}に曲がってください。",
    },
    "follow": {
        "ko": "복도를 따라 가세요.",
        "en": "Follow the corridor.",
        "zh": "请沿走廊走。",
        "ja": "廊下を進んでください。",
    },
    "follow_signs": {
        "ko": "{place} 안내 표지를 따라 가세요.",
        "en": "Follow the signs to {place}.",
        "zh": "请按指示牌前往{place}。",
        "ja": "{place}への案内表示に従って進んでください。",
    },
    "arrive_side": {
        "ko": "{place_topic} {dir}에 있습니다.",
        "en": "{place} is on your {dir}.",
        "zh": "{place}在您的{dir}边。",
        "ja": "{place}は{dir}側にあります。",
    },
    "arrive_ahead": {
        "ko": "{place_topic} 바로 앞에 있습니다.",
        "en": "{place} is straight ahead.",
        "zh": "{place}就在正前方。",
        "ja": "{place}は正面にあります。",
    },
    "follow_side": {
        "ko": "복도를 따라 가면 {dir}에 {place_subject} 있습니다.",
        "en": "Follow the corridor; {place} is on your {dir}.",
        "zh": "沿走廊走，{place}在您的{dir}边。",
        "ja": "廊下を進むと、{dir}側に{place}があります。",
    },
    "follow_ahead": {
        "ko": "복도를 따라 가면 앞에 {place_subject} 있습니다.",
        "en": "Follow the corridor; {place} is straight ahead.",
        "zh": "沿走廊走，{place}就在正前方。",
        "ja": "廊下を進むと、正面に{place}があります。",
    },
    "arrive_near": {
        "ko": "{place_topic} 바로 가까이에 있습니다.",
        "en": "{place} is right next to you.",
        "zh": "{place}就在您旁边。",
        "ja": "{place}はすぐそばにあります。",
    },
    "arrive_here": {
        "ko": "여기가 {place}입니다.",
        "en": "You are at {place}.",
        "zh": "您已到达{place}。",
        "ja": "ここが{place}です。",
    },
}


@dataclass
class _Step:
    key: str
    place: Texts | None = None
    dir: str | None = None
    ride: tuple[str, bool] | None = None
    exit: str | None = None
    floor: Texts | None = None
    collapsible: bool = False  # a turn along a walk, which "follow the signs" may replace

    def render(self) -> LocalizedText:
        out: dict[str, str] = {}
        for lang in LANGS:
            if self.ride is not None:
                assert self.floor is not None
                text = _RIDE[self.ride][lang].format(floor=self.floor[lang])
            else:
                place = self.place[lang] if self.place else ""
                values = {
                    "place": place,
                    "place_topic": josa(place, "은", "는") if lang == "ko" else place,
                    "place_subject": josa(place, "이", "가") if lang == "ko" else place,
                    "dir": _DIR[self.dir][lang] if self.dir in _DIR else "",
                    "exit": _EXIT[self.exit][lang] if self.exit else "",
                }
                text = _T[self.key][lang].format(**values)
            out[lang] = text[:1].upper() + text[1:] if lang == "en" else text
        return LocalizedText(**out)


def _legs(ctx: _Context, path: list[str]) -> list[tuple[str, list[str]]]:
    """Cut a path into ('walk', nodes) and (ride kind, nodes) legs."""
    legs: list[tuple[str, list[str]]] = []
    for a, b in itertools.pairwise(path):
        e = ctx.edges[frozenset((a, b))]
        vertical = e.kind in VERTICAL_EDGE_KINDS or (ctx.nodes[a].floor_id != ctx.nodes[b].floor_id)
        kind = e.kind if vertical else "walk"
        if legs and legs[-1][0] == kind:
            legs[-1][1].append(b)
        else:
            legs.append((kind, [a, b]))
    return legs


def _walk_steps(ctx: _Context, walk: list[str], after: str | None, then: str | None) -> list[_Step]:
    """Steps of one walk; `after` is the ride just left (None at the start of the route),
    `then` the ride that follows (None when the walk ends at the destination)."""
    turns = [
        (i, d)
        for i in range(1, len(walk) - 1)
        if (d := turn_direction(ctx.xy(walk[i - 1]), ctx.xy(walk[i]), ctx.xy(walk[i + 1])))
        != "straight"
    ]
    if then is not None:
        # Towards an elevator or stairs: they are signposted, so name them and go.
        return [_Step("go_to", place=ctx.place(walk[-1]) or _GENERIC[then])]
    side: str
    if turns and turns[-1][0] == len(walk) - 2:
        side = turns.pop()[1]
    elif len(walk) >= 3 or after is not None:
        side = "ahead"
    else:
        side = "near"
    steps: list[_Step] = []
    for k, (i, d) in enumerate(turns):
        place = ctx.place(walk[i])
        if k == 0 and after is not None and i == 1:
            steps.append(_Step("exit_turn", exit=after, dir=d, collapsible=True))
        elif k == 0 and after is None:
            # From a station the first heading is only "into the corridor".
            key = "go_to_turn" if place else "corridor_turn"
            steps.append(_Step(key, place=place, dir=d, collapsible=True))
        else:
            steps.append(
                _Step("turn_at" if place else "turn", place=place, dir=d, collapsible=True)
            )
    last_mark = walk[turns[-1][0]] if turns else walk[0]
    follow = len(walk) >= 3 and ctx.dist(last_mark, walk[-2]) >= FOLLOW_MIN_M
    dest = _own_place(ctx.nodes[walk[-1]]) or _GENERIC["room"]
    if side == "near":
        steps.append(_Step("arrive_near", place=dest))
    elif follow:
        steps.append(
            _Step("follow_side" if side != "ahead" else "follow_ahead", place=dest, dir=side)
        )
    else:
        steps.append(
            _Step("arrive_side" if side != "ahead" else "arrive_ahead", place=dest, dir=side)
        )
    return steps


def describe_route(m: HospitalMap | MapIndex, path: list[str]) -> list[LocalizedText]:
    """2 to 6 short steps that walk a patient along `path` (node ids of `m`)."""
    ctx = _Context(m if isinstance(m, MapIndex) else MapIndex(m), path)
    if len(path) == 1:
        dest = _own_place(ctx.nodes[path[0]]) or _GENERIC["room"]
        return [_Step("arrive_here", place=dest).render()]
    legs = _legs(ctx, path)
    groups: list[list[_Step]] = []
    after: str | None = None
    for n, (kind, nodes) in enumerate(legs):
        if kind == "walk":
            then = legs[n + 1][0] if n + 1 < len(legs) else None
            groups.append(_walk_steps(ctx, nodes, after, then))
            after = None
        else:
            up = (
                ctx.floors[ctx.nodes[nodes[-1]].floor_id].level
                > ctx.floors[ctx.nodes[nodes[0]].floor_id].level
            )
            steps = [_Step("ride", ride=(kind, up), floor=ctx.floor_texts(nodes[-1]))]
            if n == len(legs) - 1:  # the route ends on a landing
                dest = _own_place(ctx.nodes[nodes[-1]]) or _GENERIC["room"]
                steps.append(_Step("arrive_here", place=dest))
            groups.append(steps)
            after = kind
    # Too many steps: the walk with the most turns becomes "follow the signs to ...".
    while sum(len(g) for g in groups) > MAX_STEPS:
        g = max(groups, key=lambda g: sum(s.collapsible for s in g))
        turns = [s for s in g if s.collapsible]
        if len(turns) < 2:
            break
        idx = g.index(turns[0])
        target = g[-1].place
        g[:] = [s for s in g if not s.collapsible]
        g.insert(idx, _Step("follow_signs", place=target))
    steps = [s for g in groups for s in g]
    if len(steps) == 1 and steps[0].key.startswith("follow_"):
        only = steps[0]
        steps = [
            _Step("follow"),
            _Step(
                "arrive_side" if only.key == "follow_side" else "arrive_ahead",
                place=only.place,
                dir=only.dir,
            ),
        ]
    return [s.render() for s in steps[:MAX_STEPS]]
