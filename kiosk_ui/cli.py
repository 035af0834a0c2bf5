"""`nfc-hospital kiosk`: a room board (--room) or a station screen (--station).

`nfc-hospital kiosk screenshots DIR` renders every screen offscreen to PNG instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kiosk_ui.config import ENV_PREFIX, KioskConfig
from protocol.config import add_config_arguments, config_from_args, render_config
from protocol.logs import setup_logging


def _screenshots(argv: list[str], prog: str) -> int:
    parser = argparse.ArgumentParser(
        prog=f"{prog} screenshots",
        description="Render each screen offscreen at 1920x1080 to PNG files in DIR.",
    )
    parser.add_argument("dir", type=Path, metavar="DIR")
    parser.add_argument(
        "--language", choices=["ko", "en", "zh", "ja"], default="en", help="second language"
    )
    args = parser.parse_args(argv)
    from kiosk_ui.screenshots import render_all

    for path in render_all(args.dir, args.language):
        print(path)
    return 0


def main(argv: list[str], prog: str = "nfc-hospital kiosk") -> int:
    if argv[:1] == ["screenshots"]:
        return _screenshots(argv[1:], prog)
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a room board (--room) or a station screen (--station).",
        epilog=f"'{prog} screenshots DIR' renders every screen to PNG files.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--room", metavar="ROOM_ID", help="room board for this room")
    mode.add_argument(
        "--station", action="store_true", help="station screen fed by the local edge daemon"
    )
    parser.add_argument("--station-id", metavar="ID", help="the station shown (station mode)")
    parser.add_argument("--edge-url", metavar="URL", help="the edge daemon's screen WebSocket")
    parser.add_argument("--windowed", action="store_true", help="a window instead of full screen")
    parser.add_argument("--muted", action="store_true", help="no chime or speech")
    parser.add_argument(
        "--exit-after-first-frame",
        action="store_true",
        help="paint the first frame, print how long start-up took, exit (benchmarks, smoke tests)",
    )
    add_config_arguments(parser, ENV_PREFIX)
    args = parser.parse_args(argv)
    print_config = args.print_config
    args.print_config = False  # applied below, after the command-line overrides
    config = config_from_args(KioskConfig, args, ENV_PREFIX, prog)
    updates: dict[str, Any] = {}
    if args.room:
        updates["room_id"] = args.room
    if args.station:
        updates["room_id"] = None
    if args.station_id:
        updates["station_id"] = args.station_id
    if args.edge_url:
        updates["edge_screen_url"] = args.edge_url
    if args.windowed:
        updates["fullscreen"] = False
    if args.muted:
        updates["muted"] = True
    if updates:
        try:
            config = KioskConfig.model_validate({**config.model_dump(), **updates})
        except ValidationError as e:
            err = e.errors(include_url=False)[0]
            where = ".".join(str(p) for p in err["loc"])
            print(f"{prog}: command line: {where}: {err['msg']}", file=sys.stderr)
            return 2
    if print_config:
        print(render_config(config), end="")
        return 0
    if config.room_id is None and not args.station:
        print(
            f"{prog}: say which screen to run: --room ROOM_ID (or room_id in the config) "
            "or --station",
            file=sys.stderr,
        )
        return 2
    setup_logging(config.log.level, config.log.format)
    from kiosk_ui.app import run

    return run(config, exit_after_first_frame=args.exit_after_first_frame)
