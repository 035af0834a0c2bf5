"""Queue entries remember the room snapshot version they were last written for, so a room's
snapshot is updated from the rows written since the version a server already has instead of
being rebuilt from every waiting row (central/engine/reads.py, issue #13).

Rows written before this revision get 0: the first build after the upgrade reads them all.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 00:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("queue_entries") as batch:
        batch.add_column(
            sa.Column("room_version", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch.create_index(
            "ix_queue_delta", ["room_id", "service_day", "room_version"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("queue_entries") as batch:
        batch.drop_index("ix_queue_delta")
        batch.drop_column("room_version")
