"""`nfc-hospital central seed|import|migrate`: storage and import tools.

`central.cli` hands any first argument that is not an option to `main` here.
"""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import date
from pathlib import Path

from central.config import ENV_PREFIX, CentralConfig
from protocol.config import add_config_arguments, config_from_args


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Central storage and import tools.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    seed = sub.add_parser(
        "seed", help="load the sample hospital (12 departments, 30 rooms, 200 patients today)"
    )
    add_config_arguments(seed, ENV_PREFIX)
    seed.add_argument("--sample", action="store_true", required=True, help="the sample hospital")
    seed.add_argument("--seed", type=int, default=None, help="random seed (default: fixed)")
    seed.add_argument("--patients", type=int, default=200, help="number of patients")
    seed.add_argument(
        "--day", type=date.fromisoformat, default=None, help="service day (default: today)"
    )
    seed.add_argument(
        "--cards-out",
        type=Path,
        metavar="FILE",
        help="write visit_id,registration_no,card_uid as CSV (for simulated taps)",
    )

    imp = sub.add_parser("import", help="import appointments: a FHIR R4 Bundle .json or a .csv")
    add_config_arguments(imp, ENV_PREFIX)
    imp.add_argument("file", type=Path, help="the file to import")

    mig = sub.add_parser("migrate", help="bring the database schema up to date and say so")
    add_config_arguments(mig, ENV_PREFIX)
    return parser


def main(argv: list[str], prog: str = "nfc-hospital central") -> int:
    args = _parser(prog).parse_args(argv)
    sub_prog = f"{prog} {args.command}"
    config = config_from_args(CentralConfig, args, ENV_PREFIX, sub_prog)
    from central.engine import Engine, Rejected
    from central.store.errors import StorageError

    try:
        engine = Engine.from_config(config)
    except (StorageError, OSError, ValueError) as e:
        print(f"{sub_prog}: cannot open the database: {e}", file=sys.stderr)
        return 1
    try:
        if args.command == "migrate":
            print(f"{sub_prog}: schema at revision {engine.db.current_revision()}")
            return 0
        if args.command == "seed":
            return _seed(engine, args, sub_prog)
        return _import(engine, args.file, sub_prog)
    except Rejected as e:
        print(f"{sub_prog}: refused ({e.reason}): {e.message_en}", file=sys.stderr)
        return 1
    finally:
        engine.close()


def _seed(engine: object, args: argparse.Namespace, prog: str) -> int:
    from central.engine import Engine
    from central.seed import DEFAULT_SEED, sample_hospital

    assert isinstance(engine, Engine)
    day = args.day or engine.service_day()
    sample = sample_hospital(
        day, seed=DEFAULT_SEED if args.seed is None else args.seed, patients=args.patients
    )
    report, _changes = engine.load(sample.data, actor="seed")
    print(f"{prog}: sample hospital for {day}: {report.summary()}")
    if args.cards_out:
        reg_of = {v.visit_id: v.registration_no for v in sample.data.visits}
        with args.cards_out.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["visit_id", "registration_no", "card_uid"])
            for visit_id, uid in sample.visit_cards.items():
                w.writerow([visit_id, reg_of[visit_id], uid])
        print(f"{prog}: card UIDs written to {args.cards_out}")
    return 0


def _import(engine: object, path: Path, prog: str) -> int:
    from central.engine import Engine
    from central.imports import ImportFileError, import_file

    assert isinstance(engine, Engine)
    try:
        report = import_file(engine, path)
    except ImportFileError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    print(f"{prog}: {path}: {report.summary()}")
    return 0


__all__ = ["CentralConfig", "main"]
