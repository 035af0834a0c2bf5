"""SVG drawing: well-formed, self-contained, and names from the map arrive only as escaped text."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from central.wayfinding.loader import load_map
from central.wayfinding.routing import find_route
from central.wayfinding.svg import SVG_NS, render_route_svg
from protocol.hospital_map import HospitalMap
from tests.support.wayfinding_maps import two_floor_data

SAMPLE = Path(__file__).resolve().parents[2] / "central" / "data" / "sample_map.json"
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
ALLOWED = {"svg", "g", "title", "rect", "line", "polyline", "circle", "text"}


def hostile_map() -> HospitalMap:
    data = two_floor_data()
    for n in data["nodes"]:
        if n["node_id"] == "x":
            n["name"] = {"ko": SCRIPT, "en": IMG, "zh": "&amp; ]]>", "ja": "<!-- x -->"}
        if n["node_id"] == "st":
            n["name"] = {"ko": IMG, "en": SCRIPT, "zh": "bell\x07 nul\x00 tab\t", "ja": "\ufffe"}
    return HospitalMap.model_validate(data)


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # noqa: S314 - our own output, parsed to check it
    assert root.tag == f"{{{SVG_NS}}}svg"
    return root


def assert_inert(root: ET.Element) -> None:
    for el in root.iter():
        tag = el.tag.removeprefix(f"{{{SVG_NS}}}")
        assert tag in ALLOWED, tag
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on"), name
            assert "href" not in name.lower(), name
            assert "url(" not in value
            assert "javascript:" not in value.lower()


@pytest.mark.parametrize("lang", ["ko", "en", "zh", "ja"])
def test_hostile_names_are_escaped_and_the_svg_stays_inert(lang: str) -> None:
    m = hostile_map()
    route = find_route(m, "st", "x", step_free=True)
    svg = render_route_svg(m, route, lang=lang)
    assert "<script" not in svg
    assert "<img" not in svg
    assert "<!--" not in svg
    root = parse(svg)
    assert_inert(root)
    texts = [el.text for el in root.iter() if el.text]
    name = {"ko": SCRIPT, "en": IMG, "zh": "&amp; ]]>", "ja": "<!-- x -->"}[lang]
    # The name is there, as text, exactly as written.
    assert name in texts
    if lang == "ko":
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg


def test_hostile_names_in_the_title_attribute_are_escaped() -> None:
    m = hostile_map()
    route = find_route(m, "st", "x", step_free=False)
    root = parse(render_route_svg(m, route, lang="en"))
    assert root.get("aria-label") == f"{SCRIPT} → {IMG}"
    assert root.find(f"{{{SVG_NS}}}title") is not None


def test_characters_xml_cannot_carry_are_replaced() -> None:
    m = hostile_map()
    route = find_route(m, "st", "x", step_free=True)
    for lang in ("zh", "ja"):
        root = parse(render_route_svg(m, route, lang=lang))
        expected = "bell\ufffd nul\ufffd tab\t" if lang == "zh" else "\ufffd"
        title = root.find(f"{{{SVG_NS}}}title")
        assert title is not None
        assert (title.text or "").startswith(expected + " → ")
        assert root.get("aria-label", "").startswith(expected + " → ")


def test_route_floors_are_drawn_with_path_and_markers() -> None:
    m = load_map(SAMPLE)
    route = find_route(m, "st-lobby", "door-os-1", step_free=True)
    root = parse(render_route_svg(m, route))
    assert_inert(root)
    floors = [g.get("data-floor") for g in root.findall(f"{{{SVG_NS}}}g")]
    assert floors == ["1f", "3f"]  # 2F is only ridden past
    texts = [el.text for el in root.iter() if el.text]
    for expected in ("현재 위치", "3층으로", "1층에서", "정형외과 1진료실", "1F", "3F"):
        assert expected in texts
    assert len(root.findall(f".//{{{SVG_NS}}}polyline[@stroke='#dc2626']")) == 2
    en = [el.text for el in parse(render_route_svg(m, route, lang="en")).iter() if el.text]
    assert "You are here" in en
    assert "to 3F" in en


def test_one_floor_and_no_route() -> None:
    m = load_map(SAMPLE)
    route = find_route(m, "st-lobby", "door-os-1", step_free=True)
    only = parse(render_route_svg(m, route, floor_id="3f"))
    assert [g.get("data-floor") for g in only.findall(f"{{{SVG_NS}}}g")] == ["3f"]
    plain = parse(render_route_svg(m, None))
    assert [g.get("data-floor") for g in plain.findall(f"{{{SVG_NS}}}g")] == ["1f", "2f", "3f"]
    assert plain.findall(f".//{{{SVG_NS}}}polyline[@stroke='#dc2626']") == []
    with pytest.raises(KeyError, match="no floor '9f'"):
        render_route_svg(m, route, floor_id="9f")
