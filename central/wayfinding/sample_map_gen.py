"""Generate central/data/sample_map.json from central/data/sample_hospital.json.

Run `python -m central.wayfinding.sample_map_gen` after changing the sample hospital; the JSON is
committed so the demo and the tests never depend on running this.

The building: one corridor per floor along y = 20 m, room doors north (y = 15) and south
(y = 25) of it, elevator A in the middle, elevator B at the east end, stairs at the west end,
an escalator between 1F and 2F, the lobby and main entrance south of the central hall on 1F.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from pathlib import Path
from typing import Any

from protocol.hospital_map import HospitalMap

DATA = Path(__file__).resolve().parent.parent / "data"
CORRIDOR_Y = 20.0
NORTH_Y = 15.0
SOUTH_Y = 25.0
ELEVATOR_RIDE_M = 4.0  # ride per storey, as walking metres; the wait is added by the router
STAIRS_FLIGHT_M = 18.0  # one storey of stairs is about as tiring as 18 m of corridor
ESCALATOR_M = 8.0

FLOORS = [("1f", 1, "1F"), ("2f", 2, "2F"), ("3f", 3, "3F")]

# room_id -> (floor id, x of the corridor junction, "n" or "s")
DOORS: dict[str, tuple[str, float, str]] = {
    "lab-1": ("1f", 10, "n"),
    "lab-2": ("1f", 10, "s"),
    "xray-1": ("1f", 16, "n"),
    "xray-2": ("1f", 16, "s"),
    "ct-1": ("1f", 22, "n"),
    "reception-1": ("1f", 46, "n"),
    "reception-2": ("1f", 52, "n"),
    "pay-1": ("1f", 46, "s"),
    "pay-2": ("1f", 52, "s"),
    "pharmacy-1": ("1f", 58, "s"),
    "im-1": ("2f", 10, "n"),
    "im-2": ("2f", 16, "n"),
    "im-3": ("2f", 22, "n"),
    "endo-1": ("2f", 10, "s"),
    "ent-1": ("2f", 16, "s"),
    "ent-2": ("2f", 22, "s"),
    "card-1": ("2f", 46, "n"),
    "card-2": ("2f", 52, "n"),
    "ecg-1": ("2f", 46, "s"),
    "echo-1": ("2f", 52, "s"),
    "os-1": ("3f", 10, "n"),
    "os-2": ("3f", 16, "n"),
    "gs-1": ("3f", 22, "n"),
    "gs-2": ("3f", 28, "n"),
    "eye-1": ("3f", 46, "n"),
    "eye-2": ("3f", 52, "n"),
    "eye-exam-1": ("3f", 58, "n"),
    "derm-1": ("3f", 46, "s"),
    "derm-2": ("3f", 52, "s"),
    "mri-1": ("3f", 64, "s"),
}

KIND_OF_ROOM = {"reception": "desk", "payment": "desk", "pharmacy": "pharmacy"}


def _t(ko: str, en: str, zh: str, ja: str) -> dict[str, str]:
    return {"ko": ko, "en": en, "zh": zh, "ja": ja}


CENTRAL_HALL = _t("중앙 홀", "central hall", "中央大厅", "中央ホール")
WEST_END = _t("서쪽 복도 끝", "west end of the corridor", "西侧走廊尽头", "西側廊下の突き当たり")
EAST_END = _t("동쪽 복도 끝", "east end of the corridor", "东侧走廊尽头", "東側廊下の突き当たり")
LOBBY = _t("로비", "lobby", "大厅", "ロビー")
ELEVATOR_A = _t("중앙 엘리베이터", "central elevators", "中央电梯", "中央エレベーター")
ELEVATOR_B = _t("동쪽 엘리베이터", "east elevators", "东侧电梯", "東側エレベーター")
STAIRS = _t("서쪽 계단", "west stairs", "西侧楼梯", "西側階段")
ESCALATOR = _t("에스컬레이터", "escalator", "自动扶梯", "エスカレーター")
RESTROOM = _t("화장실", "restrooms", "洗手间", "お手洗い")
ENTRANCE = _t("정문", "main entrance", "正门", "正面玄関")
EXIT = _t("동쪽 출구", "east exit", "东侧出口", "東側出口")


class _Builder:
    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.edges: list[dict[str, Any]] = []
        self.pos: dict[str, tuple[str, float, float]] = {}

    def node(self, node_id: str, floor: str, kind: str, x: float, y: float, **extra: Any) -> str:
        self.nodes.append({"node_id": node_id, "floor_id": floor, "kind": kind, "x": x, "y": y})
        self.nodes[-1].update({k: v for k, v in extra.items() if v is not None})
        self.pos[node_id] = (floor, x, y)
        return node_id

    def edge(self, a: str, b: str, kind: str = "corridor", length: float | None = None) -> None:
        if length is None:
            _, ax, ay = self.pos[a]
            _, bx, by = self.pos[b]
            length = round(math.hypot(ax - bx, ay - by), 1)
        stepped = kind in ("stairs", "escalator")
        self.edges.append(
            {"a": a, "b": b, "kind": kind, "length_m": length, "step_free": not stepped}
        )


def build(hospital: dict[str, Any]) -> dict[str, Any]:
    """The sample map as a JSON-ready dict, room and station names taken from `hospital`."""
    rooms = {r["room_id"]: r for r in hospital["rooms"]}
    stations = {s["node_id"]: s for s in hospital["stations"]}
    if set(rooms) != set(DOORS):
        raise SystemExit(f"rooms differ from DOORS: {sorted(set(rooms) ^ set(DOORS))}")
    depts = {d["department_id"] for d in hospital["departments"]}
    b = _Builder()
    for floor, level, _label in FLOORS:
        # Which junction x positions this floor needs, with what hangs off each.
        spurs: dict[float, list[str]] = {}
        doors: set[str] = set()

        def spur(x: float, node_id: str, spurs: dict[float, list[str]] = spurs) -> None:
            spurs.setdefault(x, []).append(node_id)

        for room_id, (f, x, side) in DOORS.items():
            if f != floor:
                continue
            room = rooms[room_id]
            if room["department_id"] not in depts:
                raise SystemExit(f"room {room_id}: unknown department")
            y = NORTH_Y if side == "n" else SOUTH_Y
            kind = KIND_OF_ROOM.get(room["department_id"], "room")
            door = b.node(room["node_id"], floor, kind, x, y, name=room["name"], room_id=room_id)
            doors.add(door)
            spur(x, door)
        spur(5, b.node(f"stairs-w-{floor}", floor, "stairs", 5, 10, name=STAIRS, group="stairs-w"))
        spur(
            40,
            b.node(f"elev-a-{floor}", floor, "elevator", 40, 10, name=ELEVATOR_A, group="elev-a"),
        )
        spur(
            70,
            b.node(f"elev-b-{floor}", floor, "elevator", 70, 10, name=ELEVATOR_B, group="elev-b"),
        )
        if level <= 2:
            spur(
                32, b.node(f"esc-{floor}", floor, "escalator", 32, 10, name=ESCALATOR, group="esc")
            )
        restroom_x = 58.0 if floor == "1f" else 40.0
        restroom_y = NORTH_Y if floor == "1f" else SOUTH_Y + 3
        wc = b.node(f"wc-{floor}", floor, "restroom", restroom_x, restroom_y, name=RESTROOM)
        doors.add(wc)
        spur(restroom_x, wc)
        if floor == "1f":
            lobby = b.node("lobby-1f", floor, "corridor", 40, 30, name=LOBBY)
            spur(40, lobby)
            b.edge(lobby, b.node("entrance", floor, "entrance", 40, 38, name=ENTRANCE))
            st = stations["st-lobby"]
            b.edge(lobby, b.node("st-lobby", floor, "station", 34, 30, name=st["name"]))
            st = stations["st-1f-east"]
            spur(64, b.node("st-1f-east", floor, "station", 64, 24, name=st["name"]))
            spur(76, b.node("exit-east", floor, "exit", 79, 20, name=EXIT))
        else:
            st = stations[f"st-{floor}"]
            spur(36, b.node(f"st-{floor}", floor, "station", 36, 16, name=st["name"]))
        # The corridor: junctions at every x used, joined west to east.
        junctions: list[str] = []
        for x in sorted({5.0, 40.0, 76.0, *spurs}):
            name = {5.0: WEST_END, 40.0: CENTRAL_HALL, 76.0: EAST_END}.get(x)
            j = b.node(f"j-{floor}-{x:g}", floor, "corridor", x, CORRIDOR_Y, name=name)
            for other in spurs.get(x, []):
                b.edge(j, other, "door" if other in doors else "corridor")
            junctions.append(j)
        for a, c in itertools.pairwise(junctions):
            b.edge(a, c)
    for (fa, _, _), (fb, _, _) in itertools.pairwise(FLOORS):
        b.edge(f"elev-a-{fa}", f"elev-a-{fb}", "elevator", ELEVATOR_RIDE_M)
        b.edge(f"elev-b-{fa}", f"elev-b-{fb}", "elevator", ELEVATOR_RIDE_M)
        b.edge(f"stairs-w-{fa}", f"stairs-w-{fb}", "stairs", STAIRS_FLIGHT_M)
    b.edge("esc-1f", "esc-2f", "escalator", ESCALATOR_M)
    return {
        "buildings": [{"building_id": "main", "name": _t("본관", "Main building", "主楼", "本館")}],
        "floors": [
            {
                "floor_id": floor,
                "building_id": "main",
                "level": level,
                "label": label,
                "width_m": 80,
                "height_m": 40,
            }
            for floor, level, label in FLOORS
        ],
        "nodes": b.nodes,
        "edges": b.edges,
        "closures": [],
    }


def main() -> int:
    hospital = json.loads((DATA / "sample_hospital.json").read_text(encoding="utf-8"))
    data = build(hospital)
    HospitalMap.model_validate(data)  # never write a map that does not load
    out = DATA / "sample_map.json"
    out.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}: {len(data['nodes'])} nodes, {len(data['edges'])} edges")
    return 0


if __name__ == "__main__":
    sys.exit(main())
