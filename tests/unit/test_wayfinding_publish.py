"""The directory documents: versions, every pair, payload sizes under the codec's limit."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from central.wayfinding.loader import load_map
from central.wayfinding.publish import build_directory_documents
from central.wayfinding.routing import group_closures
from protocol.codec import DEFAULT_MAX_BYTES, decode_directory, encode
from protocol.hospital_map import pick_route
from protocol.messages import DirectoryMap, DirectoryRoutes
from tests.support.wayfinding_maps import REASON

SAMPLE = Path(__file__).resolve().parents[2] / "central" / "data" / "sample_map.json"


def test_documents_for_the_sample_map_round_trip_and_stay_small() -> None:
    m = load_map(SAMPLE)
    doc_map, doc_routes = build_directory_documents(m, version=7, map_version=3)
    assert doc_map.version == 3
    assert (doc_routes.version, doc_routes.map_version) == (7, 3)
    stations = [n.node_id for n in m.nodes if n.kind == "station"]
    rooms = [n.node_id for n in m.nodes if n.room_id]
    for s in stations:
        for r in rooms:
            assert pick_route(doc_routes.routes, s, r, step_free=False) is not None
            assert pick_route(doc_routes.routes, s, r, step_free=True) is not None
    map_bytes, routes_bytes = encode(doc_map), encode(doc_routes)
    # Well under the 8 MiB codec limit (measured: about 25 kB and 146 kB).
    assert len(map_bytes) < 100_000
    assert len(routes_bytes) < 400_000 < DEFAULT_MAX_BYTES
    assert decode_directory(map_bytes) == doc_map
    assert decode_directory(routes_bytes) == doc_routes
    assert isinstance(decode_directory(routes_bytes), DirectoryRoutes)
    assert isinstance(decode_directory(map_bytes), DirectoryMap)


def test_closures_drop_step_free_routes_upstairs_and_log_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    m = load_map(SAMPLE)
    closures = group_closures(m, "elev-a", REASON) + group_closures(m, "elev-b", REASON)
    closed = m.model_copy(update={"closures": closures})
    with caplog.at_level(logging.WARNING, logger="central.wayfinding.publish"):
        _, routes = build_directory_documents(closed, version=2, map_version=2)
    floor_of = {n.node_id: n.floor_id for n in m.nodes}
    for r in (n.node_id for n in m.nodes if n.room_id):
        same_floor = floor_of[r] == "1f"
        assert (pick_route(routes.routes, "st-lobby", r, step_free=True) is not None) == same_floor
        assert pick_route(routes.routes, "st-lobby", r, step_free=False) is not None
    missing = [rec.getMessage() for rec in caplog.records]
    assert "wayfinding.no_route from=st-lobby to=door-os-1 step_free=True closed=6" in missing
    assert len(missing) == 4 * 20  # each station misses the 20 rooms on the other floors
