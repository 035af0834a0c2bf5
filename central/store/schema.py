"""Central's tables (SQLAlchemy Core), one schema for SQLite and PostgreSQL.

Migrations in `central/store/migrations/versions/` create and change these tables; a test
checks that the migrated database matches this module exactly. See docs/central-storage.md.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on both databases."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _id(name: str, *args: Any, **kw: Any) -> Column[str]:
    return Column(name, String(64), *args, **kw)


# Queue order keys are compared byte-wise (HLC text, then fractional keys for missed calls);
# PostgreSQL's default collation would ignore the punctuation, so force "C" there.
OrderKey = String(255).with_variant(String(255, collation="C"), "postgresql")

ACTIVE_STATES_SQL = "state IN ('WAITING', 'ON_HOLD', 'CALLED', 'ONGOING')"

departments = Table(
    "departments",
    metadata,
    _id("department_id", primary_key=True),
    Column("name", JSON, nullable=False),
    Column("sort_order", Integer, nullable=False, server_default="0"),
)

rooms = Table(
    "rooms",
    metadata,
    _id("room_id", primary_key=True),
    _id("department_id", ForeignKey("departments.department_id"), nullable=False),
    Column("name", JSON, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("floor_label", String(8), nullable=False),
    _id("node_id", nullable=True),
    Column("capacity", Integer, nullable=False, server_default="1"),
    Column("avg_service_s", Integer, nullable=False),
    Column("open", Boolean, nullable=False, server_default=text("true")),
    Column("prep_notes", JSON, nullable=True),
    Column("sort_order", Integer, nullable=False, server_default="0"),
)

# The row every operation on a room locks first; `version` is the room snapshot's version.
room_versions = Table(
    "room_versions",
    metadata,
    _id("room_id", ForeignKey("rooms.room_id"), primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
)

# Per room per service day: the ticket-number allocator and counters.
room_days = Table(
    "room_days",
    metadata,
    _id("room_id", ForeignKey("rooms.room_id"), nullable=False),
    Column("service_day", Date, nullable=False),
    Column("next_free", Integer, nullable=False, comment="First ticket number not yet in a block"),
    Column("central_next", Integer, nullable=False, comment="Next number of central's own block"),
    Column("central_last", Integer, nullable=False, comment="Last number of central's block"),
    Column("served", Integer, nullable=False, server_default="0"),
    PrimaryKeyConstraint("room_id", "service_day"),
)

stations = Table(
    "stations",
    metadata,
    _id("station_id", primary_key=True),
    Column("name", JSON, nullable=False),
    _id("node_id", nullable=True),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("acked_through", BigInteger, nullable=False, server_default="0"),
    Column("last_batch_at", UTCDateTime, nullable=True),
    Column("lease_version", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
)

# Minimal PII: a name, the hospital registration number, and what the phone login needs.
patients = Table(
    "patients",
    metadata,
    _id("patient_id", primary_key=True),
    Column("registration_no", String(32), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("masked_name", String(64), nullable=False),
    Column("birth_date", Date, nullable=True),
    Column("phone_last4", String(4), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

# Keyed hash of the card UID only (protocol.ids.card_hash); never the UID.
cards = Table(
    "cards",
    metadata,
    Column("card_hash", String(64), primary_key=True),
    _id("patient_id", ForeignKey("patients.patient_id"), nullable=False, index=True),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("issued_at", UTCDateTime, nullable=False),
)

visits = Table(
    "visits",
    metadata,
    _id("visit_id", primary_key=True),
    _id("patient_id", ForeignKey("patients.patient_id"), nullable=False),
    Column("service_day", Date, nullable=False),
    Column("state", String(16), nullable=False),
    Column("current_step", Integer, nullable=False, server_default="0"),
    Column("priority", Integer, nullable=False, server_default="5"),
    Column("step_free", Boolean, nullable=False, server_default=text("false")),
    Column("external_ref", String(128), nullable=True, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "service_day", "visit_id"),
    Index(None, "patient_id", "service_day"),
)

visit_steps = Table(
    "visit_steps",
    metadata,
    _id("visit_id", ForeignKey("visits.visit_id"), nullable=False),
    Column("step_index", Integer, nullable=False),
    _id("room_id", ForeignKey("rooms.room_id"), nullable=False),
    _id("planned_room_id", ForeignKey("rooms.room_id"), nullable=False),
    Column("label", JSON, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("done", Boolean, nullable=False, server_default=text("false")),
    Column("done_at", UTCDateTime, nullable=True),
    PrimaryKeyConstraint("visit_id", "step_index"),
)

# One row per (visit, room) stay in a queue; closed rows stay as history.
queue_entries = Table(
    "queue_entries",
    metadata,
    Column("entry_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    _id("visit_id", ForeignKey("visits.visit_id"), nullable=False),
    Column("step_index", Integer, nullable=False),
    _id("room_id", ForeignKey("rooms.room_id"), nullable=False),
    Column("service_day", Date, nullable=False),
    Column("ticket_number", Integer, nullable=False),
    _id("lease_id", nullable=True),
    _id("station_id", nullable=True),
    Column("state", String(12), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("sort_priority", Integer, nullable=False),
    Column("order_key", OrderKey, nullable=False),
    Column("arrival_key", OrderKey, nullable=False),
    Column("desk", String(16), nullable=True),
    Column("call_count", Integer, nullable=False, server_default="0"),
    Column("checked_in_at", UTCDateTime, nullable=False),
    Column("called_at", UTCDateTime, nullable=True),
    Column("started_at", UTCDateTime, nullable=True),
    Column("ended_at", UTCDateTime, nullable=True),
    Column("end_reason", String(16), nullable=True),
    # The room's snapshot version this row was last written for (the locked version + 1):
    # a snapshot build reads only the rows written since the version it has (`ix_queue_delta`).
    Column("room_version", BigInteger, nullable=False, server_default="0"),
    UniqueConstraint("room_id", "service_day", "ticket_number"),
    # call next = first row of this index range: O(log n) whatever the queue length
    Index(
        "ix_queue_next",
        "room_id",
        "service_day",
        "state",
        "sort_priority",
        "order_key",
        "entry_id",
    ),
    Index("ix_queue_visit", "visit_id", "entry_id"),
    Index("ix_queue_delta", "room_id", "service_day", "room_version"),
    Index(
        "uq_queue_one_active_per_visit",
        "visit_id",
        unique=True,
        sqlite_where=text(ACTIVE_STATES_SQL),
        postgresql_where=text(ACTIVE_STATES_SQL),
    ),
    Index(
        "uq_queue_one_called_per_desk",
        "room_id",
        "service_day",
        "desk",
        unique=True,
        sqlite_where=text("state = 'CALLED'"),
        postgresql_where=text("state = 'CALLED'"),
    ),
)

events = Table(
    "events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    _id("station_id", nullable=False),
    Column("station_seq", BigInteger, nullable=False),
    Column("event_id", String(36), nullable=True, unique=True),
    Column("kind", String(32), nullable=False),
    Column("hlc", String(90), nullable=False),
    Column("wall_time", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("outcome", String(10), nullable=False),
    Column("reason", String(64), nullable=True),
    Column("message_ko", String(500), nullable=True),
    Column("message_en", String(500), nullable=True),
    Column("payload", JSON, nullable=False),
    UniqueConstraint("station_id", "station_seq"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("audit_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("service_day", Date, nullable=False),
    _id("visit_id", nullable=False),
    Column("action", String(16), nullable=False),
    Column("trigger", String(8), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("from_state", String(16), nullable=False),
    Column("to_state", String(16), nullable=False),
    _id("room_id", nullable=True),
    Column("event_id", String(36), nullable=True),
    Column("detail", JSON, nullable=False),
    Index("ix_audit_visit", "visit_id", "audit_id"),
    Index("ix_audit_room", "room_id", "audit_id"),
    Index("ix_audit_day", "service_day", "audit_id"),  # analytics of past days (0005)
)

ticket_leases = Table(
    "ticket_leases",
    metadata,
    _id("lease_id", primary_key=True),
    _id("station_id", ForeignKey("stations.station_id"), nullable=False),
    _id("room_id", ForeignKey("rooms.room_id"), nullable=False),
    Column("service_day", Date, nullable=False),
    Column("first", Integer, nullable=False),
    Column("last", Integer, nullable=False),
    Column("used_max", Integer, nullable=False, server_default="0"),
    Column("issued_at", UTCDateTime, nullable=False),
    UniqueConstraint("room_id", "service_day", "first"),
    Index("ix_lease_station_day", "station_id", "service_day", "room_id"),
)

staff_users = Table(
    "staff_users",
    metadata,
    _id("user_id", primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(100), nullable=False),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("topic", String(256), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("detail", Text, nullable=False),
    _id("station_id", nullable=True),
    Column("payload_excerpt", Text, nullable=False),
)

# Monotonic versions of the retained directory documents (rooms, cards, config ...).
directory_versions = Table(
    "directory_versions",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
)

# Small key/value facts about the site: the last service day central rolled into.
site_state = Table(
    "site_state",
    metadata,
    Column("key", String(32), primary_key=True),
    Column("value", String(200), nullable=False),
)

# Service-day settings an admin changed at runtime (central/api/admin_routes.py); they win
# over the config file. One row per key; `value` is JSON (a number, or for day_starts_at
# {"value", "previous", "from_day"}: a new day start applies from a coming service day).
service_settings = Table(
    "service_settings",
    metadata,
    Column("key", String(32), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("updated_by", String(64), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Every change of a service-day setting: who, when, before and after.
service_settings_audit = Table(
    "service_settings_audit",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("key", String(32), nullable=False),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=False),
    Column("effective_day", Date, nullable=True),
)

# Analytics of closed service days (central/web/analytics.py), filled once per past day from
# the audit log: a day's row says through which audit row it was computed (a later row of that
# day, e.g. yesterday's exam completed this morning, makes it stale and it is recomputed).
analytics_days = Table(
    "analytics_days",
    metadata,
    Column("service_day", Date, primary_key=True),
    Column("through_audit_id", BigInteger, nullable=False),
    Column("last_at", UTCDateTime, nullable=True),
    Column("computed_at", UTCDateTime, nullable=False),
)

# Per day, room and local hour: completions and no-shows counted, and every wait (line to
# call) and service (start to complete) in microseconds (sorted little-endian int64), so
# medians and p90 of any range of days are exactly those of the audit log.
analytics_room_hours = Table(
    "analytics_room_hours",
    metadata,
    Column("service_day", Date, ForeignKey("analytics_days.service_day"), nullable=False),
    _id("room_id", nullable=False),
    Column("hour", Integer, nullable=False),
    Column("completed", Integer, nullable=False),
    Column("no_shows", Integer, nullable=False),
    Column("waits_us", LargeBinary, nullable=False),
    Column("services_us", LargeBinary, nullable=False),
    PrimaryKeyConstraint("service_day", "room_id", "hour"),
)
