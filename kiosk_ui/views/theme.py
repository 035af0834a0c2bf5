"""Colours, type sizes and the style sheet of every screen.

Sizes are pixels on a 1920x1080 (or 1080x1920) panel, chosen for reading from a hallway:
key numbers render at least 120 px tall, every other line at least 40 px. Each text colour is
paired with the backgrounds it sits on at a contrast of at least 7:1 (WCAG AAA); the tests
measure the rendered pixels, not this table.
"""

from __future__ import annotations

FONT_FAMILY = "Noto Sans CJK KR"

BG = "#0A1A2F"  # deep navy: calm, and white text on it is ~17:1
PANEL = "#12304F"
FG = "#FFFFFF"
FG_SOFT = "#DCE4EC"  # the second language, a touch quieter than Korean
ACCENT = "#FFD54A"  # numbers: warm yellow on navy, ~10:1
FLASH_BG = ACCENT
FLASH_FG = BG
BANNER_BG = "#FFC24A"
BANNER_FG = BG
NOTE_BORDER = ACCENT
QR_DARK = "#000000"
QR_LIGHT = "#FFFFFF"
MAP_EDGE = "#5E7A99"
MAP_PATH = ACCENT
MAP_START = "#FFFFFF"
MAP_END = "#7CE0A3"

# (pixel size, weight) by role
SIZES: dict[str, tuple[int, int]] = {
    "huge": (300, 700),  # the called number on a room board
    "ticket": (200, 700),  # the patient's number on a station
    "calling_name": (104, 700),
    "headline": (104, 700),
    "headline2": (60, 400),
    "title": (72, 700),
    "title2": (44, 400),
    "heading": (56, 700),
    "heading2": (40, 400),
    "row_number": (60, 700),
    "row_name": (58, 400),
    "body": (52, 700),
    "body2": (42, 400),
    "small": (44, 700),
    "small2": (40, 400),
    "clock": (76, 700),
    "banner": (44, 700),
    "banner2": (40, 400),
    "floor": (48, 700),
}
ROLE_COLOURS: dict[str, str] = {
    "huge": ACCENT,
    "ticket": ACCENT,
    "calling_name": FG,
    "headline": FG,
    "headline2": FG_SOFT,
    "title": FG,
    "title2": FG_SOFT,
    "heading": FG,
    "heading2": FG_SOFT,
    "row_number": ACCENT,
    "row_name": FG,
    "body": FG,
    "body2": FG_SOFT,
    "small": FG,
    "small2": FG_SOFT,
    "clock": FG,
    "banner": BANNER_FG,
    "banner2": BANNER_FG,
    "floor": FG,
}
KEY_NUMBER_ROLES = frozenset({"huge", "ticket"})


def stylesheet() -> str:
    """The style sheet shared by both windows."""
    rules = [
        f"QWidget#screen {{ background: {BG}; }}",
        f"QWidget {{ font-family: '{FONT_FAMILY}'; }}",
        f"QFrame#panel {{ background: {PANEL}; border-radius: 24px; }}",
        f"QFrame#banner {{ background: {BANNER_BG}; border-radius: 16px; }}",
        f"QFrame#note {{ background: {PANEL}; border: 6px solid {NOTE_BORDER}; "
        "border-radius: 20px; }",
        f"QFrame#flash {{ background: {FLASH_BG}; border-radius: 24px; }}",
        # Big touch buttons: a yellow frame says "press here" without colouring the text.
        f"QFrame#button {{ background: {PANEL}; border: 6px solid {ACCENT}; "
        "border-radius: 28px; }",
        "QLabel { background: transparent; }",
    ]
    for role, (size, weight) in SIZES.items():
        rules.append(
            f'QLabel[role="{role}"] {{ font-size: {size}px; font-weight: {weight}; '
            f"color: {ROLE_COLOURS[role]}; }}"
        )
    # In a flashing panel every text turns navy on yellow: the colour flashes, nothing moves.
    rules.append(f"QFrame#flash QLabel {{ color: {FLASH_FG}; }}")
    return "\n".join(rules)
