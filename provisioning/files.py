"""Idempotent file writes: compare before writing, atomic replace, an exact mode.

Every write reports `created`, `updated` or `unchanged`, so a second run of provisioning
shows that it changed nothing; with `dry_run` nothing is written and the report says what
would have been.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Change = Literal["created", "updated", "unchanged", "removed", "absent"]


@dataclass(frozen=True, slots=True)
class FileChange:
    """What happened (or would happen, in a dry run) to one file."""

    path: Path
    change: Change

    def line(self, dry_run: bool = False) -> str:
        """One report line: `  updated    /etc/nfc-hospital/station.toml`."""
        verb = f"would be {self.change}" if dry_run and self.change != "unchanged" else self.change
        return f"  {verb:<18} {self.path}"


def put(
    path: Path,
    content: bytes,
    mode: int = 0o600,
    *,
    owner: tuple[int, int] | None = None,
    dry_run: bool = False,
) -> FileChange:
    """Make `path` hold exactly `content` with `mode` (and `owner` uid/gid when given)."""
    try:
        st = path.stat()
        same = path.read_bytes() == content and (st.st_mode & 0o7777) == mode
        if same and owner is not None:
            same = (st.st_uid, st.st_gid) == owner
        if same:
            return FileChange(path, "unchanged")
        change: Change = "updated"
    except FileNotFoundError:
        change = "created"
    if dry_run:
        return FileChange(path, change)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    # Created 0600 so a secret is never readable by others, even for a moment.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        if owner is not None:
            os.chown(tmp, *owner)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return FileChange(path, change)


def wipe(path: Path, *, dry_run: bool = False) -> FileChange:
    """Overwrite a secret file with zeros, then delete it."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return FileChange(path, "absent")
    if not dry_run:
        # Best effort on flash storage (wear levelling may keep old blocks), but it keeps the
        # secret out of the file system's free blocks on the common case.
        with path.open("r+b") as f:
            f.write(b"\0" * size)
            f.flush()
            os.fsync(f.fileno())
        path.unlink()
    return FileChange(path, "removed")
