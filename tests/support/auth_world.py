"""Auth under test: a migrated SQLite database, a fake clock and a fast argon2 setting."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from central.auth.config import AuthConfig
from central.auth.service import AuthService
from central.auth.tables import auth_metadata
from central.auth.tokens import derive_key
from central.clock import FakeClock
from central.store import Database
from central.store.schema import metadata

SITE_KEY = b"auth-test-site-key-0123456789abc"
START = datetime(2026, 11, 27, 0, 30, tzinfo=UTC)
# Cheap argon2 so a test suite can log in hundreds of times; one test checks the real cost.
FAST = {"password_time_cost": 1, "password_memory_kib": 64, "password_parallelism": 1}


def auth_config(**over: object) -> AuthConfig:
    return AuthConfig.model_validate({**FAST, **over})


def make_service(db: Database, clock: FakeClock, config: AuthConfig | None = None) -> AuthService:
    return AuthService(db, config or auth_config(), derive_key(SITE_KEY, "jwt"), clock=clock)


def migrated_db(tmp: Path) -> Database:
    db = Database(str(tmp / "auth.db"))
    db.migrate()
    return db


PG_SCHEMA = "central_auth_test"
_pg_ready: set[str] = set()


def pg_database(postgres_db: Any) -> Database:
    """A migrated schema of its own in the session's PostgreSQL database, emptied (central's
    tables and the auth tables) before each test."""
    url = f"{postgres_db.sqlalchemy_url}?options=-csearch_path%3D{PG_SCHEMA}"
    if postgres_db.name not in _pg_ready:
        admin = Database(postgres_db.sqlalchemy_url)
        with admin.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{PG_SCHEMA}"'))
        admin.dispose()
        fresh = Database(url)
        fresh.migrate()
        fresh.dispose()
        _pg_ready.add(postgres_db.name)
    db = Database(url)
    tables = [*metadata.sorted_tables, *auth_metadata.sorted_tables]
    names = ", ".join(f'"{t.name}"' for t in tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    return db
