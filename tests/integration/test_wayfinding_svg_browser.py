"""The route SVG inlined in a page, as the phone page does: Chromium runs nothing from a name."""

from __future__ import annotations

import shutil

import pytest

from central.wayfinding.routing import find_route
from central.wayfinding.svg import render_route_svg
from protocol.hospital_map import HospitalMap
from tests.support.wayfinding_maps import two_floor_data

pytestmark = [pytest.mark.integration, pytest.mark.browser]

IMG = '"><img src=x onerror="window.__pwned = 1">'
SCRIPT = "<script>window.__pwned = 2</script>"
SVG_ONLOAD = '<svg onload="window.__pwned = 3"></svg>'


def test_hostile_names_render_as_text_and_run_nothing() -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    data = two_floor_data()
    for n in data["nodes"]:
        if n["node_id"] == "x":
            n["name"] = {"ko": IMG, "en": SCRIPT}
        if n["node_id"] == "st":
            n["name"] = {"ko": SVG_ONLOAD, "en": SVG_ONLOAD}
    m = HospitalMap.model_validate(data)
    route = find_route(m, "st", "x", step_free=True)
    page_html = (
        "<!doctype html><html><head><meta charset='utf-8'></head><body>"
        f"<div id='map'>{render_route_svg(m, route, lang='ko')}</div>"
        "</body></html>"
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.set_content(page_html, wait_until="load")
            assert page.evaluate("window.__pwned") is None
            assert page.locator("#map script, #map img, #map foreignObject").count() == 0
            assert page.locator("#map svg").count() == 1
            assert page.locator("#map svg svg").count() == 0
            texts = page.locator("#map svg text").all_text_contents()
            assert IMG in texts
            title = page.locator("#map svg > title").text_content()
            assert title == f"{SVG_ONLOAD} → {IMG}"
            box = page.locator("#map svg").bounding_box()
            assert box is not None
            assert box["width"] > 100
            assert dialogs == []
            assert [u for u in requests if not u.startswith(("about:", "data:"))] == []
        finally:
            browser.close()
