"""`nfc-hospital SUBCOMMAND ...`: dispatches to each part's own command line.

Each part owns its argparse parser (`<part>/cli.py: main(argv) -> int`) and is imported only
when its subcommand runs, so `nfc-hospital central` never imports Qt and `nfc-hospital kiosk`
never imports SQLAlchemy.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module with main(argv), one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "central": (
        "central.cli",
        "run the central server (HTTP API, dashboard, MQTT bridge, queue engine) or admin tools",
    ),
    "edge": ("edge.cli", "run a hallway station daemon (card readers, offline check-in, sync)"),
    "kiosk": ("kiosk_ui.cli", "run a room board or a station screen (PyQt6, full screen)"),
    "provision": (
        "provisioning.cli",
        "set this Raspberry Pi up as a station: enrol, write config, install services, self-test",
    ),
    "demo": (
        "nfc_hospital.demo",
        "start a whole hospital on this machine (central, broker, stations)",
    ),
    "simulate": ("central.sim.cli", "simulate an outpatient day, offline or against a live system"),
    "bench": ("bench.cli", "run a benchmark and print its figures"),
    "protocol": (
        "nfc_hospital.protocol_cli",
        "protocol tools: JSON Schemas, the journey table doc",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nfc-hospital",
        description="Patient guidance for hospital outpatient departments: NFC check-in "
        "stations, room kiosks and a central queue server.",
        epilog="Run 'nfc-hospital SUBCOMMAND --help' for a subcommand's options.",
    )
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)
    for name, (_module, help_text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] not in SUBCOMMANDS:
        parser.parse_args(argv)  # prints help or the usage error and exits
        return 2
    name, rest = argv[0], argv[1:]
    module_name, _help = SUBCOMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            print(f"nfc-hospital {name}: this part is not built yet.", file=sys.stderr)
            return 2
        print(
            f"nfc-hospital {name}: a library it needs is not installed ({e.name}); "
            f"install the matching extra, e.g. pip install 'nfc-hospital[all]'",
            file=sys.stderr,
        )
        return 2
    result: int = module.main(rest, prog=f"nfc-hospital {name}")
    return result
