"""`nfc-hospital protocol ...`: tools over the shared protocol."""

from __future__ import annotations

import argparse
import sys
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
    p_cfg = sub.add_parser(
        "config-doc", help="write docs/configuration.md from the daemons' config models"
    )
    p_cfg.add_argument("--output", type=Path, default=Path("docs/configuration.md"), metavar="FILE")
    p_cfg.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when FILE is out of date"
    )
    args = parser.parse_args(argv)
    if args.cmd == "config-doc":
        return _config_doc(args.output, check=args.check, prog=prog)
    if args.cmd == "schema":
        for path in export_schemas(args.dir):
            print(path)
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(journey.render_markdown(), encoding="utf-8")
    print(args.output)
    return 0


def _config_doc(output: Path, *, check: bool, prog: str) -> int:
    # Imported here: it loads every part's config module (pydantic only, no daemons).
    from nfc_hospital import config_doc

    if not check:
        print(config_doc.write(output))
        return 0
    try:
        current = output.read_text(encoding="utf-8")
    except OSError as e:
        print(f"{prog} config-doc: cannot read {output}: {e.strerror}", file=sys.stderr)
        return 1
    if current != config_doc.render():
        print(
            f"{prog} config-doc: {output} is out of date; run '{prog} config-doc'",
            file=sys.stderr,
        )
        return 1
    print(f"{output} is up to date")
    return 0
