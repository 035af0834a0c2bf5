"""Auth under test: a migrated SQLite database, a fake clock and a fast argon2 setting."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from central.auth.config import AuthConfig
from central.auth.service import AuthService
from central.auth.tokens import derive_key
from central.clock import FakeClock
from central.store import Database

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
