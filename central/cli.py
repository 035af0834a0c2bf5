"""`nfc-hospital central`: the central server and its admin tools."""

from __future__ import annotations

import argparse
import sys

from central.config import ENV_PREFIX, CentralConfig
from protocol.config import add_config_arguments, config_from_args


def main(argv: list[str], prog: str = "nfc-hospital central") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run the central server: HTTP API and pages, MQTT bridge, queue engine.",
    )
    add_config_arguments(parser, ENV_PREFIX)
    args = parser.parse_args(argv)
    config_from_args(CentralConfig, args, ENV_PREFIX, prog)
    print(f"{prog}: the central server is not built yet (issue #3).", file=sys.stderr)
    return 2
