"""`python -m central.assistant check [FILE]`: validate the FAQ file admins edit (exit 1 and
the file and key path of every problem when it is wrong)."""

from __future__ import annotations

import argparse
import sys

from central.assistant.errors import FaqFileError
from central.assistant.faq import DEFAULT_FAQ, load_faq


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m central.assistant")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate an FAQ file")
    check.add_argument("file", nargs="?", default=str(DEFAULT_FAQ), help="FAQ JSON file")
    args = parser.parse_args(argv)
    try:
        faq = load_faq(args.file)
    except FaqFileError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    top = sum(1 for e in faq.entries if e.top)
    print(f"{args.file}: ok, version {faq.version}, {len(faq.entries)} entries, {top} on Help")
    return 0


if __name__ == "__main__":
    sys.exit(main())
