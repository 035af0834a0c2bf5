"""The OpenAPI document is generated from the route registry and the models, and complete.

openapi-spec-validator and jsonschema are not installed here, so the structure is checked
directly: every registered route with its method, parameters, body and response schemas, and
every `$ref` resolving inside the document.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from central.api.errors import ErrorBody
from central.api.routes import REGISTRY, openapi_document
from tests.support.api_client import api_client
from tests.support.central_harness import central_config, seeded_engine


def _refs(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                found.append(v)
            else:
                found += _refs(v)
    elif isinstance(node, list):
        for v in node:
            found += _refs(v)
    return found


def _schema_name(ref_holder: dict[str, Any]) -> str:
    ref = ref_holder["$ref"]
    assert ref.startswith("#/components/schemas/")
    return ref.rsplit("/", 1)[1]


def test_every_route_is_documented_with_its_schemas():
    doc = openapi_document()
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"]
    schemas = doc["components"]["schemas"]
    assert len(REGISTRY.routes) >= 25
    op_ids = []
    for route in REGISTRY.routes:
        op = doc["paths"][route.path][route.method.lower()]
        op_ids.append(op["operationId"])
        assert op["summary"] == route.summary
        ok = op["responses"]["200"]["content"]["application/json"]["schema"]
        assert _schema_name(ok) == route.response.__name__
        # Error statuses are listed one by one (no catch-all `default`), so a status the
        # route does not document is caught (tests/fault/test_openapi_fuzz.py).
        assert "default" not in op["responses"]
        errors = {code: r for code, r in op["responses"].items() if code != "200"}
        assert {"422", "503"} <= set(errors)
        if route.roles:
            assert {"401", "403"} <= set(errors)
        for code in route.errors:
            assert str(code) in errors
        for err in errors.values():
            schema = err["content"]["application/json"]["schema"]
            assert _schema_name(schema) == ErrorBody.__name__
        path_params = {p["name"] for p in op["parameters"] if p["in"] == "path"}
        assert path_params == set(route.path_params)
        if route.body is not None:
            body = op["requestBody"]["content"]["application/json"]["schema"]
            assert _schema_name(body) == route.body.__name__
            props = schemas[route.body.__name__]["properties"]
            assert set(props) == set(route.body.model_fields)
            assert schemas[route.body.__name__]["additionalProperties"] is False
        else:
            assert "requestBody" not in op
        if route.query is not None:
            query = {p["name"] for p in op["parameters"] if p["in"] == "query"}
            assert query == set(route.query.model_fields)
        if route.roles:
            assert op["x-roles"] == list(route.roles)
    assert len(op_ids) == len(set(op_ids)), "operationIds must be unique"
    for ref in _refs(doc):
        assert ref.rsplit("/", 1)[1] in schemas, ref
    # Every schema is a JSON object schema pydantic generated, with descriptions on fields.
    for name, schema in schemas.items():
        assert "type" in schema or "enum" in schema or "anyOf" in schema, name
    json.dumps(doc)  # serialisable as is


@pytest.fixture
def seeded(tmp_path):
    config = central_config(tmp_path, 1883, "unused")
    engine, sample = seeded_engine(config, patients=5)
    yield engine, sample
    engine.close()


async def test_served_document_is_the_generated_one(seeded):
    engine, sample = seeded
    async with api_client(engine, sample) as w:
        resp = await w.client.get("/api/v1/openapi.json")
        assert resp.status == 200
        assert await resp.json() == json.loads(json.dumps(openapi_document()))
