"""JSON Schema export of every message."""

from __future__ import annotations

import json
from pathlib import Path

from protocol.messages import ALL_MESSAGES


def export_schemas(directory: Path) -> list[Path]:
    """Write `<MessageName>.json` for every message into `directory`; returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for cls in ALL_MESSAGES:
        path = directory / f"{cls.__name__}.json"
        schema = cls.model_json_schema()
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written
