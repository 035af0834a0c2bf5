"""`nfc-hospital bench wayfinding`: how long recomputing every route takes, and payload sizes."""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from central.wayfinding.loader import load_map
from central.wayfinding.publish import build_directory_documents, room_door_nodes, station_nodes
from central.wayfinding.routing import build_graphs, compute_routes
from protocol.codec import DEFAULT_MAX_BYTES, encode

SAMPLE = Path(__file__).resolve().parent.parent / "central" / "data" / "sample_map.json"


def _timed(fn: object, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _line(name: str, ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return f"{name:<34} median {statistics.median(ms):8.2f} ms   p95 {p95:8.2f} ms"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nfc-hospital bench wayfinding")
    parser.add_argument("--map", default=str(SAMPLE), help="map file (default: the sample)")
    parser.add_argument("--repeat", type=int, default=30, help="runs per figure")
    args = parser.parse_args(argv)

    m = load_map(args.map)
    stations, rooms = station_nodes(m), room_door_nodes(m)
    routes = compute_routes(m, stations, rooms)
    doc_map, doc_routes = build_directory_documents(m, version=1, map_version=1)
    map_bytes, routes_bytes = len(encode(doc_map)), len(encode(doc_routes))
    print(f"map: {args.map}")
    print(
        f"  {len(m.floors)} floors, {len(m.nodes)} nodes, {len(m.edges)} edges, "
        f"{len(stations)} stations x {len(rooms)} rooms = {len(stations) * len(rooms)} pairs, "
        f"{len(routes)} routes (shortest, plus step-free where it differs)"
    )
    print(_line("load_map (parse + validate)", _timed(lambda: load_map(args.map), args.repeat)))
    print(_line("build_graphs (both variants)", _timed(lambda: build_graphs(m), args.repeat)))
    print(
        _line(
            "compute_routes (all pairs + text)",
            _timed(lambda: compute_routes(m, stations, rooms), args.repeat),
        )
    )
    print(
        _line(
            "build_directory_documents + encode",
            _timed(lambda: [encode(d) for d in build_directory_documents(m, 2, 2)], args.repeat),
        )
    )
    print(f"  DirectoryMap    {map_bytes:>9} bytes")
    print(
        f"  DirectoryRoutes {routes_bytes:>9} bytes "
        f"({routes_bytes / len(routes):.0f} bytes per route; codec limit {DEFAULT_MAX_BYTES})"
    )
    return 0
