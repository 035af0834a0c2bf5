"""Small hand-built maps for wayfinding tests, where every distance and turn is known."""

from __future__ import annotations

from typing import Any

from protocol.base import LocalizedText
from protocol.hospital_map import HospitalMap


def t(ko: str, en: str) -> dict[str, str]:
    return {"ko": ko, "en": en}


def node(node_id: str, floor: str, kind: str, x: float, y: float, **extra: Any) -> dict[str, Any]:
    return {"node_id": node_id, "floor_id": floor, "kind": kind, "x": x, "y": y, **extra}


def edge(
    a: str, b: str, kind: str, length: float, step_free: bool = True, **extra: Any
) -> dict[str, Any]:
    return {"a": a, "b": b, "kind": kind, "length_m": length, "step_free": step_free, **extra}


def floor(floor_id: str, level: int) -> dict[str, Any]:
    return {
        "floor_id": floor_id,
        "building_id": "b",
        "level": level,
        "label": f"{level}F",
        "width_m": 60,
        "height_m": 30,
    }


def two_floor_data() -> dict[str, Any]:
    """Station on 1F; stairs near it, elevators A (middle) and B (far); room X on 2F by the stairs.

    Shortest st -> x climbs the stairs (about 53 m); step-free rides elevator A; with A
    closed, elevator B; with both closed there is no step-free route.
    """
    return {
        "buildings": [{"building_id": "b", "name": t("본관", "Main")}],
        "floors": [floor("f1", 1), floor("f2", 2)],
        "nodes": [
            node("st", "f1", "station", 5, 15, name=t("안내 단말기", "station")),
            node("j1", "f1", "corridor", 10, 15),
            node("j2", "f1", "corridor", 30, 15),
            node("j3", "f1", "corridor", 50, 15),
            node("s1", "f1", "stairs", 10, 5, group="st", name=t("계단", "stairs")),
            node("ea1", "f1", "elevator", 30, 5, group="ea", name=t("A 엘리베이터", "Elevator A")),
            node("eb1", "f1", "elevator", 50, 5, group="eb", name=t("B 엘리베이터", "Elevator B")),
            node("s2", "f2", "stairs", 10, 5, group="st", name=t("계단", "stairs")),
            node("ea2", "f2", "elevator", 30, 5, group="ea", name=t("A 엘리베이터", "Elevator A")),
            node("eb2", "f2", "elevator", 50, 5, group="eb", name=t("B 엘리베이터", "Elevator B")),
            node("k1", "f2", "corridor", 10, 15),
            node("k2", "f2", "corridor", 30, 15),
            node("k3", "f2", "corridor", 50, 15),
            node("x", "f2", "room", 10, 25, room_id="room-x", name=t("엑스 진료실", "Room X")),
        ],
        "edges": [
            edge("st", "j1", "corridor", 5),
            edge("j1", "j2", "corridor", 20),
            edge("j2", "j3", "corridor", 20),
            edge("j1", "s1", "corridor", 10),
            edge("j2", "ea1", "corridor", 10),
            edge("j3", "eb1", "corridor", 10),
            edge("s1", "s2", "stairs", 18, step_free=False),
            edge("ea1", "ea2", "elevator", 4),
            edge("eb1", "eb2", "elevator", 4),
            edge("s2", "k1", "corridor", 10),
            edge("ea2", "k2", "corridor", 10),
            edge("eb2", "k3", "corridor", 10),
            edge("k1", "k2", "corridor", 20),
            edge("k2", "k3", "corridor", 20),
            edge("k1", "x", "door", 10),
        ],
        "closures": [],
    }


def two_floor_map(**changes: Any) -> HospitalMap:
    data = two_floor_data()
    data.update(changes)
    return HospitalMap.model_validate(data)


def closure(node_id: str) -> dict[str, Any]:
    return {"node_id": node_id, "reason": t("점검 중", "Under maintenance")}


def l_shaped_data(mirror: bool = False) -> dict[str, Any]:
    """One floor: east from the station, left (north) by the restrooms, right at the north hall,
    then along to a door on the right. `mirror` flips it top to bottom (turns swap sides)."""

    def y(v: float) -> float:
        return 30 - v if mirror else v

    return {
        "buildings": [{"building_id": "b", "name": t("본관", "Main")}],
        "floors": [floor("f1", 1)],
        "nodes": [
            node("st", "f1", "station", 5, y(20)),
            node("a", "f1", "corridor", 20, y(20)),
            node("wc", "f1", "restroom", 20, y(28), name=t("화장실", "restrooms")),
            node("b", "f1", "corridor", 20, y(5), name=t("북쪽 홀", "north hall")),
            node("c", "f1", "corridor", 35, y(5)),
            node("c2", "f1", "corridor", 45, y(5)),
            node("d", "f1", "room", 45, y(10), room_id="room-d", name=t("소아과", "Pediatrics")),
        ],
        "edges": [
            edge("st", "a", "corridor", 15),
            edge("a", "wc", "door", 8),
            edge("a", "b", "corridor", 15),
            edge("b", "c", "corridor", 15),
            edge("c", "c2", "corridor", 10),
            edge("c2", "d", "door", 5),
        ],
        "closures": [],
    }


REASON = LocalizedText(ko="점검 중", en="Under maintenance")
