"""Simulator config: a pydantic model (unknown keys are errors) loadable from TOML.

The defaults describe a plausible day at the sample hospital (central/data/sample_hospital.json):
about 450 visits, a morning peak, visit mixes over its rooms, service times around each room's
configured average.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from protocol.base import Model
from protocol.config import load_config
from protocol.errors import ConfigError

ENV_PREFIX = "NFCH_SIM"
SAMPLE_HOSPITAL = Path(__file__).resolve().parent.parent / "data" / "sample_hospital.json"


class RoomGroup(Model):
    """Rooms a step can be served in, and how a patient is assigned one of them."""

    rooms: list[str] = Field(min_length=1, description="Room ids of the hospital file.")
    choose: Literal["shortest", "random"] = Field(
        default="shortest",
        description="'shortest': the room with the fewest waiting when the patient gets there "
        "(reception, lab, payment); 'random': booked in advance (a doctor's room).",
    )


class VisitMix(Model):
    """One kind of visit: its steps in order (group names) and how common it is."""

    name: str = Field(description="Label used in the summary.")
    weight: float = Field(gt=0, description="Relative frequency among the mixes.")
    steps: list[str] = Field(min_length=1, max_length=5, description="Group names, in order.")


class ServiceKind(Model):
    """Service-time distribution of a room kind (mean comes from the room's avg_service_s)."""

    dist: Literal["lognormal", "gamma"] = Field(default="lognormal", description="Family.")
    cv: float = Field(default=0.5, gt=0, le=3, description="Coefficient of variation (sd/mean).")


def _default_groups() -> dict[str, RoomGroup]:
    consult = [
        "im-1", "im-2", "im-3", "card-1", "card-2", "ent-1", "ent-2", "os-1", "os-2",
        "gs-1", "gs-2", "eye-1", "eye-2", "derm-1", "derm-2",
    ]  # fmt: skip
    return {
        "reception": RoomGroup(rooms=["reception-1", "reception-2"]),
        "lab": RoomGroup(rooms=["lab-1", "lab-2"]),
        "xray": RoomGroup(rooms=["xray-1", "xray-2"]),
        "ct": RoomGroup(rooms=["ct-1"]),
        "mri": RoomGroup(rooms=["mri-1"]),
        "ecg": RoomGroup(rooms=["ecg-1"]),
        "echo": RoomGroup(rooms=["echo-1"]),
        "endo": RoomGroup(rooms=["endo-1"]),
        "eye-exam": RoomGroup(rooms=["eye-exam-1"]),
        "consult": RoomGroup(rooms=consult, choose="random"),
        "pharmacy": RoomGroup(rooms=["pharmacy-1"]),
        "payment": RoomGroup(rooms=["pay-1", "pay-2"]),
    }


def _default_mixes() -> list[VisitMix]:
    return [
        VisitMix(name="consultation", weight=30, steps=["consult", "payment"]),
        VisitMix(name="blood test + consultation", weight=22, steps=["lab", "consult", "payment"]),
        VisitMix(
            name="blood + x-ray + consultation",
            weight=12,
            steps=["lab", "xray", "consult", "payment"],
        ),
        VisitMix(
            name="new patient",
            weight=8,
            steps=["reception", "lab", "xray", "consult", "payment"],
        ),
        VisitMix(name="x-ray + consultation", weight=8, steps=["xray", "consult", "payment"]),
        VisitMix(name="CT + consultation", weight=4, steps=["ct", "consult", "payment"]),
        VisitMix(name="MRI", weight=1, steps=["mri", "payment"]),
        VisitMix(name="heart exams", weight=4, steps=["ecg", "echo", "consult", "payment"]),
        VisitMix(name="endoscopy", weight=2, steps=["endo", "payment"]),
        VisitMix(name="eye exam + consultation", weight=5, steps=["eye-exam", "consult"]),
        VisitMix(name="blood test only", weight=4, steps=["lab"]),
    ]


def _default_kinds() -> dict[str, ServiceKind]:
    return {
        "reception": ServiceKind(dist="gamma", cv=0.5),
        "payment": ServiceKind(dist="gamma", cv=0.5),
        "pharmacy": ServiceKind(dist="gamma", cv=0.5),
        "lab": ServiceKind(dist="gamma", cv=0.4),
        "imaging": ServiceKind(dist="lognormal", cv=0.4),
        "consultation": ServiceKind(dist="lognormal", cv=0.6),
        "exam": ServiceKind(dist="lognormal", cv=0.4),
        "procedure": ServiceKind(dist="lognormal", cv=0.3),
    }


class SimConfig(Model):
    """An outpatient day to simulate."""

    hospital_file: Path = Field(
        default=SAMPLE_HOSPITAL, description="Hospital JSON (rooms with kind, avg, capacity)."
    )
    seed: int = Field(default=1, description="Seed of the day's randomness.")
    service_day: date = Field(
        default=date(2026, 3, 2),
        description="The simulated day (dates the event log; a fixed default keeps logs "
        "byte-identical for a seed).",
    )
    visits: int = Field(default=450, ge=1, le=200_000, description="Visits booked for the day.")
    opens_at: str = Field(
        default="08:30", pattern=r"^\d\d:\d\d$", description="Local time rooms start calling."
    )
    close_by: str = Field(
        default="21:00",
        pattern=r"^\d\d:\d\d$",
        description="Local time the day is cut off: visits still open are cancelled.",
    )
    arrivals_by_hour: dict[int, float] = Field(
        default_factory=lambda: {
            8: 0.10,
            9: 0.22,
            10: 0.19,
            11: 0.13,
            12: 0.05,
            13: 0.11,
            14: 0.10,
            15: 0.07,
            16: 0.03,
        },
        description="Relative share of booked arrivals in each local hour (the morning peak).",
    )
    groups: dict[str, RoomGroup] = Field(
        default_factory=_default_groups,
        description="Step name -> rooms that serve it (merged over the defaults).",
    )
    mixes: list[VisitMix] = Field(
        default_factory=_default_mixes, min_length=1, description="Kinds of visits."
    )
    service: dict[str, ServiceKind] = Field(
        default_factory=_default_kinds,
        description="Room kind -> service-time distribution (merged over the defaults).",
    )
    service_by_hour: dict[int, float] = Field(
        default_factory=lambda: {9: 0.9, 10: 0.9, 11: 0.95, 13: 1.15, 14: 1.1, 15: 1.05},
        description="Multiplier of service times by local hour (staff hurry in the peak, "
        "slow after lunch); hours not listed are 1.0.",
    )
    room_speed_spread: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="Sd of log(room's real mean / configured avg): configured averages are "
        "never exactly right.",
    )
    staff: dict[str, int] = Field(
        default_factory=dict, description="Room id -> staff serving (default: room capacity)."
    )
    staff_multiplier: int = Field(
        default=1, ge=1, le=100, description="Multiply every room's staff (for big load tests)."
    )
    call_gap_s: float = Field(
        default=20, ge=0, description="Mean time staff take to call the next patient."
    )
    walk_s: float = Field(default=120, ge=0, description="Mean walk between steps.")
    answer_call_s: float = Field(
        default=40, ge=0, description="Mean time from a call to the patient at the desk."
    )
    call_timeout_s: float = Field(
        default=120, ge=1, description="Staff mark a call missed when nobody came in this time."
    )
    no_show_rate: float = Field(
        default=0.06, ge=0, le=1, description="Booked visits whose patient never comes."
    )
    late_rate: float = Field(default=0.15, ge=0, le=1, description="Patients who come late.")
    late_mean_s: float = Field(default=1200, ge=0, description="Mean lateness of those.")
    miss_call_rate: float = Field(
        default=0.03, ge=0, le=1, description="Chance a patient misses a call (away briefly)."
    )
    abandon_rate: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="Chance per step that a patient leaves the hospital while waiting.",
    )
    double_tap_rate: float = Field(
        default=0.08, ge=0, le=1, description="Patients who tap their card twice."
    )
    wrong_station_rate: float = Field(
        default=0.04, ge=0, le=1, description="Patients who tap at another room's station first."
    )
    priority_rate: float = Field(
        default=0.05, ge=0, le=1, description="Priority patients (class 0; others are 5)."
    )
    missed_requeue_after: int = Field(
        default=3, ge=0, description="A missed patient goes back in line after this many others."
    )
    no_show_after_calls: int = Field(
        default=3, ge=1, description="Called this many times without coming: a no-show."
    )

    @field_validator("groups", mode="before")
    @classmethod
    def _merge_groups(cls, value: object) -> object:
        # A file names only the groups it changes or adds; the others keep their defaults.
        if isinstance(value, dict):
            return {**_default_groups(), **value}
        return value

    @field_validator("service", mode="before")
    @classmethod
    def _merge_service(cls, value: object) -> object:
        if isinstance(value, dict):
            return {**_default_kinds(), **value}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SimConfig:
        for mix in self.mixes:
            for step in mix.steps:
                if step not in self.groups:
                    raise ValueError(f"mix {mix.name!r}: step {step!r} is not a group")
        for hour in (*self.arrivals_by_hour, *self.service_by_hour):
            if not 0 <= hour <= 23:
                raise ValueError(f"hour {hour} is not 0..23")
        if sum(self.arrivals_by_hour.values()) <= 0:
            raise ValueError("arrivals_by_hour: the shares must add up to more than 0")
        return self


def load_sim_config(path: Path | None) -> SimConfig:
    """Defaults, or the TOML file at `path` over them (errors name the file and key)."""
    return load_config(SimConfig, path, ENV_PREFIX, environ={})


def load_hospital(path: Path) -> dict[str, dict[str, object]]:
    """Room id -> room record of a hospital file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {r["room_id"]: r for r in data["rooms"]}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{path}: not a readable hospital file: {e}") from None


def hospital_timezone(path: Path) -> str:
    """The site timezone of a hospital file (Asia/Seoul when it names none)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return str(data.get("site", {}).get("timezone", "Asia/Seoul"))
