"""docs/api.md lists every route of the registry (the OpenAPI document is the reference)."""

from __future__ import annotations

from pathlib import Path

from central.api.routes import REGISTRY

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_every_registered_route_is_in_the_docs_table():
    text = DOC.read_text(encoding="utf-8")
    rows = {
        tuple(cell.strip().strip("`") for cell in line.strip("|").split("|")[:2])
        for line in text.splitlines()
        if line.startswith("| `")
    }
    routes = {(r.method, r.path) for r in REGISTRY.routes}
    assert routes <= rows, sorted(routes - rows)
    assert rows <= routes, sorted(rows - routes)
