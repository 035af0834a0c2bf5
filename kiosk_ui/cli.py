"""`nfc-hospital kiosk`: a room board or a station screen."""

from __future__ import annotations

import argparse
import sys

from kiosk_ui.config import ENV_PREFIX, KioskConfig
from protocol.config import add_config_arguments, config_from_args


def main(argv: list[str], prog: str = "nfc-hospital kiosk") -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description="Run a room board (--room) or a station screen (--station)."
    )
    add_config_arguments(parser, ENV_PREFIX)
    args = parser.parse_args(argv)
    config_from_args(KioskConfig, args, ENV_PREFIX, prog)
    print(f"{prog}: the kiosk screens are not built yet (issue #5).", file=sys.stderr)
    return 2
