"""`nfc-hospital protocol ...`: tools over the shared protocol."""

from __future__ import annotations

import argparse
from pathlib import Path

from protocol import journey
from protocol.schema import export_schemas


def main(argv: list[str], prog: str = "nfc-hospital protocol") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Tools over the shared protocol.")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    p_schema = sub.add_parser("schema", help="write the JSON Schema of every message into DIR")
    p_schema.add_argument("dir", type=Path, metavar="DIR")
    p_doc = sub.add_parser("journey-doc", help="write the journey state table as Markdown")
    p_doc.add_argument("--output", type=Path, default=Path("docs/journey.md"), metavar="FILE")
    args = parser.parse_args(argv)
    if args.cmd == "schema":
        for path in export_schemas(args.dir):
            print(path)
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(journey.render_markdown(), encoding="utf-8")
    print(args.output)
    return 0
