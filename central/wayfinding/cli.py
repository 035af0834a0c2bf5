"""`map` admin commands: check a map file, preview a route as text and SVG, and import a map
as the one central serves (`nfc-hospital central map check|route|import ...`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from central.config import ENV_PREFIX
from central.wayfinding.errors import MapFileError, NoRouteError, WayfindingError
from central.wayfinding.loader import load_map
from protocol.config import add_config_arguments


def _check(args: argparse.Namespace, prog: str) -> int:
    try:
        m = load_map(args.file)
    except MapFileError as e:
        print(f"{args.file}: {len(e.problems)} problem(s)", file=sys.stderr)
        for p in e.problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    rooms = sum(1 for n in m.nodes if n.room_id is not None)
    stations = sum(1 for n in m.nodes if n.kind == "station")
    print(
        f"{args.file}: OK: {len(m.buildings)} building(s), {len(m.floors)} floor(s), "
        f"{len(m.nodes)} nodes, {len(m.edges)} edges, {rooms} room doors, {stations} stations, "
        f"{len(m.closures)} closure(s)"
    )
    return 0


def _route(args: argparse.Namespace, prog: str) -> int:
    # networkx is a central extra; load it only for this command.
    from central.wayfinding.routing import find_route
    from central.wayfinding.svg import render_route_svg

    try:
        m = load_map(args.file)
        route = find_route(m, args.from_node, args.to_node, args.step_free)
    except MapFileError as e:
        print(str(e), file=sys.stderr)
        return 1
    except NoRouteError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    kind = "step-free" if route.step_free else "uses stairs or an escalator"
    print(f"{route.from_node} -> {route.to_node}: {route.length_m:g} m, {kind}")
    print("  " + " > ".join(route.nodes))
    for i, step in enumerate(route.steps, 1):
        print(f"  {i}. {step.get(args.lang)}")
    if args.svg:
        Path(args.svg).write_text(render_route_svg(m, route, lang=args.lang), encoding="utf-8")
        print(f"  drawing written to {args.svg}")
    return 0


def _import(args: argparse.Namespace, prog: str) -> int:
    # Storage is needed only here: load it lazily like the routing code above.
    from central.config import CentralConfig
    from central.store.db import Database
    from central.wayfinding.installed import data_dir, install_map
    from protocol.config import config_from_args

    config = config_from_args(CentralConfig, args, ENV_PREFIX, prog)
    try:
        load_map(args.file)  # before touching storage: a bad file changes nothing
    except MapFileError as e:
        print(f"{args.file}: {len(e.problems)} problem(s); nothing was installed", file=sys.stderr)
        for p in e.problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    db = Database(args.database or config.database.url)
    try:
        db.migrate()
        folder = args.data_dir or data_dir(db, config.site.site_key_file)
        target = install_map(db, Path(args.file), folder)
    except (WayfindingError, OSError) as e:
        print(f"{prog}: {e}; nothing was installed", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    print(f"{args.file}: installed as {target}")
    if config.site.map_file is not None:
        print(
            f"  note: site.map_file is set ({config.site.map_file}); that file is served, "
            "not the imported one"
        )
    else:
        print("  a running central serves it from its next map check (bridge.map_check_s)")
    return 0


def main(argv: list[str], prog: str = "nfc-hospital central map") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Hospital map tools.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    check = sub.add_parser("check", help="validate a map file and list every problem")
    check.add_argument("file", metavar="FILE", help="map file (JSON)")
    route = sub.add_parser("route", help="show the route between two nodes (and draw it)")
    route.add_argument("file", metavar="FILE", help="map file (JSON)")
    route.add_argument("from_node", metavar="FROM", help="start node id (a station)")
    route.add_argument("to_node", metavar="TO", help="end node id (a room door)")
    route.add_argument("--step-free", action="store_true", help="avoid stairs and escalators")
    route.add_argument("--lang", choices=("ko", "en", "zh", "ja"), default="ko")
    route.add_argument("--svg", metavar="OUT", help="also write the drawing to this SVG file")
    imp = sub.add_parser("import", help="validate a map file and install it as central's map")
    imp.add_argument("file", metavar="FILE", help="map file (JSON)")
    add_config_arguments(imp, ENV_PREFIX)
    imp.add_argument("--database", metavar="URL", help="central's database (else --config's)")
    imp.add_argument(
        "--data-dir", type=Path, metavar="DIR", help="install here (else next to the database)"
    )
    args = parser.parse_args(argv)
    if args.command == "import":
        return _import(args, prog)
    if args.command == "check":
        return _check(args, prog)
    return _route(args, prog)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="python -m central.wayfinding.cli"))
