"""A PostgreSQL database created and dropped around a test session.

Uses NFCH_TEST_PG_URL (a server URL, default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import os
import uuid

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def server_url() -> str:
    return os.environ.get("NFCH_TEST_PG_URL", DEFAULT_SERVER_URL)


def server_problem() -> str | None:
    """None when a PostgreSQL server answers, else why not (for a clear skip reason)."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect(server_url(), connect_timeout=3) as conn:
            conn.execute("select 1")
    except Exception as e:
        return f"no PostgreSQL server at {server_url()}: {e}"
    return None


class TempDatabase:
    """CREATE DATABASE on enter, DROP DATABASE (forcing out connections) on close."""

    def __init__(self) -> None:
        import psycopg

        self.name = f"nfch_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(server_url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        base = server_url().rsplit("/", 1)[0]
        self.url = f"{base}/{self.name}"
        self.sqlalchemy_url = self.url.replace("postgresql://", "postgresql+psycopg://", 1)

    def close(self) -> None:
        import psycopg

        with psycopg.connect(server_url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
