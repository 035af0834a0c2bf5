"""Ticket numbers: one allocator per room per service day, handing out blocks.

`room_days.next_free` is the first number no block holds yet. Every block — a station's
lease or central's own — is cut from it under the room_days row lock, so blocks never overlap
and a number is unique per room per day even when stations issue theirs offline. Central
issues its own numbers (staff and phone check-ins, next steps, transfers, and station
check-ins that arrive without a number) from its own current block.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, Table, and_, bindparam, case, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from central.engine.errors import Rejected
from central.store.schema import queue_entries, room_days, rooms, stations, ticket_leases
from protocol.messages import Lease, TicketBlock

MAX_TICKET = 99999


@dataclass(frozen=True, slots=True)
class LeaseSettings:
    block_size: int
    low_water: int
    days_ahead: int


def insert_ignore(conn: Connection, table: Table, values: dict[str, object]) -> None:
    dialect = conn.dialect.name
    mod = postgresql if dialect == "postgresql" else sqlite
    conn.execute(mod.insert(table).values(**values).on_conflict_do_nothing())


_ROOM_DAY = (
    select(room_days.c.next_free, room_days.c.central_next, room_days.c.central_last)
    .where(
        room_days.c.room_id == bindparam("b_room"), room_days.c.service_day == bindparam("b_day")
    )
    .with_for_update()
)
_UPDATE_ROOM_DAY = update(room_days).where(
    room_days.c.room_id == bindparam("b_room"), room_days.c.service_day == bindparam("b_day")
)


def _room_day(conn: Connection, room_id: str, day: date) -> tuple[int, int, int]:
    """Lock (creating) the allocator row; returns (next_free, central_next, central_last)."""
    params = {"b_room": room_id, "b_day": day}
    row = conn.execute(_ROOM_DAY, params).first()
    if row is None:
        insert_ignore(
            conn,
            room_days,
            {
                "room_id": room_id,
                "service_day": day,
                "next_free": 1,
                "central_next": 1,
                "central_last": 0,
                "served": 0,
            },
        )
        row = conn.execute(_ROOM_DAY, params).one()
    return int(row.next_free), int(row.central_next), int(row.central_last)


def _cut(conn: Connection, room_id: str, day: date, next_free: int, size: int) -> tuple[int, int]:
    if next_free > MAX_TICKET:
        raise Rejected.of("tickets_exhausted", room_id=room_id)
    last = min(next_free + size - 1, MAX_TICKET)
    conn.execute(_UPDATE_ROOM_DAY, {"b_room": room_id, "b_day": day, "next_free": last + 1})
    return next_free, last


_TAKE_CENTRAL = (
    update(room_days)
    .where(
        room_days.c.room_id == bindparam("b_room"),
        room_days.c.service_day == bindparam("b_day"),
        room_days.c.central_next <= room_days.c.central_last,
    )
    .values(central_next=room_days.c.central_next + 1)
    .returning(room_days.c.central_next)
)


def central_number(conn: Connection, room_id: str, day: date, block_size: int) -> int:
    """The next number from central's own block in this room and day (cutting a new block
    when the current one is used up). One statement while the block lasts."""
    taken = conn.execute(_TAKE_CENTRAL, {"b_room": room_id, "b_day": day}).scalar()
    if taken is not None:
        return int(taken) - 1
    next_free, central_next, central_last = _room_day(conn, room_id, day)
    if central_next > central_last:
        central_next, central_last = _cut(conn, room_id, day, next_free, block_size)
    conn.execute(
        _UPDATE_ROOM_DAY,
        {
            "b_room": room_id,
            "b_day": day,
            "central_next": central_next + 1,
            "central_last": central_last,
        },
    )
    return central_next


def count_served(conn: Connection, room_id: str, day: date) -> None:
    """One more patient served in this room today."""
    _room_day(conn, room_id, day)
    conn.execute(
        update(room_days)
        .where(room_days.c.room_id == room_id, room_days.c.service_day == day)
        .values(served=room_days.c.served + 1)
    )


_NOTE_NUMBER = (
    update(ticket_leases)
    .where(
        ticket_leases.c.station_id == bindparam("b_station"),
        ticket_leases.c.room_id == bindparam("b_room"),
        ticket_leases.c.service_day == bindparam("b_day"),
        ticket_leases.c.first <= bindparam("b_number"),
        ticket_leases.c.last >= bindparam("b_number"),
        ticket_leases.c.used_max < bindparam("b_number"),
    )
    .values(used_max=bindparam("b_number"))
)


def note_station_number(
    conn: Connection,
    station_id: str,
    room_id: str,
    day: date,
    number: int,
    lease_id: str | None,
) -> None:
    """Record that a station issued `number` from a block, whatever becomes of the check-in,
    so the low-water check sees what the station has left."""
    conn.execute(
        _NOTE_NUMBER,
        {"b_station": station_id, "b_room": room_id, "b_day": day, "b_number": number},
    )


_TAKEN = (
    select(queue_entries.c.entry_id)
    .where(
        queue_entries.c.room_id == ticket_leases.c.room_id,
        queue_entries.c.service_day == ticket_leases.c.service_day,
        queue_entries.c.ticket_number == bindparam("b_number"),
    )
    .correlate(ticket_leases)
    .exists()
)
_STATION_BLOCK = select(ticket_leases.c.lease_id, _TAKEN.label("taken")).where(
    ticket_leases.c.station_id == bindparam("b_station"),
    ticket_leases.c.room_id == bindparam("b_room"),
    ticket_leases.c.service_day == bindparam("b_day"),
    ticket_leases.c.first <= bindparam("b_number"),
    ticket_leases.c.last >= bindparam("b_number"),
)
_STATION_BLOCK_BY_ID = _STATION_BLOCK.where(ticket_leases.c.lease_id == bindparam("b_lease"))


def station_number_ok(
    conn: Connection,
    *,
    station_id: str,
    room_id: str,
    day: date,
    number: int,
    lease_id: str | None,
) -> str | None:
    """The lease id when `number` is a valid station-issued number for this room and day (in a
    block leased to this station for that day, and not already used); else None.

    `note_station_number` has already recorded the number as used in its block."""
    params = {"b_station": station_id, "b_room": room_id, "b_day": day, "b_number": number}
    if lease_id is not None:
        params["b_lease"] = lease_id
        row = conn.execute(_STATION_BLOCK_BY_ID, params).first()
    else:
        row = conn.execute(_STATION_BLOCK, params).first()
    if row is None or row.taken:
        return None
    return str(row.lease_id)


def lease_days(today: date, settings: LeaseSettings) -> list[date]:
    return [today + timedelta(days=i) for i in range(settings.days_ahead + 1)]


def top_up(
    conn: Connection,
    station_id: str,
    today: date,
    settings: LeaseSettings,
    now: datetime,
    room_ids: list[str] | None = None,
) -> bool:
    """Give the station a new block in every room (or only `room_ids`) and leased day where
    fewer than the low-water mark of its numbers are left. True when anything was leased
    (and the station's lease version went up)."""
    days = lease_days(today, settings)
    if room_ids is None:
        room_ids = list(
            conn.execute(select(rooms.c.room_id).where(rooms.c.open).order_by(rooms.c.room_id))
            .scalars()
            .all()
        )
    if not room_ids:
        return False
    unused_from = case(
        (ticket_leases.c.used_max >= ticket_leases.c.first, ticket_leases.c.used_max + 1),
        else_=ticket_leases.c.first,
    )
    remaining = dict(
        ((r.room_id, r.service_day), int(r.left))
        for r in conn.execute(
            select(
                ticket_leases.c.room_id,
                ticket_leases.c.service_day,
                func.sum(ticket_leases.c.last - unused_from + 1).label("left"),
            )
            .where(
                ticket_leases.c.station_id == station_id,
                ticket_leases.c.service_day.in_(days),
                ticket_leases.c.room_id.in_(room_ids),
            )
            .group_by(ticket_leases.c.room_id, ticket_leases.c.service_day)
        )
    )
    needed = sorted(
        (room_id, day)
        for room_id in room_ids
        for day in days
        if remaining.get((room_id, day), 0) < max(settings.low_water, 1)
    )
    for room_id, day in needed:
        next_free, _cn, _cl = _room_day(conn, room_id, day)
        try:
            first, last = _cut(conn, room_id, day, next_free, settings.block_size)
        except Rejected:
            continue  # this room ran out of numbers today; the station falls back to central
        conn.execute(
            insert(ticket_leases).values(
                lease_id="l" + uuid.uuid4().hex[:24],
                station_id=station_id,
                room_id=room_id,
                service_day=day,
                first=first,
                last=last,
                used_max=0,
                issued_at=now,
            )
        )
    if needed:
        conn.execute(
            update(stations)
            .where(stations.c.station_id == station_id)
            .values(lease_version=stations.c.lease_version + 1)
        )
    return bool(needed)


def lease_document(
    conn: Connection, station_id: str, today: date, settings: LeaseSettings, now: datetime
) -> Lease:
    """The station's blocks for today and the coming leased days, with its lease version."""
    version = conn.execute(
        select(stations.c.lease_version).where(stations.c.station_id == station_id)
    ).scalar()
    if version is None:
        raise Rejected.of("unknown_station", station_id=station_id)
    days = lease_days(today, settings)
    unused = and_(ticket_leases.c.used_max < ticket_leases.c.last)
    blocks = [
        TicketBlock(
            lease_id=r.lease_id,
            room_id=r.room_id,
            service_day=r.service_day,
            first=r.first,
            last=r.last,
        )
        for r in conn.execute(
            select(ticket_leases)
            .where(
                ticket_leases.c.station_id == station_id,
                ticket_leases.c.service_day.in_(days),
                unused,
            )
            .order_by(ticket_leases.c.service_day, ticket_leases.c.room_id, ticket_leases.c.first)
        )
    ]
    return Lease(station_id=station_id, version=max(int(version), 1), issued_at=now, blocks=blocks)
