"""Directions: turns from geometry, landmarks, rides, and the four languages."""

from __future__ import annotations

from pathlib import Path

import pytest

from central.wayfinding.directions import describe_route, josa, turn_direction
from central.wayfinding.loader import load_map
from central.wayfinding.routing import find_route
from protocol.hospital_map import HospitalMap
from tests.support.wayfinding_maps import l_shaped_data, two_floor_data, two_floor_map

SAMPLE = Path(__file__).resolve().parents[2] / "central" / "data" / "sample_map.json"


@pytest.mark.parametrize(
    ("a", "b", "c", "expected"),
    [
        ((0, 10), (10, 10), (10, 20), "right"),  # east, then down the page (south): right
        ((0, 10), (10, 10), (10, 0), "left"),  # east, then up the page (north): left
        ((10, 0), (10, 10), (0, 10), "right"),  # south, then west: right
        ((10, 0), (10, 10), (20, 10), "left"),  # south, then east: left
        ((0, 10), (10, 10), (20, 13), "straight"),  # a 17 degree bend is no turn
        ((0, 10), (10, 10), (20, 20), "right"),  # 45 degrees is
        ((0, 10), (10, 10), (10, 10), "straight"),  # no movement, no turn
    ],
)
def test_turn_direction_in_floor_coordinates(
    a: tuple[float, float], b: tuple[float, float], c: tuple[float, float], expected: str
) -> None:
    assert turn_direction(a, b, c) == expected


def test_turns_and_landmarks_on_a_small_map() -> None:
    m = HospitalMap.model_validate(l_shaped_data())
    route = find_route(m, "st", "d", step_free=False)
    assert [s.ko for s in route.steps] == [
        "화장실 앞까지 가서 왼쪽으로 도세요.",
        "북쪽 홀에서 오른쪽으로 도세요.",
        "복도를 따라 가면 오른쪽에 소아과가 있습니다.",
    ]
    assert [s.en for s in route.steps] == [
        "Go to the restrooms, then turn left.",
        "Turn right at the north hall.",
        "Follow the corridor; Pediatrics is on your right.",
    ]


def test_a_mirrored_map_swaps_every_side() -> None:
    plain = find_route(HospitalMap.model_validate(l_shaped_data()), "st", "d", False)
    mirrored = find_route(HospitalMap.model_validate(l_shaped_data(mirror=True)), "st", "d", False)
    swap = str.maketrans({"왼": "오", "오": "왼"})
    for a, b in zip(plain.steps, mirrored.steps, strict=True):
        assert b.en == a.en.replace("left", "L").replace("right", "left").replace("L", "right")
        assert b.ko == a.ko.replace("왼쪽", "@").replace("오른쪽", "왼쪽").replace("@", "오른쪽")
        assert b.ko.translate(swap) != b.ko


def test_multi_floor_directions_in_four_languages() -> None:
    m = load_map(SAMPLE)
    route = find_route(m, "st-lobby", "door-os-1", step_free=True)
    assert [(s.ko, s.en, s.zh, s.ja) for s in route.steps] == [
        (
            "중앙 엘리베이터까지 가세요.",
            "Go to the central elevators.",
            "请前往中央电梯。",
            "中央エレベーターまで行ってください。",
        ),
        (
            "엘리베이터를 타고 3층으로 가세요.",
            "Take the elevator to 3F.",
            "乘电梯到3楼。",
            "エレベーターで3階へ行ってください。",
        ),
        (
            "엘리베이터에서 내려 오른쪽으로 도세요.",
            "Leave the elevator and turn right.",
            "出电梯后向右转。",
            "エレベーターを降りたら右に曲がってください。",
        ),
        (
            "복도를 따라 가면 오른쪽에 정형외과 1진료실이 있습니다.",
            "Follow the corridor; Orthopedics room 1 is on your right.",
            "沿走廊走，骨科1诊室在您的右边。",
            "廊下を進むと、右側に整形外科第1診察室があります。",
        ),
    ]


def test_stairs_and_escalator_say_up_and_down() -> None:
    m = load_map(SAMPLE)
    down = find_route(m, "st-3f", "door-im-1", step_free=False)
    assert "계단으로 2층까지 내려가세요." in [s.ko for s in down.steps]
    assert "Take the stairs down to 2F." in [s.en for s in down.steps]
    up = find_route(m, "st-2f", "door-os-1", step_free=False)
    assert "走楼梯上到3楼。" in [s.zh for s in up.steps]
    up = find_route(m, "st-lobby", "door-card-1", step_free=False)
    assert [s.en for s in up.steps][:3] == [
        "Go to the escalator.",
        "Take the escalator up to 2F.",
        "Step off the escalator and turn left.",
    ]
    assert "エスカレーターで2階へ上がってください。" in [s.ja for s in up.steps]


