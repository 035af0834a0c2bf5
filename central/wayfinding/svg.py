"""Draw floors and a route as a self-contained SVG for the patients' phone page.

The document is built as an ElementTree, so every name from the map reaches it only as escaped
text: no markup from data, no scripts, no links, no external fonts or images. It scales to the
page's width through its viewBox.
"""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET

from central.wayfinding.directions import floor_name
from protocol.base import LocalizedText
from protocol.hospital_map import SERVICE_NODE_KINDS, Floor, HospitalMap, MapNode, Route

SVG_NS = "http://www.w3.org/2000/svg"
PX_PER_M = 16.0
HEADER_PX = 44.0
GAP_PX = 16.0
FONT = "sans-serif"

_ICONS: dict[str, tuple[str, str]] = {  # kind -> (label, fill)
    "elevator": ("EV", "#1d4ed8"),
    "escalator": ("ES", "#0e7490"),
    "stairs": ("", "#6b7280"),  # drawn as a staircase, no word to translate
    "restroom": ("WC", "#7c3aed"),
    "entrance": ("IN", "#15803d"),
    "exit": ("EXIT", "#15803d"),
    "station": ("i", "#9333ea"),
}
_START = LocalizedText(ko="현재 위치", en="You are here", zh="您在这里", ja="現在地")
_END = LocalizedText(ko="도착", en="Destination", zh="目的地", ja="目的地")
_TO_FLOOR = LocalizedText(ko="{floor}으로", en="to {floor}", zh="去{floor}", ja="{floor}へ")
_FROM_FLOOR = LocalizedText(ko="{floor}에서", en="from {floor}", zh="从{floor}", ja="{floor}から")


def _rides(route: Route, nodes: dict[str, MapNode]) -> list[tuple[MapNode, MapNode]]:
    """(first, last) landing of each run of floor changes: one elevator ride, 1F to 3F."""
    out: list[tuple[MapNode, MapNode]] = []
    run: list[MapNode] = []
    for prev, cur in itertools.pairwise(route.nodes):
        a, b = nodes[prev], nodes[cur]
        if a.floor_id != b.floor_id:
            run = run or [a]
            run.append(b)
            continue
        if run:
            out.append((run[0], run[-1]))
            run = []
    if run:
        out.append((run[0], run[-1]))
    return out


# Characters XML 1.0 cannot carry at all; ElementTree escapes markup but would pass these through.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: float | str) -> ET.Element:
    e = ET.SubElement(
        parent,
        tag,
        {k.rstrip("_").replace("_", "-"): _num(v) if isinstance(v, float | int) else _clean(v)
         for k, v in attrs.items()},
    )  # fmt: skip
    if text is not None:
        e.text = _clean(text)
    return e


def _floors_to_draw(m: HospitalMap, route: Route | None, floor_id: str | None) -> list[Floor]:
    floors = {f.floor_id: f for f in m.floors}
    if floor_id is not None:
        if floor_id not in floors:
            raise KeyError(f"no floor {floor_id!r} on the map")
        return [floors[floor_id]]
    if route is None:
        return sorted(m.floors, key=lambda f: (f.building_id, f.level))
    nodes = {n.node_id: n for n in m.nodes}
    # Floors the patient walks on, not those an elevator only passes.
    walked = {nodes[route.nodes[0]].floor_id, nodes[route.nodes[-1]].floor_id}
    for prev, cur in itertools.pairwise(route.nodes):
        if nodes[prev].floor_id == nodes[cur].floor_id:
            walked.add(nodes[cur].floor_id)
    seen: list[Floor] = []
    for node_id in route.nodes:
        f = floors[nodes[node_id].floor_id]
        if f.floor_id in walked and f not in seen:
            seen.append(f)
    return seen


def _label(n: MapNode, lang: str) -> str | None:
    return n.name.get(lang) if n.name is not None else None


