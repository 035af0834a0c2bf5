"""Runtime service-day settings and their audit trail (central/api/admin_routes.py), an
audit-log index for analytics of past days, and revoked enrolment codes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import central.store.schema

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TS = central.store.schema.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "service_settings",
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_service_settings")),
    )
    op.create_table(
        "service_settings_audit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("effective_day", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_settings_audit")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_day", ["service_day", "audit_id"], unique=False)
    with op.batch_alter_table("enrolment_codes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revoked_at", _TS, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("enrolment_codes", schema=None) as batch_op:
        batch_op.drop_column("revoked_at")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_day")
    op.drop_table("service_settings_audit")
    op.drop_table("service_settings")
