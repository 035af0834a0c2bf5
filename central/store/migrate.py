"""Run the packaged Alembic migrations programmatically (no alembic.ini needed).

Several central workers may start at once against one PostgreSQL database: the upgrade runs
under a transaction-scoped advisory lock, so one migrates and the others find it done.
"""

from __future__ import annotations

import contextlib
from importlib import import_module
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_PG_LOCK_KEY = 0x6E666368  # "nfch"


# Other parts of central keep their tables in their own MetaData but migrate through this one
# Alembic history; autogenerate must see them or it would propose dropping them.
OTHER_METADATA = (
    ("central.auth.tables", "auth_metadata"),
    ("central.enrolment", "enrolment_metadata"),
    ("central.wayfinding.closures", "closures_metadata"),
)


def all_metadata() -> list[MetaData]:
    """Every MetaData whose tables live in central's database."""
    from central.store.schema import metadata

    found = [metadata]
    for module, name in OTHER_METADATA:
        with contextlib.suppress(ImportError, AttributeError):
            found.append(getattr(import_module(module), name))
    return found


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations, bound to `connection`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest revision shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database behind `engine` to `revision`."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        command.upgrade(alembic_config(conn), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrade the database behind `engine` to `revision` (tests and emergencies)."""
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, None when it was never migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
