"""schemathesis against the OpenAPI document central serves (issue #10, hostile input).

The real central runner (`running_central`: HTTP API, auth, pages, assistant, enrolment and
the MQTT bridge to a private Mosquitto; SQLite, the sample hospital) serves
`/api/v1/openapi.json`; the schemathesis command line loads it from there and sends every
operation generated valid and invalid requests with an admin's Bearer token (admin may call
every route, so the authenticated handlers run, not only the 401 in front of them). Checks:

- `not_a_server_error`: no 5xx answer at all;
- `status_code_conformance`: every status is listed for the operation (the document lists
  error statuses one by one, there is no catch-all `default`);
- `content_type_conformance`, `response_schema_conformance`: the 200 body is the documented
  model and every error body is the one error format;
- `negative_data_rejection`: a request that breaks the schema is refused with a 4xx.

The short run is in CI (`-m "not slow"`); the long one (`-m slow`) adds the stateful phase
and many more examples. Reproduce by hand against any running central:
`schemathesis run http://HOST:PORT/api/v1/openapi.json -H "Authorization: Bearer TOKEN"`.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from central.seed import SampleHospital
from tests.integration.test_central_wiring import add_admin, bearer, wired_config
from tests.support.central_harness import running_central, seeded_engine

pytestmark = [pytest.mark.fault, pytest.mark.integration]

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    ]
)
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


def write_settings(tmp_path: Path, sample: SampleHospital) -> Path:
    """A schemathesis.toml: real room, visit, station ids and card UIDs are used often (60 %
    of the time) so the handlers run the engine, not only the 404 for an unknown id."""
    pools = {
        "rooms": sorted(r.room_id for r in sample.data.rooms),
        "visits": sorted(sample.visit_cards),
        "stations": sorted(st.station_id for st in sample.data.stations),
        "cards": sorted(sample.visit_cards.values()),
    }
    bindings = {
        "path.room_id": "rooms",
        "path.visit_id": "visits",
        "path.station_id": "stations",
        "body.room_id": "rooms",
        "body.to_room_id": "rooms",
        "body.card_uid": "cards",
        "body.station_id": "stations",
        "body.visit_id": "visits",
        "query.room_id": "rooms",
        "query.visit_id": "visits",
        "query.station_id": "stations",
    }
    doc = {
        "dictionaries": {name: {"values": values} for name, values in pools.items()},
        "parameters": {
            key: {"dictionary": name, "probability": 0.6} for key, name in bindings.items()
        },
    }
    path = tmp_path / "schemathesis.toml"
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return path


async def schemathesis(
    tmp_path: Path,
    broker: Any,
    topic_root: str,
    *,
    max_examples: int,
    phases: str,
    limit_s: float,
) -> tuple[int, str]:
    if not SCHEMATHESIS.exists():
        pytest.skip(f"schemathesis is not installed next to {sys.executable} (the dev extra)")
    # The real runner (HTTP API, auth, pages, assistant, enrolment, MQTT bridge) on SQLite,
    # with the sample hospital; access tokens live 15 minutes (the longest allowed).
    config = wired_config(tmp_path, broker.port, topic_root, auth={"access_ttl_s": 900})
    engine, sample = await asyncio.to_thread(seeded_engine, config, 20)
    add_admin(config, engine)
    async with running_central(config, engine) as central:
        base = f"http://127.0.0.1:{central.http_port}"
        auth = (await bearer(base))["Authorization"]
        settings = write_settings(tmp_path, sample)
        cmd = [
            str(SCHEMATHESIS),
            "--config-file",
            str(settings),
            "run",
            f"{base}/api/v1/openapi.json",
            "--url",
            base,
            "--checks",
            CHECKS,
            "--header",
            f"Authorization: {auth}",
            "--phases",
            phases,
            "--max-examples",
            str(max_examples),
            "--seed",
            "10",
            "--workers",
            "1",
            "--request-timeout",
            "20",
            "--no-color",
            "--generation-database",
            "none",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path / "report"),
        ]
        env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
            env=env,
        )
        try:
            raw, _ = await asyncio.wait_for(proc.communicate(), limit_s)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
    out = raw.decode(errors="replace")
    print(out[-6000:])
    assert proc.returncode is not None
    return proc.returncode, out


def _assert_clean(code: int, out: str) -> None:
    assert code == 0, f"schemathesis found problems (exit {code}):\n{out[-12000:]}"
    # It really ran every operation (not an empty run that passes by doing nothing).
    from central.api.routes import REGISTRY

    assert f"Tested: {len(REGISTRY.routes)}" in out, out[-3000:]


async def test_every_operation_survives_schemathesis_short(
    tmp_path: Path, broker: Any, topic_root: str
) -> None:
    code, out = await schemathesis(
        tmp_path,
        broker,
        topic_root,
        max_examples=8,
        phases="examples,coverage,fuzzing",
        limit_s=150,
    )
    _assert_clean(code, out)


@pytest.mark.slow
async def test_every_operation_survives_schemathesis_long(
    tmp_path: Path, broker: Any, topic_root: str
) -> None:
    code, out = await schemathesis(
        tmp_path,
        broker,
        topic_root,
        max_examples=150,
        phases="examples,coverage,fuzzing,stateful",
        limit_s=1200,
    )
    _assert_clean(code, out)