def test_short_routes_still_get_two_steps() -> None:
    m = two_floor_map()
    # From the stairs landing straight down the corridor to the door: one walk, no turn.
    route = find_route(m, "s2", "x", step_free=False)
    assert [s.en for s in route.steps] == ["Follow the corridor.", "Room X is straight ahead."]
    assert [s.en for s in find_route(m, "k1", "x", False).steps] == ["Room X is right next to you."]
    assert [s.ko for s in describe_route(m, ["x"])] == ["여기가 엑스 진료실입니다."]


def test_many_turns_collapse_to_follow_the_signs() -> None:
    # A zigzag of nine turns on one floor.
    nodes = [{"node_id": "st", "floor_id": "f1", "kind": "station", "x": 2, "y": 2}]
    edges = []
    prev = "st"
    for i in range(10):
        nid = f"z{i}"
        nodes.append(
            {
                "node_id": nid,
                "floor_id": "f1",
                "kind": "corridor",
                "x": 5 + 5 * i,
                "y": 2 + 5 * (i % 2),
            }
        )
        edges.append({"a": prev, "b": nid, "kind": "corridor", "length_m": 5, "step_free": True})
        prev = nid
    nodes.append(
        {"node_id": "d", "floor_id": "f1", "kind": "room", "x": 52, "y": 12, "room_id": "d",
         "name": {"ko": "검사실", "en": "Test room"}}
    )  # fmt: skip
    edges.append({"a": prev, "b": "d", "kind": "door", "length_m": 5, "step_free": True})
    m = HospitalMap.model_validate(
        {
            "buildings": [{"building_id": "b", "name": {"ko": "본관", "en": "Main"}}],
            "floors": [
                {"floor_id": "f1", "building_id": "b", "level": 1, "label": "1F",
                 "width_m": 60, "height_m": 20}
            ],
            "nodes": nodes,
            "edges": edges,
        }
    )  # fmt: skip
    steps = find_route(m, "st", "d", False).steps
    assert 2 <= len(steps) <= 6
    assert steps[0].en == "Follow the signs to Test room."
    assert steps[0].ko == "검사실 안내 표지를 따라 가세요."


def test_korean_particles_follow_the_last_sound() -> None:
    assert josa("진료실", "은", "는") == "진료실은"
    assert josa("소아과", "은", "는") == "소아과는"
    assert josa("채혈실 1", "이", "가") == "채혈실 1이"
    assert josa("채혈실 2", "이", "가") == "채혈실 2가"
    assert josa("CT", "은", "는") == "CT는"
    assert josa("Room", "은", "는") == "Room은"
    assert josa("★", "은", "는") == "★은(는)"


def test_a_ramp_between_floors_is_a_ride_with_its_own_words() -> None:
    data = two_floor_data()
    # Replace the stairs by a ramp between two corridor points: step-free, no group needed.
    data["nodes"] = [n for n in data["nodes"] if n["kind"] != "stairs"]
    data["edges"] = [e for e in data["edges"] if "s1" not in (e["a"], e["b"])]
    data["edges"] = [e for e in data["edges"] if "s2" not in (e["a"], e["b"])]
    data["nodes"].append({"node_id": "r1", "floor_id": "f1", "kind": "corridor", "x": 10, "y": 5})
    data["nodes"].append({"node_id": "r2", "floor_id": "f2", "kind": "corridor", "x": 10, "y": 5})
    data["edges"] += [
        {"a": "j1", "b": "r1", "kind": "corridor", "length_m": 10, "step_free": True},
        {"a": "r1", "b": "r2", "kind": "ramp", "length_m": 30, "step_free": True},
        {"a": "r2", "b": "k1", "kind": "corridor", "length_m": 10, "step_free": True},
    ]
    m = HospitalMap.model_validate(data)
    route = find_route(m, "st", "x", step_free=True)
    assert route.nodes == ["st", "j1", "r1", "r2", "k1", "x"]
    assert [s.ko for s in route.steps] == [
        "경사로까지 가세요.",
        "경사로를 따라 2층으로 가세요.",
        "복도를 따라 가면 앞에 엑스 진료실이 있습니다.",
    ]
    assert route.steps[1].en == "Follow the ramp to 2F."
    # A route may end on the ramp's landing itself.
    assert [s.en for s in describe_route(m, ["j1", "r1", "r2"])] == [
        "Go to the ramp.",
        "Follow the ramp to 2F.",
        "You are at your destination.",
    ]


def test_unnamed_neighbours_name_a_turn_only_when_they_tell_it_apart() -> None:
    data = l_shaped_data()
    wc = next(n for n in data["nodes"] if n["node_id"] == "wc")
    del wc["name"]
    steps = find_route(HospitalMap.model_validate(data), "st", "d", False).steps
    assert steps[0].en == "Go to the restrooms, then turn left."  # what it is says enough
    wc.update(kind="room")
    steps = find_route(HospitalMap.model_validate(data), "st", "d", False).steps
    assert steps[0].en == "Step into the corridor and turn left."  # "the room" would not
    assert steps[0].ko == "복도로 나가서 왼쪽으로 도세요."
