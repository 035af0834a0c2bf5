"""`nfc-hospital simulate`: an outpatient day, offline or live."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str], prog: str = "nfc-hospital simulate") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Simulate an outpatient day: offline against the engine in-process, or live "
        "against a running system through the real paths.",
    )
    parser.parse_args(argv)
    print(f"{prog}: the simulator is not built yet (issue #9).", file=sys.stderr)
    return 2
