"""Auth: refresh-token families, revoked access-token ids, subject-wide revocations and login
throttling counters (central/auth/tables.py mirrors these tables).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import central.store.schema

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TS = central.store.schema.UTCDateTime(timezone=True)


def upgrade() -> None:
    # One row per login: every refresh token issued by rotation belongs to the family, and
    # revoking the family logs that login out everywhere.
    op.create_table(
        "auth_token_families",
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("last_used_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.Column("revoked_reason", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("family_id", name=op.f("pk_auth_token_families")),
    )
    with op.batch_alter_table("auth_token_families", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_auth_token_families_subject"), ["subject"], unique=False
        )

    # Refresh tokens are stored only as SHA-256 hashes; a token seen twice is a reuse.
    op.create_table(
        "auth_refresh_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("family_id", sa.String(length=36), nullable=False),
        sa.Column("issued_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("used_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["auth_token_families.family_id"],
            name=op.f("fk_auth_refresh_tokens_family_id_auth_token_families"),
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_auth_refresh_tokens")),
    )
    with op.batch_alter_table("auth_refresh_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_auth_refresh_tokens_family_id"), ["family_id"], unique=False
        )

    # Access tokens (JWT) revoked before they expire; rows can be pruned after expires_at.
    op.create_table(
        "auth_revoked_jti",
        sa.Column("jti", sa.String(length=36), nullable=False),
        sa.Column("revoked_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_auth_revoked_jti")),
    )

    # "Every token of this subject issued before T is void" (user disabled, password changed).
    op.create_table(
        "auth_subject_revocations",
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("revoked_before", _TS, nullable=False),
        sa.PrimaryKeyConstraint("subject", name=op.f("pk_auth_subject_revocations")),
    )

    # Failure counters for login throttling, keyed by scope ("acct", "acct_addr", "addr",
    # "phone_addr", "phone_global", ...) and a key within that scope.
    op.create_table(
        "auth_login_throttle",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", _TS, nullable=False),
        sa.Column("last_failure_at", _TS, nullable=False),
        sa.Column("locked_until", _TS, nullable=True),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_auth_login_throttle")),
    )


def downgrade() -> None:
    op.drop_table("auth_login_throttle")
    op.drop_table("auth_subject_revocations")
    op.drop_table("auth_revoked_jti")
    with op.batch_alter_table("auth_refresh_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_refresh_tokens_family_id"))
    op.drop_table("auth_refresh_tokens")
    with op.batch_alter_table("auth_token_families", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_token_families_subject"))
    op.drop_table("auth_token_families")
