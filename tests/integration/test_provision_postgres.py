"""Enrolment codes on PostgreSQL: the one-time exchange holds under concurrent Pis."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from central.enrolment import CodeInvalid, EnrolmentService, EnrolmentSettings, broker_users
from central.store.db import Database
from protocol.enrolment import EnrolRequest

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

SCHEMA = "provision_test"
KEY = b"0123456789abcdef0123456789abcdef"


@pytest.fixture
def pg(postgres_db: Any) -> Iterator[Database]:
    admin = Database(postgres_db.sqlalchemy_url)
    with admin.engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
    db = Database(f"{postgres_db.sqlalchemy_url}?options=-csearch_path%3D{SCHEMA}")
    db.migrate()
    try:
        yield db
    finally:
        db.dispose()
        with admin.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        admin.dispose()


def _race(service: EnrolmentService, code: str, pis: int) -> list[object]:
    results: list[object] = []
    barrier = threading.Barrier(pis)

    def one() -> None:
        barrier.wait()
        try:
            results.append(service.exchange(EnrolRequest(code=code)))
        except CodeInvalid as e:
            results.append(e)

    threads = [threading.Thread(target=one) for _ in range(pis)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_eight_pis_racing_with_one_code_get_one_enrolment(pg: Database) -> None:
    service = EnrolmentService(pg, EnrolmentSettings(broker_host="h"), site_key=KEY)
    for _round in range(3):
        results = _race(service, service.create_code("A", "a").code, 8)
        assert len(results) == 8
        assert sum(not isinstance(r, CodeInvalid) for r in results) == 1
        assert all("used" in str(r) for r in results if isinstance(r, CodeInvalid))
    assert [u.username for u in broker_users(pg)] == ["st-a-1", "st-a-2", "st-a-3"]
