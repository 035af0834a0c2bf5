"""`nfc-hospital provision`: set a Raspberry Pi up as a station.

    nfc-hospital provision --central URL --code CODE     enrol, configure, enable, self-test
    nfc-hospital provision labels --output sheet.png     QR labels for printing
    nfc-hospital provision remove                        wipe secrets and units, revoke

Safe to run again: an enrolled machine keeps its identity (the code is not used twice) and
every file that already holds the right content is reported `unchanged`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import socket
import sys
import tomllib
from pathlib import Path
from typing import Any

from protocol.enrolment import CODE_PATTERN, normalize_code
from provisioning import readers as rd
from provisioning.central_client import check_url, exchange_code, leave
from provisioning.certs import new_key_and_csr
from provisioning.errors import NotEnrolled, ProvisionError, UsageError
from provisioning.files import FileChange, wipe
from provisioning.selftest import Check, check_clock_against, check_readers, mqtt_round_trip
from provisioning.station import (
    ALL_FILES,
    CA_FILE,
    DEFAULT_CONFIG_DIR,
    DEFAULT_DATA_DIR,
    EDGE_UNIT,
    KIOSK_TOML,
    KIOSK_UNIT,
    PASSWORD_FILE,
    SITE_KEY_FILE,
    STATION_TOML,
    Enrolment,
    Layout,
    Options,
    Secrets,
    load_existing,
    split_enrolment,
    write_station,
)
from provisioning.system import System

SUBCOMMANDS = ("labels", "remove")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config-dir",
        type=Path,
        default=DEFAULT_CONFIG_DIR,
        metavar="DIR",
        help=f"where configs and secrets go (default {DEFAULT_CONFIG_DIR})",
    )
    parser.add_argument(
        "--root",
        type=Path,
        metavar="DIR",
        help="write systemd units under DIR and never call systemctl or useradd (tests)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print what would be done")
    parser.add_argument("--yes", action="store_true", help="never ask; fail on missing options")


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Enrol this machine as a station with a one-time code from central, write "
        "its config and credentials, install and enable its services, and self-test the "
        "reader, the clock and the broker link. Safe to run again.",
        epilog=f"Also: '{prog} labels --help', '{prog} remove --help'.",
    )
    parser.add_argument("--central", metavar="URL", help="central's address (http[s]://...)")
    parser.add_argument("--code", help="the one-time enrolment code (XXXX-XXXX-XXXX)")
    _common(parser)
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help=f"station data (outbox, cache); default {DEFAULT_DATA_DIR}, under --root if given",
    )
    parser.add_argument(
        "--re-enrol",
        action="store_true",
        help="enrol again with a new code even though this machine is enrolled",
    )
    parser.add_argument(
        "--reader",
        choices=["auto", "nfcpy", "pcsc", "keyboard", "simulated"],
        default="auto",
        help="card reader driver for the station (auto: the first one found, else simulated)",
    )
    parser.add_argument("--nfc-device", default="usb", help="nfcpy device path (default usb)")
    parser.add_argument(
        "--keyboard-device",
        metavar="PATH",
        help="input device of a keyboard-wedge reader (/dev/input/by-id/...-event-kbd)",
    )
    parser.add_argument("--no-kiosk", action="store_true", help="no station screen service")
    parser.add_argument("--edge-http-port", type=int, default=8081, help="edge daemon's port")
    parser.add_argument("--no-tap", action="store_true", help="skip the test tap")
    parser.add_argument("--tap-timeout", type=float, default=20.0, metavar="SECONDS")
    parser.add_argument("--no-self-test", action="store_true", help="skip the self-test")
    parser.add_argument("--ca-file", metavar="FILE", help="CA to trust for an https:// central")
    parser.add_argument(
        "--client-cert",
        action="store_true",
        help="also get a TLS client certificate: the key is made here, central signs a CSR",
    )
    return parser


def _ask(label: str, value: str | None, assume_yes: bool, option: str) -> str:
    if value:
        return value
    if assume_yes or not sys.stdin.isatty():
        raise UsageError(f"{option} is missing", f"give {option} on the command line")
    answer = input(f"{label}: ").strip()
    if not answer:
        raise UsageError(f"no {label.lower()} given", f"run again and type it, or give {option}")
    return answer


def _layout(args: argparse.Namespace) -> Layout:
    data_dir = getattr(args, "data_dir", None)
    if data_dir is None:
        data_dir = (
            (args.root / DEFAULT_DATA_DIR.relative_to("/")) if args.root else DEFAULT_DATA_DIR
        )
    return Layout(config_dir=args.config_dir, data_dir=data_dir, root=args.root)


def _system(args: argparse.Namespace) -> System:
    return System("dry-run" if args.dry_run else ("skip" if args.root else "run"))


def _readers(args: argparse.Namespace, layout: Layout) -> list[dict[str, Any]]:
    choice = args.reader
    existing = layout.path(STATION_TOML)
    if choice == "auto" and existing.exists():
        # Keep what the first run chose: the running daemon holds the reader now, so probing
        # again would not find it and would rewrite the config without it.
        with contextlib.suppress(OSError, tomllib.TOMLDecodeError):
            readers = tomllib.loads(existing.read_text(encoding="utf-8")).get("readers")
            if isinstance(readers, list) and readers:
                return readers
    if choice == "auto":
        if rd.find_nfcpy(args.nfc_device).ok:
            choice = "nfcpy"
        elif any(r.ok for r in rd.find_pcsc()):
            choice = "pcsc"
        else:
            choice = "simulated"
    if choice == "nfcpy":
        return [{"type": "nfcpy", "device": args.nfc_device}]
    if choice == "keyboard":
        if not args.keyboard_device:
            raise UsageError(
                "--reader keyboard needs --keyboard-device",
                "find the reader under /dev/input/by-id/ (ls -l /dev/input/by-id/) and give it",
            )
        return [{"type": "keyboard", "device": args.keyboard_device}]
    return [{"type": choice}]


def _print_changes(title: str, changes: list[FileChange], dry_run: bool) -> None:
    print(title)
    for c in changes:
        print(c.line(dry_run))


def provision(args: argparse.Namespace) -> int:
    """The main flow: enrol (or reuse the enrolment), write, enable, self-test."""
    layout = _layout(args)
    if args.root is None and not args.dry_run and os.geteuid() != 0:
        raise UsageError(
            "installing services and writing /etc needs root",
            "run it with sudo (or look first with --dry-run)",
        )
    enrolment: Enrolment | None = None
    secrets: Secrets | None = None
    if not args.re_enrol:
        with contextlib.suppress(NotEnrolled):
            enrolment, secrets = load_existing(layout)
    if enrolment is not None:
        print(
            f"Already enrolled as {enrolment.station_id} (central {enrolment.central}); "
            "the code is not used again. Use --re-enrol with a new code to replace it."
        )
    else:
        central = check_url(_ask("Central URL", args.central, args.yes, "--central"))
        code = normalize_code(_ask("Enrolment code", args.code, args.yes, "--code"))
        if not re.match(CODE_PATTERN, code):
            raise UsageError(
                f"{code!r} is not an enrolment code (XXXX-XXXX-XXXX)",
                "copy the code exactly as `nfc-hospital central station enrol` printed it",
            )
        if args.dry_run:
            print(f"Dry run: would exchange the code with {central}; nothing is written.")
            return 0
        client_key = csr = None
        if args.client_cert:
            client_key, csr = new_key_and_csr(socket.gethostname())
        response = exchange_code(
            central, code, socket.gethostname(), csr_pem=csr, ca_file=args.ca_file
        )
        enrolment, secrets = split_enrolment(response, central, client_key)
        print(f"Enrolled as {enrolment.station_id} ({enrolment.name.ko} / {enrolment.name.en})")
    assert secrets is not None
    options = Options(
        readers=_readers(args, layout), kiosk=not args.no_kiosk, edge_http_port=args.edge_http_port
    )
    system = _system(args)
    # The user first: the files are written owned by it, so the daemons can read them.
    system.ensure_user(layout.service_user)
    changes = write_station(enrolment, secrets, layout, options, dry_run=args.dry_run)
    _print_changes("Files:", changes, args.dry_run)
    units = [EDGE_UNIT] + ([KIOSK_UNIT] if options.kiosk else [])
    changed = {c.path.name for c in changes if c.change != "unchanged"}
    system.enable(
        units,
        units_changed=bool(changed & {EDGE_UNIT, KIOSK_UNIT}),
        config_changed=bool(changed - {EDGE_UNIT, KIOSK_UNIT}),
    )
    if system.log:
        print("System:")
        for line in system.log:
            print(line)
    if args.dry_run:
        return 0
    if not changed:
        print("Nothing changed: this station was already set up exactly like this.")
    if args.no_self_test:
        return 0
    return self_test(args, layout, enrolment, secrets)


def self_test(
    args: argparse.Namespace, layout: Layout, enrolment: Enrolment, secrets: Secrets
) -> int:
    """Run the checks, print the summary, 0 when every essential check passed."""
    print("Self-test:")
    checks: list[Check] = [
        check_readers(
            args.nfc_device,
            tap=not (args.no_tap or args.yes),
            tap_timeout_s=args.tap_timeout,
            site_key=secrets.site_key,
        ),
        check_clock_against(enrolment.central, args.ca_file),
    ]
    link, status = mqtt_round_trip(enrolment, secrets, layout)
    checks.append(link)
    for check in checks:
        for line in check.lines():
            print(line)
    print("Summary:")
    print(f"  station   {enrolment.station_id}  {enrolment.name.ko} / {enrolment.name.en}")
    print(f"  location  {enrolment.location_node or '-'}")
    tls = "client certificate" if enrolment.client_cert else ("yes" if enrolment.tls else "no")
    print(f"  broker    {enrolment.broker_host}:{enrolment.broker_port} (TLS: {tls})")
    if status is not None:
        state = "online" if status.online else "provisioned, waiting for the daemon to start"
        print(f"  status    {state} (as the broker holds it)")
    failed = [c for c in checks if not c.ok and c.essential]
    if failed:
        print(
            f"Provisioning is NOT complete: {', '.join(c.name for c in failed)} failed (see above)."
        )
        return 1
    print("Station ready.")
    return 0


# ---------------------------------------------------------------------------------------------
# remove


def remove(argv: list[str], prog: str) -> int:
    """Stop and delete the units, wipe the secrets, and have central revoke the station."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Decommission this station: central revokes its credentials, its "
        "services are stopped and removed, its secrets are wiped.",
    )
    _common(parser)
    parser.add_argument("--offline", action="store_true", help="do not contact central")
    parser.add_argument("--ca-file", metavar="FILE", help="CA to trust for an https:// central")
    args = parser.parse_args(argv)
    if args.root is None and not args.dry_run and os.geteuid() != 0:
        raise UsageError(
            "removing services and secrets needs root",
            "run it with sudo (or look first with --dry-run)",
        )
    layout = _layout(args)
    enrolment, secrets = load_existing(layout)
    interactive = not args.yes and not args.dry_run and sys.stdin.isatty()
    question = f"Revoke {enrolment.station_id} and wipe its secrets and services? [y/N] "
    if interactive and input(question).strip().lower() != "y":
        print("Nothing removed.")
        return 1
    problems: list[str] = []
    if args.offline or args.dry_run:
        print("Central not contacted" + (" (dry run)." if args.dry_run else " (--offline)."))
    else:
        try:
            leave(
                enrolment.central,
                enrolment.station_id,
                secrets.mqtt_password,
                ca_file=args.ca_file,
            )
            print(f"Central revoked {enrolment.station_id}'s broker credentials.")
        except ProvisionError as e:
            problems.append(f"{e.what} -- {e.todo}")
    system = _system(args)
    system.disable([EDGE_UNIT, KIOSK_UNIT])
    changes = [wipe(layout.unit_dir / u, dry_run=args.dry_run) for u in (EDGE_UNIT, KIOSK_UNIT)]
    order = [PASSWORD_FILE, SITE_KEY_FILE, STATION_TOML, KIOSK_TOML, CA_FILE]
    rest = [n for n in ALL_FILES if n not in order]
    changes += [wipe(layout.path(n), dry_run=args.dry_run) for n in [*order, *rest]]
    _print_changes("Files:", changes, args.dry_run)
    for line in system.log:
        print(line)
    if problems:
        for p in problems:
            print(f"WARNING: {p}")
        return 1
    print(f"{enrolment.station_id} removed.")
    return 0


def main(argv: list[str], prog: str = "nfc-hospital provision") -> int:
    try:
        if argv and argv[0] == "remove":
            return remove(argv[1:], f"{prog} remove")
        if argv and argv[0] == "labels":
            from provisioning.labels import main as labels_main

            return labels_main(argv[1:], f"{prog} labels")
        args = build_parser(prog).parse_args(argv)
        return provision(args)
    except ProvisionError as e:
        print(f"{prog}: {e.what}", file=sys.stderr)
        print(f"  what to do: {e.todo}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; run it again, it is safe to repeat", file=sys.stderr)
        return 130
