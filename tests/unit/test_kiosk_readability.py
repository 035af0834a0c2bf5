"""Readability for elderly patients, measured on the rendered screens at 1920x1080.

Key numbers >= 120 px tall (counted in rendered pixels), every text >= 40 px, contrast >= 7:1
between each text's rendered colour and its rendered background, no glyph drawn as a box in
any language setting, Korean first, nothing that reads moving, and every screen fits 1080p.
"""

from __future__ import annotations

from collections import Counter

import pytest
from PyQt6.QtCore import QPoint, QRect, QSize
from PyQt6.QtGui import QFontInfo, QFontMetrics, QImage, QTextLayout
from PyQt6.QtWidgets import QLabel, QWidget

from kiosk_ui import demo
from kiosk_ui.screenshots import board_window, screens, station_window
from kiosk_ui.views import theme
from kiosk_ui.views.widgets import BiLabel
from protocol.codec import encode

pytestmark = pytest.mark.qt

FULL_HD = QSize(1920, 1080)
PORTRAIT = QSize(1080, 1920)
ALL_SCREENS = list(screens("en"))


def show(qtbot, window: QWidget) -> QWidget:
    qtbot.addWidget(window)
    window.resize(PORTRAIT if window.property("portrait") else FULL_HD)
    window.show()
    qtbot.waitExposed(window)
    return window


def visible_labels(window: QWidget) -> list[QLabel]:
    return [
        lbl for lbl in window.findChildren(QLabel) if lbl.isVisibleTo(window) and lbl.text().strip()
    ]


