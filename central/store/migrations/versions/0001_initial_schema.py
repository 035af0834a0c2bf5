"""Initial schema: every table of central/store/schema.py as of issue #3.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 17:48:22.057998
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import central.store.schema

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("audit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", central.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("service_day", sa.Date(), nullable=False),
        sa.Column("visit_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=8), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=False),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("room_id", sa.String(length=64), nullable=True),
        sa.Column("event_id", sa.String(length=36), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("audit_id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_room", ["room_id", "audit_id"], unique=False)
        batch_op.create_index("ix_audit_visit", ["visit_id", "audit_id"], unique=False)

    op.create_table(
        "dead_letters",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("received_at", central.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("topic", sa.String(length=256), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=True),
        sa.Column("payload_excerpt", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    op.create_table(
        "departments",
        sa.Column("department_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.JSON(), nullable=False),
        sa.Column("sort_order", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("department_id", name=op.f("pk_departments")),
    )
    op.create_table(
        "directory_versions",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", central.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_directory_versions")),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("station_seq", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("hlc", sa.String(length=90), nullable=False),
        sa.Column("wall_time", central.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", central.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("message_ko", sa.String(length=500), nullable=True),
        sa.Column("message_en", sa.String(length=500), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_events_event_id")),
        sa.UniqueConstraint(
            "station_id", "station_seq", name=op.f("uq_events_station_id_station_seq")
        ),
    )
    op.create_table(
        "patients",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("registration_no", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("masked_name", sa.String(length=64), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("phone_last4", sa.String(length=4), nullable=True),
        sa.Column("created_at", central.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("patient_id", name=op.f("pk_patients")),
        sa.UniqueConstraint("registration_no", name=op.f("uq_patients_registration_no")),
    )
    op.create_table(
        "site_state",
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_site_state")),
    )
    op.create_table(
        "staff_users",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("(true)"), nullable=False),
        sa.Column("created_at", central.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", central.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_staff_users")),
        sa.UniqueConstraint("username", name=op.f("uq_staff_users_username")),
    )
    op.create_table(
        "stations",
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.JSON(), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("(true)"), nullable=False),
        sa.Column("acked_through", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_batch_at", central.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lease_version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", central.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("station_id", name=op.f("pk_stations")),
    )
    op.create_table(
        "cards",
        sa.Column("card_hash", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("(true)"), nullable=False),
        sa.Column("issued_at", central.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.patient_id"], name=op.f("fk_cards_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("card_hash", name=op.f("pk_cards")),
    )
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cards_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "rooms",
        sa.Column("room_id", sa.String(length=64), nullable=False),
        sa.Column("department_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.JSON(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("floor_label", sa.String(length=8), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=True),
        sa.Column("capacity", sa.Integer(), server_default="1", nullable=False),
        sa.Column("avg_service_s", sa.Integer(), nullable=False),
        sa.Column("open", sa.Boolean(), server_default=sa.text("(true)"), nullable=False),
        sa.Column("prep_notes", sa.JSON(), nullable=True),
        sa.Column("sort_order", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.department_id"],
            name=op.f("fk_rooms_department_id_departments"),
        ),
        sa.PrimaryKeyConstraint("room_id", name=op.f("pk_rooms")),
    )
    op.create_table(
        "visits",
        sa.Column("visit_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("service_day", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("current_step", sa.Integer(), server_default="0", nullable=False),
        sa.Column("priority", sa.Integer(), server_default="5", nullable=False),
        sa.Column("step_free", sa.Boolean(), server_default=sa.text("(false)"), nullable=False),
        sa.Column("external_ref", sa.String(length=128), nullable=True),
        sa.Column("created_at", central.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", central.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.patient_id"], name=op.f("fk_visits_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("visit_id", name=op.f("pk_visits")),
        sa.UniqueConstraint("external_ref", name=op.f("uq_visits_external_ref")),
    )
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_visits_patient_id_service_day"),
            ["patient_id", "service_day"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_visits_service_day_visit_id"), ["service_day", "visit_id"], unique=False
        )

    op.create_table(
        "queue_entries",
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("visit_id", sa.String(length=64), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.String(length=64), nullable=False),
        sa.Column("service_day", sa.Date(), nullable=False),
        sa.Column("ticket_number", sa.Integer(), nullable=False),
        sa.Column("lease_id", sa.String(length=64), nullable=True),
        sa.Column("station_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("sort_priority", sa.Integer(), nullable=False),
        sa.Column(
            "order_key",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "arrival_key",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("desk", sa.String(length=16), nullable=True),
        sa.Column("call_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("checked_in_at", central.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("called_at", central.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("started_at", central.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", central.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.room_id"], name=op.f("fk_queue_entries_room_id_rooms")
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.visit_id"], name=op.f("fk_queue_entries_visit_id_visits")
        ),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_queue_entries")),
        sa.UniqueConstraint(
            "room_id",
            "service_day",
            "ticket_number",
            name=op.f("uq_queue_entries_room_id_service_day_ticket_number"),
        ),
    )
    with op.batch_alter_table("queue_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_queue_next",
            ["room_id", "service_day", "state", "sort_priority", "order_key", "entry_id"],
            unique=False,
        )
        batch_op.create_index("ix_queue_visit", ["visit_id", "entry_id"], unique=False)
        batch_op.create_index(
            "uq_queue_one_active_per_visit",
            ["visit_id"],
            unique=True,
            sqlite_where=sa.text("state IN ('WAITING', 'ON_HOLD', 'CALLED', 'ONGOING')"),
            postgresql_where=sa.text("state IN ('WAITING', 'ON_HOLD', 'CALLED', 'ONGOING')"),
        )
        batch_op.create_index(
            "uq_queue_one_called_per_desk",
            ["room_id", "service_day", "desk"],
            unique=True,
            sqlite_where=sa.text("state = 'CALLED'"),
            postgresql_where=sa.text("state = 'CALLED'"),
        )

    op.create_table(
        "room_days",
        sa.Column("room_id", sa.String(length=64), nullable=False),
        sa.Column("service_day", sa.Date(), nullable=False),
        sa.Column(
            "next_free",
            sa.Integer(),
            nullable=False,
            comment="First ticket number not yet in a block",
        ),
        sa.Column(
            "central_next",
            sa.Integer(),
            nullable=False,
            comment="Next number of central's own block",
        ),
        sa.Column(
            "central_last", sa.Integer(), nullable=False, comment="Last number of central's block"
        ),
        sa.Column("served", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.room_id"], name=op.f("fk_room_days_room_id_rooms")
        ),
        sa.PrimaryKeyConstraint("room_id", "service_day", name=op.f("pk_room_days")),
    )
    op.create_table(
        "room_versions",
        sa.Column("room_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", central.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.room_id"], name=op.f("fk_room_versions_room_id_rooms")
        ),
        sa.PrimaryKeyConstraint("room_id", name=op.f("pk_room_versions")),
    )
    op.create_table(
        "ticket_leases",
        sa.Column("lease_id", sa.String(length=64), nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("room_id", sa.String(length=64), nullable=False),
        sa.Column("service_day", sa.Date(), nullable=False),
        sa.Column("first", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.Column("used_max", sa.Integer(), server_default="0", nullable=False),
        sa.Column("issued_at", central.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.room_id"], name=op.f("fk_ticket_leases_room_id_rooms")
        ),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["stations.station_id"],
            name=op.f("fk_ticket_leases_station_id_stations"),
        ),
        sa.PrimaryKeyConstraint("lease_id", name=op.f("pk_ticket_leases")),
        sa.UniqueConstraint(
            "room_id",
            "service_day",
            "first",
            name=op.f("uq_ticket_leases_room_id_service_day_first"),
        ),
    )
    with op.batch_alter_table("ticket_leases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_lease_station_day", ["station_id", "service_day", "room_id"], unique=False
        )

    op.create_table(
        "visit_steps",
        sa.Column("visit_id", sa.String(length=64), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.String(length=64), nullable=False),
        sa.Column("planned_room_id", sa.String(length=64), nullable=False),
        sa.Column("label", sa.JSON(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("done", sa.Boolean(), server_default=sa.text("(false)"), nullable=False),
        sa.Column("done_at", central.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["planned_room_id"],
            ["rooms.room_id"],
            name=op.f("fk_visit_steps_planned_room_id_rooms"),
        ),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.room_id"], name=op.f("fk_visit_steps_room_id_rooms")
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.visit_id"], name=op.f("fk_visit_steps_visit_id_visits")
        ),
        sa.PrimaryKeyConstraint("visit_id", "step_index", name=op.f("pk_visit_steps")),
    )


def downgrade() -> None:
    op.drop_table("visit_steps")
    with op.batch_alter_table("ticket_leases", schema=None) as batch_op:
        batch_op.drop_index("ix_lease_station_day")

    op.drop_table("ticket_leases")
    op.drop_table("room_versions")
    op.drop_table("room_days")
    with op.batch_alter_table("queue_entries", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_queue_one_called_per_desk",
            sqlite_where=sa.text("state = 'CALLED'"),
            postgresql_where=sa.text("state = 'CALLED'"),
        )
        batch_op.drop_index(
            "uq_queue_one_active_per_visit",
            sqlite_where=sa.text("state IN ('WAITING', 'ON_HOLD', 'CALLED', 'ONGOING')"),
            postgresql_where=sa.text("state IN ('WAITING', 'ON_HOLD', 'CALLED', 'ONGOING')"),
        )
        batch_op.drop_index("ix_queue_visit")
        batch_op.drop_index("ix_queue_next")

    op.drop_table("queue_entries")
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visits_service_day_visit_id"))
        batch_op.drop_index(batch_op.f("ix_visits_patient_id_service_day"))

    op.drop_table("visits")
    op.drop_table("rooms")
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cards_patient_id"))

    op.drop_table("cards")
    op.drop_table("stations")
    op.drop_table("staff_users")
    op.drop_table("site_state")
    op.drop_table("patients")
    op.drop_table("events")
    op.drop_table("directory_versions")
    op.drop_table("departments")
    op.drop_table("dead_letters")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_visit")
        batch_op.drop_index("ix_audit_room")

    op.drop_table("audit_log")
