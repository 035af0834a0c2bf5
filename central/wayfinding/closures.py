"""Closures set by staff through the API (`/api/v1/map/closures`), kept in `map_closures`.

They add to the map file's own closures: the directory task merges both into the map it
publishes, so routes avoid them. A closure for a node the map no longer has is ignored.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Connection, MetaData, String, Table, delete, select

from central.store.db import Database
from central.store.schema import NAMING, UTCDateTime
from protocol.base import LocalizedText
from protocol.hospital_map import Closure, HospitalMap

closures_metadata = MetaData(naming_convention=NAMING)

map_closures = Table(
    "map_closures",
    closures_metadata,
    Column("node_id", String(64), primary_key=True),
    Column("reason", JSON, nullable=False),
    Column("until", UTCDateTime, nullable=True),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)


def stored_closures(db: Database) -> list[Closure]:
    """Every closure set through the API, by node id."""

    with db.read() as conn:
        rows = conn.execute(select(map_closures).order_by(map_closures.c.node_id)).all()
        return [
            Closure(node_id=r.node_id, reason=LocalizedText.model_validate(r.reason), until=r.until)
            for r in rows
        ]


def put_closures(db: Database, closures: list[Closure], by: str, now: datetime) -> None:
    """Store `closures` (replacing any for the same nodes) in one transaction."""

    def fn(conn: Connection) -> None:
        ids = [c.node_id for c in closures]
        conn.execute(delete(map_closures).where(map_closures.c.node_id.in_(ids)))
        conn.execute(
            map_closures.insert(),
            [
                {
                    "node_id": c.node_id,
                    "reason": c.reason.model_dump(mode="json", exclude_none=True),
                    "until": c.until,
                    "created_by": by,
                    "created_at": now,
                }
                for c in closures
            ],
        )

    db.run_write(fn)


def remove_closure(db: Database, node_id: str) -> bool:
    """Reopen `node_id`; False when the API had not closed it."""

    def fn(conn: Connection) -> bool:
        return bool(
            conn.execute(delete(map_closures).where(map_closures.c.node_id == node_id)).rowcount
        )

    return db.run_write(fn)


def merged(m: HospitalMap, extra: list[Closure]) -> HospitalMap:
    """The map with `extra` closures added (they win over the file's for the same node);
    closures of nodes the map does not have are dropped."""
    if not extra:
        return m
    known = {n.node_id for n in m.nodes}
    mine = {c.node_id: c for c in extra if c.node_id in known}
    kept = [c for c in m.closures if c.node_id not in mine]
    return m.model_copy(update={"closures": [*kept, *mine.values()]})
