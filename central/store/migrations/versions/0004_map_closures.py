"""Map closures set through the API (central/wayfinding/closures.py mirrors this table).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 19:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import central.store.schema

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TS = central.store.schema.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "map_closures",
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.JSON(), nullable=False),
        sa.Column("until", _TS, nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_map_closures")),
    )


def downgrade() -> None:
    op.drop_table("map_closures")