def _draw_floor(
    g: ET.Element, m: HospitalMap, floor: Floor, route: Route | None, lang: str
) -> None:
    nodes = {n.node_id: n for n in m.nodes}
    here = {n.node_id: n for n in m.nodes if n.floor_id == floor.floor_id}
    floors = {f.floor_id: f for f in m.floors}
    w, h = floor.width_m * PX_PER_M, floor.height_m * PX_PER_M

    def xy(n: MapNode) -> tuple[float, float]:
        return n.x * PX_PER_M, HEADER_PX + n.y * PX_PER_M

    _el(g, "rect", x=0.0, y=0.0, width=w, height=h + HEADER_PX, fill="#ffffff", stroke="#9ca3af")
    _el(g, "rect", x=0.0, y=0.0, width=w, height=HEADER_PX, fill="#111827")
    _el(g, "text", floor.label, x=16.0, y=31.0, fill="#ffffff", font_size=26.0,
        font_weight="bold", font_family=FONT)  # fmt: skip

    for e in m.edges:
        if e.a in here and e.b in here:
            (ax, ay), (bx, by) = xy(here[e.a]), xy(here[e.b])
            wide = e.kind in ("corridor", "ramp")
            _el(g, "line", x1=ax, y1=ay, x2=bx, y2=by, stroke="#e5e7eb" if wide else "#d1d5db",
                stroke_width=28.0 if wide else 8.0, stroke_linecap="round")  # fmt: skip

    # The path: each run of consecutive route nodes on this floor is one polyline.
    for on_floor, run in itertools.groupby(route.nodes if route else [], key=lambda i: i in here):
        points = list(run)
        if on_floor and len(points) > 1:
            _el(g, "polyline", points=" ".join(f"{_num(a)},{_num(b)}" for a, b in
                (xy(here[p]) for p in points)), fill="none", stroke="#dc2626",
                stroke_width=7.0, stroke_linecap="round", stroke_linejoin="round")  # fmt: skip

    for n in here.values():
        x, y = xy(n)
        label = _label(n, lang)
        if n.kind in SERVICE_NODE_KINDS:
            is_end = route is not None and n.node_id == route.nodes[-1]
            _el(g, "rect", x=x - 44, y=y - 16, width=88.0, height=32.0, rx=5.0,
                fill="#fee2e2" if is_end else "#f3f4f6",
                stroke="#dc2626" if is_end else "#6b7280",
                stroke_width=4.0 if is_end else 1.0)  # fmt: skip
            if label:
                _el(g, "text", label, x=x, y=y + 4, text_anchor="middle", font_size=11.0,
                    font_family=FONT, fill="#111827")  # fmt: skip
        elif n.kind in _ICONS:
            text, fill = _ICONS[n.kind]
            _el(g, "rect", x=x - 18, y=y - 14, width=36.0, height=28.0, rx=6.0, fill=fill)
            if n.kind == "stairs":
                steps = [(x - 12 + 6 * i, y + 8 - 5 * j) for i in range(4) for j in (i, i + 1)]
                _el(g, "polyline", points=" ".join(f"{_num(a)},{_num(b)}" for a, b in steps),
                    fill="none", stroke="#ffffff", stroke_width=2.5)  # fmt: skip
            else:
                _el(g, "text", text, x=x, y=y + 5, text_anchor="middle", font_size=13.0,
                    font_weight="bold", font_family=FONT, fill="#ffffff")  # fmt: skip
        elif label:
            _el(g, "text", label, x=x, y=y + 30, text_anchor="middle", font_size=12.0,
                font_family=FONT, fill="#374151")  # fmt: skip

    if route is None:
        return
    for a, b in _rides(route, nodes):
        # Leaving this floor at `a`, or arriving on it at `b`.
        if a.node_id in here:
            text = _TO_FLOOR.get(lang).format(floor=floor_name(floors[b.floor_id], lang))
            x, y = xy(a)
        elif b.node_id in here:
            text = _FROM_FLOOR.get(lang).format(floor=floor_name(floors[a.floor_id], lang))
            x, y = xy(b)
        else:
            continue
        _el(g, "text", text, x=x, y=y - 22, text_anchor="middle", font_size=15.0,
            font_weight="bold", font_family=FONT, fill="#dc2626")  # fmt: skip
    start, end = nodes[route.nodes[0]], nodes[route.nodes[-1]]
    if start.node_id in here:
        x, y = xy(start)
        _el(g, "circle", cx=x, cy=y, r=12.0, fill="#16a34a", stroke="#ffffff", stroke_width=3.0)
        _el(g, "text", _START.get(lang), x=x, y=y + 32, text_anchor="middle", font_size=15.0,
            font_weight="bold", font_family=FONT, fill="#166534")  # fmt: skip
    if end.node_id in here:
        x, y = xy(end)
        name = _label(end, lang) or _END.get(lang)
        above = end.y < floor.height_m / 2
        _el(g, "text", name, x=x, y=y - 26 if above else y + 40,
            text_anchor="middle", font_size=16.0, font_weight="bold", font_family=FONT,
            fill="#991b1b")  # fmt: skip


def render_route_svg(
    m: HospitalMap, route: Route | None, floor_id: str | None = None, lang: str = "ko"
) -> str:
    """An SVG document of the route's floors (or `floor_id` alone; every floor with no route)."""
    floors = _floors_to_draw(m, route, floor_id)
    width = max(f.width_m for f in floors) * PX_PER_M
    heights = [f.height_m * PX_PER_M + HEADER_PX for f in floors]
    total = sum(heights) + GAP_PX * (len(floors) - 1)
    nodes = {n.node_id: n for n in m.nodes}
    if route is not None:
        ends = [nodes[route.nodes[0]], nodes[route.nodes[-1]]]
        names = [(_label(n, lang) or n.node_id) for n in ends]
        title = f"{names[0]} → {names[1]}"
    else:
        title = " / ".join(f.label for f in floors)
    root = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "viewBox": f"0 0 {_num(width)} {_num(total)}",
            "width": _num(width),
            "height": _num(total),
            "role": "img",
            "aria-label": _clean(title),
        },
    )
    _el(root, "title", title)
    y = 0.0
    for f, height in zip(floors, heights, strict=True):
        g = _el(root, "g", transform=f"translate(0 {_num(y)})")
        g.set("data-floor", f.floor_id)
        _draw_floor(g, m, f, route, lang)
        y += height + GAP_PX
    return ET.tostring(root, encoding="unicode")
