"""Migrations, imports and the admin commands against real SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from central.admin_cli import main as admin_main
from central.imports import ImportFileError, import_file
from central.seed import sample_hospital
from central.store import Database
from central.store.migrate import all_metadata, downgrade, head_revision
from central.store.schema import metadata
from protocol.journey import State
from tests.support.central_db import *  # noqa: F403
from tests.support.central_db import DAY

pytestmark = pytest.mark.integration
DATA = Path(__file__).parent.parent / "data"


def test_migrated_schema_matches_the_tables_exactly(central_db):
    assert central_db.current_revision() == head_revision()
    with central_db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, all_metadata())
    # other parts of central (auth ...) migrate through the same history; this test is about
    # the engine's tables
    ours = [d for d in diff if _table_of(d) in metadata.tables]
    assert ours == []


def _table_of(diff: object) -> str:
    first = diff[0] if isinstance(diff, list) else diff
    assert isinstance(first, tuple)
    kind, obj = first[0], first[1]
    if kind.endswith("_table"):
        return str(obj.name)
    if kind.endswith(("_index", "_constraint")):
        return str(obj.table.name)
    return str(first[2])


def test_migrations_go_down_and_up_again(tmp_path):
    db = Database(str(tmp_path / "m.db"))
    db.migrate()
    downgrade(db.engine, "base")
    assert db.current_revision() is None
    db.migrate()
    assert db.current_revision() == head_revision()
    db.dispose()


def test_postgres_url_without_driver_is_accepted(postgres_db):
    db = Database(postgres_db.url)
    assert db.dialect == "postgresql"
    assert db.engine.url.drivername == "postgresql+psycopg"
    db.dispose()


def test_in_memory_sqlite_is_refused():
    from central.store.errors import StorageError

    with pytest.raises(StorageError, match="file"):
        Database("sqlite:///:memory:")


def test_sample_hospital_loads_and_imports_apply_all_or_nothing(engine):
    engine.load(sample_hospital(DAY).data)
    report = import_file(engine, DATA / "appointments_good.csv")
    assert report.counts["visits"]["created"] == 4
    again = import_file(engine, DATA / "appointments_good.csv")
    assert again.counts["visits"] == {"created": 0, "updated": 0, "unchanged": 4}
    v = engine.visits(after=None, limit=1000)
    kim = next(x for x in v if x.registration_no == "H20000001")
    assert [s.room_id for s in kim.steps] == ["lab-1", "xray-1", "im-1"]
    assert kim.state is State.REGISTERED
    assert kim.priority == 3
    assert engine.visit_by_card("04A1B2C3D4E5F6").visit_id == kim.visit_id

    before = len(engine.visits(limit=1000))
    with pytest.raises(ImportFileError) as info:
        import_file(engine, DATA / "appointments_bad.csv")
    assert len(engine.visits(limit=1000)) == before
    assert "line 2, column birth_date" in str(info.value)

    fhir = import_file(engine, DATA / "appointments_bundle.json")
    assert fhir.counts["visits"]["created"] == 2
    mr = engine.visit_by_card("04B1B2C3D4E5F6")
    assert [s.room_id for s in mr.steps] == ["lab-1", "im-1"]
    assert mr.external_ref == "fhir:appt-1,appt-2"


def test_an_import_naming_an_unknown_room_changes_nothing(engine, tmp_path):
    engine.load(sample_hospital(DAY).data)
    path = tmp_path / "x.csv"
    path.write_text(
        "registration_no,name,steps\nH9,김민수,im-1\nH8,이서연,im-1;nowhere\n", encoding="utf-8"
    )
    with pytest.raises(ImportFileError) as info:
        import_file(engine, path)
    assert [str(p) for p in info.value.problems] == [
        "line 3, column steps: step 2: unknown room 'nowhere'"
    ]
    assert not [v for v in engine.visits(limit=1000) if v.registration_no in ("H8", "H9")]


def test_admin_seed_and_import_commands(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NFCH_CENTRAL__DATABASE__URL", f"sqlite:///{tmp_path / 'c.db'}")
    monkeypatch.setenv("NFCH_CENTRAL__SITE__SITE_KEY_FILE", str(tmp_path / "site.key"))
    cards = tmp_path / "cards.csv"
    assert admin_main(["seed", "--sample", "--cards-out", str(cards)]) == 0
    assert "visits: 200 new" in capsys.readouterr().out
    assert len(cards.read_text(encoding="utf-8").splitlines()) == 201
    assert (tmp_path / "site.key").stat().st_mode & 0o777 == 0o600
    assert admin_main(["seed", "--sample"]) == 0
    assert "visits: 0 new" in capsys.readouterr().out
    assert admin_main(["import", str(DATA / "appointments_bad.csv")]) == 1
    err = capsys.readouterr().err
    assert "nothing imported" in err
    assert "line 4, column priority" in err
    assert admin_main(["import", str(DATA / "appointments_bundle.json")]) == 0
    assert "visits: 2 new" in capsys.readouterr().out
    assert admin_main(["migrate"]) == 0
    assert head_revision() in capsys.readouterr().out
