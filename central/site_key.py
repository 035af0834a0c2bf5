"""The site key: the secret that turns card UIDs into keyed hashes (protocol.ids.card_hash)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from protocol.config import read_secret_file
from protocol.errors import ConfigError
from protocol.ids import format_site_key, parse_site_key

KEY_BYTES = 32


def load_site_key(path: Path, *, create: bool = True) -> bytes:
    """Read the key from `path` (hex text); create a random one (mode 0600) when missing.
    ConfigError when the file is unreadable, not a key, or open to other users.

    Every station and central must share this key, so a created key is printed nowhere:
    provisioning copies the file to stations.
    """
    if not path.exists() and create:
        key = secrets.token_bytes(KEY_BYTES)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(format_site_key(key))
        return key
    text = read_secret_file(path, "site.site_key_file")
    try:
        return parse_site_key(text, str(path))
    except ValueError as e:
        raise ConfigError(f"site.site_key_file: {e}") from None
