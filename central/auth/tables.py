"""Auth tables (SQLAlchemy Core); migration 0002_auth creates them.

They live on their own MetaData (same naming convention as central.store.schema) so that
central.store does not depend on central.auth; the schema-match check compares both.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, MetaData, PrimaryKeyConstraint, String, Table

from central.store.schema import NAMING, UTCDateTime

auth_metadata = MetaData(naming_convention=NAMING)

token_families = Table(
    "auth_token_families",
    auth_metadata,
    Column("family_id", String(36), primary_key=True),
    Column("subject", String(64), nullable=False, index=True),
    Column("role", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("revoked_reason", String(32), nullable=True),
)

refresh_tokens = Table(
    "auth_refresh_tokens",
    auth_metadata,
    Column("token_hash", String(64), primary_key=True),
    Column(
        "family_id",
        String(36),
        ForeignKey("auth_token_families.family_id"),
        nullable=False,
        index=True,
    ),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
)

revoked_jti = Table(
    "auth_revoked_jti",
    auth_metadata,
    Column("jti", String(36), primary_key=True),
    Column("revoked_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("reason", String(32), nullable=False),
)

subject_revocations = Table(
    "auth_subject_revocations",
    auth_metadata,
    Column("subject", String(64), primary_key=True),
    Column("revoked_before", UTCDateTime, nullable=False),
)

login_throttle = Table(
    "auth_login_throttle",
    auth_metadata,
    Column("scope", String(16), nullable=False),
    Column("key", String(128), nullable=False),
    Column("failures", Integer, nullable=False),
    Column("window_start", UTCDateTime, nullable=False),
    Column("last_failure_at", UTCDateTime, nullable=False),
    Column("locked_until", UTCDateTime, nullable=True),
    PrimaryKeyConstraint("scope", "key"),
)
