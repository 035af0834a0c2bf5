"""The live backend's booking plan matches what the live run books (same config and seed)."""

from __future__ import annotations

import random

from central.sim.backend import Booking
from central.sim.config import load_sim_config
from central.sim.live import card_uid, hospital_data, plan_bookings
from central.sim.model import Simulation


class _Seen:
    books_rooms = True

    def __init__(self) -> None:
        self.bookings: list[Booking] = []

    def book(self, bookings: list[Booking], t: float) -> None:
        self.bookings = bookings


def test_plan_is_what_a_run_with_the_same_seed_books() -> None:
    config = load_sim_config(None).model_copy(update={"visits": 40, "seed": 11})
    seen = _Seen()
    Simulation(config, random.Random(11), backend=seen).book()  # type: ignore[arg-type]
    planned = plan_bookings(config)
    assert planned == seen.bookings
    assert len(planned) == 40
    assert all(all(room for room in b.rooms) for b in planned)  # every step's room fixed
    other = plan_bookings(config.model_copy(update={"seed": 12}))
    assert other != planned


def test_hospital_data_gives_each_visit_its_card_and_rooms() -> None:
    config = load_sim_config(None).model_copy(update={"visits": 5})
    bookings = plan_bookings(config)
    data = hospital_data(config, bookings)
    assert [v.visit_id for v in data.visits] == [b.visit_id for b in bookings]
    assert [p.card_uids for p in data.patients] == [[card_uid(b.index)] for b in bookings]
    for visit, b in zip(data.visits, bookings, strict=True):
        assert [s.room_id for s in visit.steps] == list(b.rooms)
        assert visit.service_day == config.service_day
    assert len({card_uid(i) for i in range(1, 1000)}) == 999
