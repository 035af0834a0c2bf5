"""Alembic environment for central's schema; run through `central.store.migrate`, which hands
us an open connection (no alembic.ini, no URL here)."""

from __future__ import annotations

from alembic import context

from central.store.migrate import all_metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run central migrations through central.store.migrate (Database.migrate)")

context.configure(
    connection=connection,
    target_metadata=all_metadata(),
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
