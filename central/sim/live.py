"""Drive a running system: the simulation's taps go to real edge daemons' tap endpoints
(`POST /api/v1/tap` on each station's loopback port, a simulated reader), and its staff actions
go to central's REST API (`/api/v1/rooms/{room}/call-next`, `/api/v1/visits/{id}/start` ...).

The simulated day is paced against the wall clock: simulated time runs `speed` times faster
than real time from the first arrival on, so a demo shows a day of patients in minutes. The
visits must be in central before the run (`hospital_data` builds them from `plan_bookings`,
which books exactly as the live run will with the same config and seed); `book` then checks
that central has them all.

Staff actions log in as a staff account (`POST /auth/login`, then the access token as a bearer
token; logged in again when it expires), as a nurse's script would.

Every tap the simulation gets an answer for is recorded (`taps`), so a caller can check that
central holds exactly one event per tap at the end.
"""

from __future__ import annotations

import http.cookies
import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from typing import Any

from central.engine.loader import HospitalData, PatientIn, StepIn, VisitIn
from central.sim.backend import Booking
from central.sim.config import SimConfig
from central.sim.errors import QueueModelError
from central.sim.model import Simulation

ACTOR = "sim-live"
_STEP_KINDS = {"consultation", "exam", "procedure", "imaging", "lab", "payment"}
# A tap's screen -> the kind of event the station wrote for it.
_EVENT_OF_SCREEN = {"checked_in": "check_in"}


class LiveError(QueueModelError):
    """The live system answered something the simulation cannot go on with."""


class SimulationStopped(Exception):
    """Raised inside the simulation when the run is asked to stop."""


def card_uid(index: int) -> str:
    """The card UID of the `index`-th booked visit's patient (a 7-byte NFC UID, hex)."""
    return f"04{index:012X}"


@dataclass(frozen=True, slots=True)
class Station:
    """A running edge daemon the simulation taps at."""

    station_id: str
    http_port: int


@dataclass(frozen=True, slots=True)
class TapRecord:
    """A tap the station answered: which station, which visit, what the screen said."""

    station_id: str
    visit_id: str
    screen: str

    @property
    def event_kind(self) -> str:
        """The kind of event the station recorded for this tap."""
        return _EVENT_OF_SCREEN.get(self.screen, "tap")


class _Recorder:
    books_rooms = True

    def __init__(self) -> None:
        self.bookings: list[Booking] = []

    def book(self, bookings: list[Booking], t: float) -> None:
        self.bookings = bookings


def plan_bookings(config: SimConfig) -> list[Booking]:
    """The visits a live run with this config (and its seed) will book, in booking order."""
    recorder = _Recorder()
    sim = Simulation(config, random.Random(config.seed), backend=recorder)  # type: ignore[arg-type]
    sim.book()
    return recorder.bookings


def hospital_data(config: SimConfig, bookings: list[Booking]) -> HospitalData:
    """Patients (one card each) and visits of `bookings`, to load into central before a run."""
    patients, visits = [], []
    for b in bookings:
        reg = f"SIM{b.index:06d}"
        patients.append(
            PatientIn(registration_no=reg, name=f"모의환자{b.index}", card_uids=[card_uid(b.index)])
        )
        visits.append(
            VisitIn(
                visit_id=b.visit_id,
                registration_no=reg,
                service_day=config.service_day,
                priority=b.priority,
                steps=[
                    StepIn(room_id=r, kind=k if k in _STEP_KINDS else "other")
                    for r, k in zip(b.rooms, b.kinds, strict=True)
                ],
            )
        )
    return HospitalData(patients=patients, visits=visits)


