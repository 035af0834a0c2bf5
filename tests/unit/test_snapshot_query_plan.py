"""The room snapshot's rows query reads `ix_queue_next` in order on SQLite (issue #13).

The build writes each row out as it arrives, WAITING rows in call order; on SQLite that order
comes straight from the index range (room, day, state, sort keys), with no sort of the room's
rows and no scan of other rooms.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from central.clock import FakeClock
from central.engine import reads
from central.store import Database
from tests.support.central_db import (  # noqa: F401
    DAY,
    START,
    make_engine,
    small_hospital,
    sqlite_template,
)


def test_sqlite_snapshot_rows_come_from_the_queue_index_in_order(
    tmp_path: Path,
    sqlite_template: Path,  # noqa: F811
) -> None:
    path = tmp_path / "central.db"
    shutil.copy(sqlite_template, path)
    db = Database(str(path))
    try:
        engine = make_engine(db, FakeClock(START))
        engine.load(small_hospital({f"v{i}": [("r1", "r2")[i % 2]] for i in range(40)}))
        for i in range(40):
            engine.check_in(f"v{i}", actor="nurse")
        compiled = reads._ROWS.params(b_room="r1", b_day=DAY).compile(
            db.engine, compile_kwargs={"literal_binds": True}
        )
        with db.read() as conn:
            plan = " | ".join(
                str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
            )
        assert "USING INDEX ix_queue_next (room_id=? AND service_day=? AND state=?)" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
        assert "SCAN" not in plan, plan
        # and the rows it returns are r1's 20, in call order
        assert len(engine.room_snapshot("r1").waiting) == 20
    finally:
        db.dispose()
