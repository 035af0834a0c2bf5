"""Shared fixtures: private Mosquitto brokers, SQLite files, a PostgreSQL database, topics."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Qt must know before any QApplication exists that there is no screen.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from protocol.topics import Topics
from tests.support.mosquitto import MosquittoBroker
from tests.support.postgres import TempDatabase, server_problem


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A private Mosquitto on a free port for this test; kill()/stop()/restart() it at will."""
    b = MosquittoBroker(tmp_path / "mosquitto")
    b.start()
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def topic_root() -> str:
    """A topic root no other test uses."""
    return f"t{uuid.uuid4().hex[:10]}/nfch"


@pytest.fixture
def topics(topic_root: str) -> Topics:
    return Topics(topic_root)


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    """A path for a fresh SQLite database file (not yet created)."""
    return tmp_path / "test.db"


@pytest.fixture(scope="session")
def postgres_db() -> Iterator[TempDatabase]:
    """A PostgreSQL database for this test session, dropped at the end."""
    problem = server_problem()
    if problem:
        if os.environ.get("NFCH_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required (NFCH_REQUIRE_POSTGRES=1): {problem}")
        pytest.skip(problem)
    db = TempDatabase()
    try:
        yield db
    finally:
        db.close()
