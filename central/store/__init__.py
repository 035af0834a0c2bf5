"""Central storage: SQLAlchemy Core tables and Alembic migrations for SQLite and PostgreSQL."""

from central.store.db import Database

__all__ = ["Database"]
