"""Map validation: every kind of problem is found and named by its element path."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from central.wayfinding.cli import main
from central.wayfinding.errors import MapFileError
from central.wayfinding.loader import check_map_file, load_map, parse_map
from protocol.hospital_map import HospitalMap, map_problems
from tests.support.factories import sample_map

SAMPLE = Path(__file__).resolve().parents[2] / "central" / "data" / "sample_map.json"


@pytest.fixture(scope="module")
def sample_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SAMPLE.read_text(encoding="utf-8"))
    return data


@pytest.fixture
def data(sample_data: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(sample_data)


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(MapFileError) as info:
        parse_map(json.dumps(data))
    return info.value.problems


def node_index(data: dict[str, Any], node_id: str) -> int:
    return next(i for i, n in enumerate(data["nodes"]) if n["node_id"] == node_id)


def edges_touching(data: dict[str, Any], node_id: str) -> list[int]:
    return [i for i, e in enumerate(data["edges"]) if node_id in (e["a"], e["b"])]


def test_sample_map_is_valid_and_matches_the_sample_hospital() -> None:
    m = load_map(SAMPLE)
    assert check_map_file(SAMPLE) == []
    assert [f.label for f in m.floors] == ["1F", "2F", "3F"]
    hospital = json.loads((SAMPLE.parent / "sample_hospital.json").read_text(encoding="utf-8"))
    by_node = {n.node_id: n for n in m.nodes}
    for room in hospital["rooms"]:
        door = by_node[room["node_id"]]
        assert door.room_id == room["room_id"]
        floor = next(f for f in m.floors if f.floor_id == door.floor_id)
        assert floor.label == room["floor_label"]
    for station in hospital["stations"]:
        assert by_node[station["node_id"]].kind == "station"
    kinds = {n.kind for n in m.nodes}
    assert {"elevator", "stairs", "escalator", "entrance", "exit", "restroom"} <= kinds
    assert {n.group for n in m.nodes if n.kind == "elevator"} == {"elev-a", "elev-b"}


def test_single_floor_map_needs_no_vertical_link() -> None:
    assert map_problems(sample_map()) == []


def test_json_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "map.json"
    path.write_text('{\n  "buildings": [],\n  "floors": [,]\n}\n', encoding="utf-8")
    assert check_map_file(path) == ["line 3 column 14: Expecting value"]


def test_unreadable_and_non_utf8_files_are_reported(tmp_path: Path) -> None:
    assert check_map_file(tmp_path / "missing.json")[0].startswith("cannot read the file")
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"name": "caf\xe9"}')
    assert check_map_file(path) == ["byte 13: not UTF-8 text"]


def test_field_errors_carry_the_element_path(data: dict[str, Any]) -> None:
    data["nodes"][3]["kind"] = "lift"
    data["edges"][5]["length_m"] = -1
    data["edges"][6]["colour"] = "red"
    found = problems_of(data)
    assert any(p.startswith("nodes.3.kind: Input should be") and "'lift'" in p for p in found)
    assert any(p.startswith("edges.5.length_m: Input should be greater") for p in found)
    assert any(p.startswith("edges.6.colour: Extra inputs are not permitted") for p in found)


def test_unknown_node_in_an_edge(data: dict[str, Any]) -> None:
    data["edges"].append(
        {"a": "j-1f-10", "b": "door-nowhere", "kind": "door", "length_m": 3, "step_free": True}
    )
    n = len(data["edges"]) - 1
    assert problems_of(data) == [f"edges.{n} (j-1f-10-door-nowhere): unknown node 'door-nowhere'"]


def test_disconnected_room_is_named(data: dict[str, Any]) -> None:
    for i in reversed(edges_touching(data, "door-ct-1")):
        del data["edges"][i]
    i = node_index(data, "door-ct-1")
    found = problems_of(data)
    assert len(found) == 1
    assert found[0].startswith(f"nodes.{i} (door-ct-1): room 'ct-1' is not connected")


def test_floor_with_no_vertical_link(data: dict[str, Any]) -> None:
    vertical = ("elevator", "stairs", "escalator")
    data["edges"] = [
        e
        for e in data["edges"]
        if not (e["kind"] in vertical and (e["a"].endswith("-3f") or e["b"].endswith("-3f")))
    ]
    # One finding for the floor, not one per room on it.
    assert problems_of(data) == [
        "floors.2 (3f): floor 3F has no vertical link: add an elevator, stairs, escalator or "
        "ramp edge to another floor"
    ]


def test_vertical_edge_must_stay_within_its_group(data: dict[str, Any]) -> None:
    data["edges"].append(
        {"a": "elev-a-1f", "b": "elev-b-2f", "kind": "elevator", "length_m": 4, "step_free": True}
    )
    n = len(data["edges"]) - 1
    found = problems_of(data)
    assert found == [
        f"edges.{n} (elev-a-1f-elev-b-2f): joins landings of different groups 'elev-a' and "
        "'elev-b'; a vertical edge stays within one elevator or staircase"
    ]


def test_vertical_edge_must_change_floor_and_join_landings(data: dict[str, Any]) -> None:
    data["edges"].append(
        {"a": "stairs-w-1f", "b": "j-1f-10", "kind": "stairs", "length_m": 4, "step_free": False}
    )
    n = len(data["edges"]) - 1
    found = problems_of(data)
    assert any(
        p.startswith(f"edges.{n} (stairs-w-1f-j-1f-10): stairs edges must join two stairs")
        for p in found
    )
    assert any("must join different floors" in p for p in found)


def test_landings_of_one_group_share_kind_and_take_one_per_floor(data: dict[str, Any]) -> None:
    i = node_index(data, "elev-b-2f")
    data["nodes"][i]["group"] = "elev-a"
    found = problems_of(data)
    assert (
        f"nodes.{i} (elev-b-2f): group 'elev-a' already has landing 'elev-a-2f' on floor '2f'"
        in found
    )


def test_flat_edges_stay_on_one_floor(data: dict[str, Any]) -> None:
    data["edges"].append(
        {"a": "j-1f-10", "b": "j-2f-10", "kind": "corridor", "length_m": 4, "step_free": True}
    )
    n = len(data["edges"]) - 1
    assert problems_of(data) == [
        f"edges.{n} (j-1f-10-j-2f-10): corridor edges must stay on one floor; this one joins '1f' "
        "and '2f' (use elevator, stairs, escalator or ramp)"
    ]


def test_stairs_cannot_be_step_free(data: dict[str, Any]) -> None:
    i = next(i for i, e in enumerate(data["edges"]) if e["kind"] == "stairs")
    data["edges"][i]["step_free"] = True
    e = data["edges"][i]
    assert problems_of(data) == [f"edges.{i} ({e['a']}-{e['b']}): stairs edges cannot be step_free"]


def test_node_rules(data: dict[str, Any]) -> None:
    lift = node_index(data, "elev-b-3f")
    del data["nodes"][lift]["group"]
    junction = node_index(data, "j-2f-10")
    data["nodes"][junction]["group"] = "elev-a"
    far = node_index(data, "door-im-1")
    data["nodes"][far]["x"] = 95
    dup = node_index(data, "door-im-2")
    data["nodes"][dup]["room_id"] = "im-1"
    wc = node_index(data, "wc-2f")
    data["nodes"][wc]["room_id"] = "wc"
    found = problems_of(data)
    assert (
        f"nodes.{lift} (elev-b-3f): elevator landings need a `group` shared by the landings "
        "on the other floors" in found
    )
    assert (
        f"nodes.{junction} (j-2f-10): `group` is only for elevator, stairs and escalator "
        "landings, not a corridor node" in found
    )
    assert f"nodes.{far} (door-im-1): position (95, 15) is outside floor '2f' (80 x 40 m)" in found
    assert f"nodes.{dup} (door-im-2): room 'im-1' already has its door at node 'door-im-1'" in found
    assert (
        f"nodes.{wc} (wc-2f): only a service point can be the door of room 'wc', not a "
        "restroom; use kind desk, pharmacy, room" in found
    )


def test_duplicates_and_unknown_references(data: dict[str, Any]) -> None:
    data["nodes"].append(dict(data["nodes"][0]))
    data["floors"].append(dict(data["floors"][0], floor_id="4f", building_id="annex"))
    data["closures"].append({"node_id": "elev-z-1f", "reason": {"ko": "점검", "en": "Service"}})
    data["edges"].append(dict(data["edges"][0]))
    found = problems_of(data)
    first = data["nodes"][0]["node_id"]
    n_nodes, n_edges = len(data["nodes"]) - 1, len(data["edges"]) - 1
    assert "floors.3 (4f): unknown building 'annex'" in found
    assert f"nodes.{n_nodes} ({first}): duplicate node id '{first}'" in found
    assert "closures.0: unknown node 'elev-z-1f'" in found
    assert any(
        p.startswith(f"edges.{n_edges} ") and "already joined by edges.0" in p for p in found
    )


def test_model_validation_raises_with_every_problem_in_context(data: dict[str, Any]) -> None:
    for node_id in ("door-ct-1", "door-mri-1"):
        for i in reversed(edges_touching(data, node_id)):
            del data["edges"][i]
    with pytest.raises(ValidationError) as info:
        HospitalMap.model_validate(data)
    (err,) = info.value.errors()
    assert err["type"] == "map_invalid"
    assert [p["message"].split(" is not")[0] for p in err["ctx"]["problems"]] == [
        "room 'ct-1'",
        "room 'mri-1'",
    ]


def test_cli_check_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(SAMPLE)], prog="map") == 0
    assert "OK: 1 building(s), 3 floor(s)" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text('{"buildings": []}', encoding="utf-8")
    assert main(["check", str(bad)], prog="map") == 1
    err = capsys.readouterr().err
    assert "buildings: List should have at least 1 item" in err
    assert "floors: Field required" in err
    with pytest.raises(SystemExit) as info:
        main([], prog="map")
    assert info.value.code == 2


PROBLEM_START = re.compile(
    r"^((buildings|floors|nodes|edges|closures)(\.\d+)?[ .:]|line \d+ column \d+:|\$:)"
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    drop_edges=st.lists(st.integers(min_value=0, max_value=90), max_size=6),
    moves=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=86), st.sampled_from(["1f", "2f", "3f", "9f"])
        ),
        max_size=3,
    ),
    kinds=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=90),
            st.sampled_from(["corridor", "door", "elevator", "stairs", "escalator", "ramp"]),
        ),
        max_size=3,
    ),
)
def test_any_broken_map_gives_located_problems_never_a_crash(
    sample_data: dict[str, Any],
    drop_edges: list[int],
    moves: list[tuple[int, str]],
    kinds: list[tuple[int, str]],
) -> None:
    data = copy.deepcopy(sample_data)
    for i, kind in kinds:
        data["edges"][i]["kind"] = kind
    for i, floor_id in moves:
        data["nodes"][i]["floor_id"] = floor_id
    for i in sorted(set(drop_edges), reverse=True):
        del data["edges"][i]
    problems: list[str] = []
    try:
        parse_map(json.dumps(data))
    except MapFileError as e:
        problems = e.problems or ["(an error with no problem listed)"]
    for p in problems:
        assert PROBLEM_START.match(p), p


def test_cli_route_prints_steps_and_draws(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "route.svg"
    code = main(
        [
            "route",
            str(SAMPLE),
            "st-lobby",
            "door-os-1",
            "--step-free",
            "--lang",
            "en",
            "--svg",
            str(out),
        ],
        prog="map",
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "st-lobby -> door-os-1: 79 m, step-free" in text
    assert "  2. Take the elevator to 3F." in text
    assert out.read_text(encoding="utf-8").startswith("<svg ")
    assert main(["route", str(SAMPLE), "st-lobby", "nowhere"], prog="map") == 1
    assert "no route from 'st-lobby' to 'nowhere'" in capsys.readouterr().err
