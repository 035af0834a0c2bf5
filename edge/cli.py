"""`nfc-hospital edge`: the station daemon."""

from __future__ import annotations

import argparse
import sys

from edge.config import ENV_PREFIX, EdgeConfig
from protocol.config import add_config_arguments, config_from_args


def main(argv: list[str], prog: str = "nfc-hospital edge") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a station daemon: read cards, check patients in offline-first, sync.",
    )
    add_config_arguments(parser, ENV_PREFIX)
    args = parser.parse_args(argv)
    config_from_args(EdgeConfig, args, ENV_PREFIX, prog)
    print(f"{prog}: the station daemon is not built yet (issue #4).", file=sys.stderr)
    return 2
