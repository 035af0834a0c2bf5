"""The map installed by `nfc-hospital central map import FILE`.

The file is copied (atomically) to `map.json` in central's data folder (the SQLite
database's folder; with PostgreSQL, the folder of `site.site_key_file`) and its path is
recorded in `site_state` under `map_file`. A server whose `site.map_file` is unset serves
that map instead of the packaged sample; an explicit `site.map_file` always wins.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from sqlalchemy import Connection, select, update
from sqlalchemy.engine import make_url

from central.engine.leases import insert_ignore
from central.store.db import Database
from central.store.schema import site_state
from central.wayfinding.errors import WayfindingError
from central.wayfinding.loader import load_map

STATE_KEY = "map_file"
INSTALLED_NAME = "map.json"
_MAX_PATH = 200  # site_state.value


def data_dir(db: Database, site_key_file: Path) -> Path:
    """Central's data folder: next to the SQLite file, else next to the site key."""
    if db.is_sqlite:
        name = make_url(db.url).database
        assert name is not None
        return Path(name).resolve().parent
    return site_key_file.resolve().parent


def installed_map_path(db: Database) -> Path | None:
    """The imported map's path, or None when no map was imported."""
    with db.read() as conn:
        value = conn.execute(select(site_state.c.value).where(site_state.c.key == STATE_KEY))
        found = value.scalar()
    return Path(found) if found else None


def install_map(db: Database, source: Path, folder: Path) -> Path:
    """Validate `source` (MapFileError listing every problem: nothing changes then), copy it
    atomically to `folder/map.json` and record that path. Returns the installed path."""
    load_map(source)
    folder.mkdir(parents=True, exist_ok=True)
    target = (folder / INSTALLED_NAME).resolve()
    if len(str(target)) > _MAX_PATH:
        raise WayfindingError(f"{target}: the path is longer than {_MAX_PATH} characters")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".map-", suffix=".json")
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            shutil.copyfileobj(src, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)  # a running server never reads half a file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

    def record(conn: Connection) -> None:
        insert_ignore(conn, site_state, {"key": STATE_KEY, "value": str(target)})
        conn.execute(
            update(site_state).where(site_state.c.key == STATE_KEY).values(value=str(target))
        )

    db.run_write(record)
    return target