def luminance(rgb: tuple[int, int, int]) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def label_colours(image: QImage, window: QWidget, label: QLabel, step: int = 2):
    """(background, text colour, pixel rows that hold text) measured in the rendered image."""
    origin = label.mapTo(window, QPoint(0, 0))
    counts: Counter[tuple[int, int, int]] = Counter()
    rows: dict[int, set[tuple[int, int, int]]] = {}
    for y in range(origin.y(), origin.y() + label.height()):
        seen = rows.setdefault(y, set())
        for x in range(origin.x(), origin.x() + label.width(), step):
            c = image.pixelColor(x, y)
            rgb = (c.red(), c.green(), c.blue())
            seen.add(rgb)
            if y % step == 0:
                counts[rgb] += 1
    bg = counts.most_common(1)[0][0]
    total = sum(counts.values())
    # Glyph stems at >= 40 px are several pixels wide, so the text colour itself (not just
    # anti-aliased edges) shows up in a fair number of samples.
    candidates = [c for c, n in counts.items() if n >= max(4, total // 2000) and c != bg]
    fg = max(candidates, key=lambda c: contrast(c, bg))
    text_rows = [y for y, cs in rows.items() if any(contrast(c, bg) > 3 for c in cs)]
    return bg, fg, text_rows


@pytest.mark.parametrize("name", ALL_SCREENS)
def test_screen_fits_1080p_and_text_is_large_and_high_contrast(qtbot, name):
    window = show(qtbot, screens("en")[name]())
    expected = PORTRAIT if window.property("portrait") else FULL_HD
    assert window.size() == expected, f"{name} needs {window.minimumSizeHint()}"
    image = window.grab().toImage()
    labels = visible_labels(window)
    assert labels
    for label in labels:
        px = QFontInfo(label.font()).pixelSize()
        assert px >= 40, f"{name}: {label.text()!r} is {px} px"
        bg, fg, _rows = label_colours(image, window, label)
        ratio = contrast(fg, bg)
        assert ratio >= 7.0, f"{name}: {label.text()!r} {fg} on {bg} is only {ratio:.1f}:1"


@pytest.mark.parametrize("language", ["en", "zh", "ja"])
@pytest.mark.parametrize("name", ALL_SCREENS)
def test_no_text_is_squeezed_or_overlaps(qtbot, name, language):
    window = show(qtbot, screens(language)[name]())
    rects = []
    for label in visible_labels(window):
        origin = label.mapTo(window, QPoint(0, 0))
        rects.append((QRect(origin, label.size()), label.text()))
        if label.property("role") in theme.KEY_NUMBER_ROLES:
            continue  # compact on purpose; the key-number test checks they are not clipped
        need = (
            label.heightForWidth(label.width()) if label.wordWrap() else label.sizeHint().height()
        )
        assert label.height() >= need - 1, f"{name}/{language}: {label.text()!r} is squeezed"
        if not label.wordWrap():
            assert label.width() >= label.sizeHint().width() - 1, f"{label.text()!r} is cut"
    for i, (a, ta) in enumerate(rects):
        for b, tb in rects[i + 1 :]:
            assert not a.intersects(b), f"{name}/{language}: {ta!r} overlaps {tb!r}"


@pytest.mark.parametrize(
    ("make", "attr"),
    [
        (lambda: board_window("en"), "calling_number"),
        (lambda: board_window("en", flash=True), "calling_number"),
        (lambda: station_window("en", "checked_in"), "ticket"),
    ],
)
def test_key_numbers_render_at_least_120_px_tall(qtbot, make, attr):
    window = show(qtbot, make())
    label = getattr(window, attr)
    assert label.property("role") in theme.KEY_NUMBER_ROLES
    tight = QFontMetrics(label.font()).tightBoundingRect(label.text()).height()
    assert tight >= 120
    _bg, _fg, rows = label_colours(window.grab().toImage(), window, label, step=1)
    rendered = max(rows) - min(rows) + 1
    assert rendered >= 120, f"{label.text()!r} renders {rendered} px tall"
    assert rendered >= tight - 2, "the number is clipped by its label"


def glyphless(text: str, label: QLabel) -> list[str]:
    """Characters of `text` that the label's font (with fallback) draws as the missing box."""
    layout = QTextLayout(text, label.font())
    layout.beginLayout()
    line = layout.createLine()
    line.setLineWidth(100000)
    layout.endLayout()
    missing = []
    for run in layout.glyphRuns():
        if 0 in run.glyphIndexes():
            missing.append(run.rawFont().familyName())
    return missing


def test_glyph_check_can_fail(qtbot):
    label = QLabel()
    qtbot.addWidget(label)
    assert glyphless("\U000e0100\ue000", label)  # no font has these
    assert not glyphless("안녕하세요", label)


@pytest.mark.parametrize("language", ["ko", "en", "zh", "ja"])
def test_no_glyph_is_a_box_in_any_language(qtbot, language):
    shown = 0
    for make in screens(language).values():
        window = show(qtbot, make())
        for label in visible_labels(window):
            assert not glyphless(label.text(), label), f"{language}: boxes in {label.text()!r}"
            shown += 1
        window.close()
    assert shown > 50


@pytest.mark.parametrize("language", ["en", "zh", "ja"])
def test_korean_comes_first_and_the_second_language_is_the_setting(qtbot, language):
    window = show(qtbot, station_window(language, "checked_in"))
    pairs = [b for b in window.findChildren(BiLabel) if b.isVisibleTo(window)]
    assert pairs
    for pair in pairs:
        if pair.secondary.isVisibleTo(window):
            primary = pair.primary.text()
            assert any("\uac00" <= ch <= "\ud7a3" for ch in primary) or primary[:1].isdigit(), (
                primary
            )
    texts = " ".join(lbl.text() for lbl in visible_labels(window))
    marker = {"en": "Your number", "zh": "您的号码", "ja": "あなたの番号"}[language]
    assert marker in texts


def positions(window: QWidget) -> dict[int, tuple[int, int, int, int, str]]:
    out = {}
    for lbl in visible_labels(window):
        if lbl.property("role") != "clock":
            p = lbl.mapTo(window, QPoint(0, 0))
            out[id(lbl)] = (p.x(), p.y(), lbl.width(), lbl.height(), lbl.text())
    return out


def test_no_text_moves_while_the_idle_animation_runs(qtbot):
    window = show(qtbot, station_window("en", "idle"))
    before = positions(window)
    frames = window.tap_hint.frames
    qtbot.waitUntil(lambda: window.tap_hint.frames >= frames + 10, timeout=5000)
    assert positions(window) == before


def test_a_call_flashes_colour_but_no_text_moves(qtbot):
    window = show(qtbot, board_window("en"))
    window.calls.flash_s = 2
    phases: list[bool] = []
    window.calls.flashChanged.connect(phases.append)
    before = positions(window)
    window.calls.feed(encode(demo.call(101)))
    assert window.calling_panel.objectName() == "flash"
    colours = set()
    for _ in range(2):
        n = len(phases)
        qtbot.waitUntil(lambda n=n: len(phases) > n, timeout=3000)
        image = window.grab().toImage()
        _bg, fg, _rows = label_colours(image, window, window.calling_number)
        colours.add(fg)
        assert positions(window) == before
    assert len(colours) == 2  # the number's colour really alternates
