"""Per-day analytics summaries of closed service days (central/web/analytics.py): a row per
day with the audit row it was computed through, and per room and hour the counts and every
wait and service time (microseconds, sorted little-endian int64).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import central.store.schema

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TS = central.store.schema.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "analytics_days",
        sa.Column("service_day", sa.Date(), nullable=False),
        sa.Column("through_audit_id", sa.BigInteger(), nullable=False),
        sa.Column("last_at", _TS, nullable=True),
        sa.Column("computed_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("service_day", name=op.f("pk_analytics_days")),
    )
    op.create_table(
        "analytics_room_hours",
        sa.Column("service_day", sa.Date(), nullable=False),
        sa.Column("room_id", sa.String(length=64), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.Column("no_shows", sa.Integer(), nullable=False),
        sa.Column("waits_us", sa.LargeBinary(), nullable=False),
        sa.Column("services_us", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_day"],
            ["analytics_days.service_day"],
            name=op.f("fk_analytics_room_hours_service_day_analytics_days"),
        ),
        sa.PrimaryKeyConstraint(
            "service_day", "room_id", "hour", name=op.f("pk_analytics_room_hours")
        ),
    )


def downgrade() -> None:
    op.drop_table("analytics_room_hours")
    op.drop_table("analytics_days")
