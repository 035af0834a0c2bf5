"""`nfc-hospital demo`: a whole hospital on one machine."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str], prog: str = "nfc-hospital demo") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Start central, a broker, simulated stations and kiosks on this machine.",
    )
    parser.add_argument("--headless", action="store_true", help="no windows; self-checking run")
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")
    parser.parse_args(argv)
    print(f"{prog}: the demo is not built yet (issue #11).", file=sys.stderr)
    return 2
