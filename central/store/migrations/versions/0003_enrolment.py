"""Enrolment: one-time station enrolment codes (hashed) and station broker credentials
(central/enrolment.py mirrors these tables).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 18:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import central.store.schema

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TS = central.store.schema.UTCDateTime(timezone=True)


def upgrade() -> None:
    # Codes are stored as SHA-256 only; `used_at` set by one conditional UPDATE makes a code
    # single-use even when two Pis race with it.
    op.create_table(
        "enrolment_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.JSON(), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("used_at", _TS, nullable=True),
        sa.Column("used_by_host", sa.String(length=253), nullable=True),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_enrolment_codes")),
    )
    with op.batch_alter_table("enrolment_codes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_enrolment_codes_station_id"), ["station_id"], unique=False
        )

    # Mosquitto `$7$` hashes only; the broker's password file is rewritten from these rows.
    op.create_table(
        "station_credentials",
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("issued_at", _TS, nullable=False),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("station_id", name=op.f("pk_station_credentials")),
    )


def downgrade() -> None:
    op.drop_table("station_credentials")
    with op.batch_alter_table("enrolment_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enrolment_codes_station_id"))
    op.drop_table("enrolment_codes")
