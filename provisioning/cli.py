"""`nfc-hospital provision`: set a Raspberry Pi up as a station."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str], prog: str = "nfc-hospital provision") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Enrol this machine as a station with a one-time code, write its config and "
        "credentials, install its services and self-test the reader and the link.",
    )
    parser.parse_args(argv)
    print(f"{prog}: provisioning is not built yet (issue #8).", file=sys.stderr)
    return 2