class LiveQueue:
    """A `QueueBackend` over a running system: edge daemons' tap endpoints and central's API.

    Blocking (urllib): run the simulation in its own thread. `stop` ends the run at the next
    operation with `SimulationStopped`.
    """

    books_rooms = True

    def __init__(
        self,
        central_url: str,
        stations: list[Station],
        *,
        speed: float,
        stop: threading.Event,
        login: tuple[str, str] | None = None,
        confirm_timeout_s: float = 20.0,
        http_timeout_s: float = 15.0,
    ) -> None:
        """`login`: (user name, password) of a staff account allowed the queue operations
        (and the event log, for `api_get` callers); None when central asks for no login."""
        if not stations:
            raise ValueError("the live backend needs at least one station")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.central_url = central_url.rstrip("/")
        self.stations = stations
        self.speed = speed
        self.stop = stop
        self.confirm_timeout_s = confirm_timeout_s
        self.http_timeout_s = http_timeout_s
        self._index: dict[str, int] = {}
        self._t0: float | None = None
        self._wall0 = 0.0
        self.sim_time: float | None = None
        """Simulated seconds since midnight of the last operation."""
        self.lag_s = 0.0
        """How far the last operation ran behind its paced wall time."""
        self.taps: list[TapRecord] = []
        self.counts: Counter[str] = Counter()
        self.rejects: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._login = login
        self._token: str | None = None
        self._token_lock = threading.Lock()

    def clock(self) -> float | None:
        """The simulated time now (seconds since midnight), None before the first arrival."""
        if self._t0 is None:
            return None
        return self._t0 + (time.monotonic() - self._wall0) * self.speed

    # ------------------------------------------------------------------ plumbing

    def _tick(self, t: float) -> None:
        if self.stop.is_set():
            raise SimulationStopped
        if self._t0 is None:
            self._t0, self._wall0 = t, time.monotonic()
        target = self._wall0 + (t - self._t0) / self.speed
        delay = target - time.monotonic()
        if delay > 0 and self.stop.wait(delay):
            raise SimulationStopped
        self.lag_s = max(0.0, -delay)
        self.sim_time = t

    def _http(
        self,
        method: str,
        url: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        cookies: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        all_headers = dict(headers or {})
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        req = urllib.request.Request(  # noqa: S310 - loopback URLs of our own children
            url, data=data, method=method, headers=all_headers
        )
        try:
            with urllib.request.urlopen(req, timeout=self.http_timeout_s) as resp:  # noqa: S310
                raw, status = resp.read(), int(resp.status)
                set_cookies = resp.headers.get_all("Set-Cookie") or []
        except urllib.error.HTTPError as e:
            raw, status = e.read(), int(e.code)
            set_cookies = []
        except OSError as e:
            raise LiveError(f"{method} {url}: {e}") from None
        if cookies is not None:
            for header in set_cookies:
                jar = http.cookies.SimpleCookie()
                jar.load(header)
                cookies.update({k: m.value for k, m in jar.items()})
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            raise LiveError(f"{method} {url}: answer {status} is not JSON: {raw[:200]!r}") from None

    def _log_in(self) -> str:
        # Imported here: only a run against a central with staff login needs the auth part.
        from central.auth.http import ACCESS_COOKIE

        assert self._login is not None
        user, password = self._login
        cookies: dict[str, str] = {}
        status, answer = self._http(
            "POST",
            f"{self.central_url}/auth/login",
            {"username": user, "password": password},
            headers={"Origin": self.central_url},
            cookies=cookies,
        )
        token = cookies.get(ACCESS_COOKIE)
        if status != 200 or not token:
            raise LiveError(f"staff login of {user!r} at central failed: {status} {answer}")
        self.counts["login"] += 1
        return token

    def _api(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        url = f"{self.central_url}/api/v1{path}"
        if self._login is None:
            return self._http(method, url, body)
        for attempt in (1, 2):
            with self._token_lock:
                if self._token is None:
                    self._token = self._log_in()
                token = self._token
            status, answer = self._http(method, url, body, {"Authorization": f"Bearer {token}"})
            if status != 401 or attempt == 2:
                return status, answer
            with self._token_lock:  # expired (or revoked): log in again once
                if self._token == token:
                    self._token = None
        raise AssertionError("unreachable")

    def api_get(self, path: str) -> tuple[int, Any]:
        """GET an /api/v1 path as the simulation's staff account (thread-safe)."""
        return self._api("GET", path)

    def _op(self, op: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        status, answer = self._api("POST", path, {"actor": ACTOR, **(body or {})})
        if status != 200:
            raise LiveError(f"{op} {path}: central answered {status}: {answer}")
        self.counts[op] += 1
        result: dict[str, Any] = answer
        return result

    @staticmethod
    def _reason(answer: Any) -> str | None:
        if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
            reason = answer["error"].get("reason")
            return str(reason) if reason is not None else None
        return None

    def _station(self, visit_id: str) -> Station:
        # A patient keeps to one hallway station (the one on their way), spread over all.
        return self.stations[self._index[visit_id] % len(self.stations)]

    def _tap(self, visit_id: str) -> TapRecord:
        station = self._station(visit_id)
        url = f"http://127.0.0.1:{station.http_port}/api/v1/tap"
        status, screen = self._http("POST", url, {"uid": card_uid(self._index[visit_id])})
        if status != 200 or not isinstance(screen, dict):
            raise LiveError(f"tap of {visit_id} at {station.station_id}: {status} {screen}")
        record = TapRecord(station.station_id, visit_id, str(screen.get("kind")))
        with self._lock:
            self.taps.append(record)
        self.counts["tap"] += 1
        return record

    def _visit(self, visit_id: str) -> dict[str, Any]:
        status, answer = self._api("GET", f"/visits/{visit_id}")
        if status != 200:
            raise LiveError(f"visit {visit_id}: central answered {status}: {answer}")
        visit: dict[str, Any] = answer["visit"]
        return visit

    def _position(self, room_id: str, visit_id: str) -> int:
        for i, entry in enumerate(self._queue(room_id).get("waiting", [])):
            if entry["visit_id"] == visit_id:
                return int(entry.get("position") or i + 1)
        return 1  # not waiting any more: called already

    def _queue(self, room_id: str) -> dict[str, Any]:
        status, answer = self._api("GET", f"/rooms/{room_id}/queue")
        if status != 200:
            raise LiveError(f"queue of {room_id}: central answered {status}: {answer}")
        queue: dict[str, Any] = answer
        return queue

    # ------------------------------------------------------------------ QueueBackend

    def book(self, bookings: list[Booking], t: float) -> None:
        for b in bookings:
            self._index[b.visit_id] = b.index
        # The visits were loaded into central before the run: check the first and last.
        for b in (bookings[0], bookings[-1]) if bookings else ():
            self._visit(b.visit_id)

    def check_in(self, visit_id: str, room_id: str, priority: int, step: int, t: float) -> int:
        self._tick(t)
        record = self._tap(visit_id)
        if record.screen not in ("checked_in", "already_waiting"):
            raise LiveError(
                f"check-in of {visit_id} at {record.station_id}: the station showed "
                f"{record.screen!r}"
            )
        # The station decided on its own; wait until its event reached central (over MQTT) so
        # the staff side of the simulation sees the patient in line.
        deadline = time.monotonic() + self.confirm_timeout_s
        while True:
            visit = self._visit(visit_id)
            if visit["room_id"] == room_id and visit["queue_state"] is not None:
                break
            if time.monotonic() > deadline:
                raise LiveError(
                    f"check-in of {visit_id} at {record.station_id} did not reach central "
                    f"within {self.confirm_timeout_s:.0f} s (visit is {visit['state']})"
                )
            if self.stop.wait(0.02):
                raise SimulationStopped
        self.counts["check_in"] += 1
        return self._position(room_id, visit_id)

    def tap(self, visit_id: str, room_id: str, outcome: str, t: float) -> None:
        self._tick(t)
        if outcome == "wrong_station":
            # Hallway stations check a patient in to their own next room wherever they tap:
            # there is no wrong station to simulate (set wrong_station_rate = 0).
            raise LiveError("wrong-station taps cannot be simulated live (wrong_station_rate)")
        self._tap(visit_id)

    def call_next(self, room_id: str, desk: int, t: float) -> str | None:
        self._tick(t)
        status, answer = self._api(
            "POST", f"/rooms/{room_id}/call-next", {"actor": ACTOR, "desk": str(desk)}
        )
        if status != 200:
            if self._reason(answer) == "queue_empty":
                return None
            raise LiveError(f"call-next in {room_id}: central answered {status}: {answer}")
        self.counts["call"] += 1
        return str(answer["visit"]["visit_id"])

    def start(self, visit_id: str, t: float) -> None:
        self._tick(t)
        self._op("start", f"/visits/{visit_id}/start")

    def complete(self, visit_id: str, t: float) -> tuple[str, int] | None:
        self._tick(t)
        visit = self._op("complete", f"/visits/{visit_id}/complete")["visit"]
        if visit["room_id"] is not None and visit["queue_state"] == "WAITING":
            return str(visit["room_id"]), self._position(visit["room_id"], visit_id)
        return None

    def finish(self, visit_id: str, t: float) -> None:
        self._tick(t)
        self._op("pay", f"/visits/{visit_id}/pay")

    def miss(self, visit_id: str, t: float) -> bool:
        self._tick(t)
        visit = self._op("miss", f"/visits/{visit_id}/miss")["visit"]
        return bool(visit["queue_state"] == "WAITING")

    def cancel(self, visit_id: str, t: float) -> None:
        self._tick(t)
        status, answer = self._api("POST", f"/visits/{visit_id}/cancel", {"actor": ACTOR})
        if status != 200:
            # In the room when the day is cut off: central keeps it (an exam is not cancelled).
            self.rejects[f"cancel:{self._reason(answer)}"] += 1
        else:
            self.counts["cancel"] += 1

    def waiting(self, room_id: str) -> list[str]:
        return [e["visit_id"] for e in self._queue(room_id).get("waiting", [])]


__all__ = [
    "LiveError",
    "LiveQueue",
    "SimulationStopped",
    "Station",
    "TapRecord",
    "card_uid",
    "hospital_data",
    "plan_bookings",
]
