"""Enrolment codes and their exchange over a real SQLite database and the aiohttp routes."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from central import broker_config
from central.broker_config import verify_mosquitto_hash
from central.clock import FakeClock
from central.enrolment import (
    CodeInvalid,
    EnrolmentService,
    EnrolmentSettings,
    StationUnknown,
    broker_users,
    build_enrolment_app,
    code_hash,
    main,
    new_code,
)
from central.store.db import Database
from protocol.enrolment import CODE_PATTERN, EnrolRequest, LeaveRequest, normalize_code

KEY = b"0123456789abcdef0123456789abcdef"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    d = Database(str(tmp_path / "central.db"))
    d.migrate()
    yield d
    d.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 27, 9, 0, tzinfo=UTC))


@pytest.fixture
def service(db: Database, clock: FakeClock) -> EnrolmentService:
    settings = EnrolmentSettings(broker_host="mqtt.local", broker_port=1883, code_ttl_s=600)
    return EnrolmentService(db, settings, site_key=KEY, clock=clock)


def test_codes_are_typable_and_normalised() -> None:
    for _ in range(50):
        assert re.match(CODE_PATTERN, new_code())
    assert normalize_code(" abcd efgh-jkmn ") == "ABCD-EFGH-JKMN"
    assert code_hash("abcd-efgh-jkmn") == code_hash("ABCDEFGHJKMN")


def test_a_code_enrols_once_and_stores_only_hashes(service: EnrolmentService, db: Database) -> None:
    issued = service.create_code("1층 접수", "lobby", name_en="Lobby")
    assert issued.station_id == "st-lobby-1"
    assert service.create_code("x", "lobby").station_id == "st-lobby-2"
    got = service.exchange(EnrolRequest(code=issued.code, hostname="pi-1"))
    assert got.station_id == "st-lobby-1"
    assert got.name.ko == "1층 접수"
    assert got.location_node == "lobby"
    assert got.mqtt.username == "st-lobby-1"
    assert got.mqtt.host == "mqtt.local"
    assert bytes.fromhex(got.site_key_hex) == KEY
    [user] = broker_users(db)
    assert user.username == "st-lobby-1"
    assert verify_mosquitto_hash(got.mqtt.password, user.password_hash)
    with db.read() as conn:
        dump = "\n".join(str(r) for r in conn.exec_driver_sql("SELECT * FROM enrolment_codes"))
        station = conn.exec_driver_sql(
            "SELECT enabled, node_id FROM stations WHERE station_id='st-lobby-1'"
        ).one()
    assert issued.code not in dump
    assert got.mqtt.password not in dump
    assert tuple(station) == (1, "lobby")
    with pytest.raises(CodeInvalid, match="the code is used"):
        service.exchange(EnrolRequest(code=issued.code))


def test_an_expired_or_unknown_code_is_refused(
    service: EnrolmentService, clock: FakeClock, db: Database
) -> None:
    issued = service.create_code("A", "a")
    clock.advance(seconds=601)
    with pytest.raises(CodeInvalid, match="the code is expired"):
        service.exchange(EnrolRequest(code=issued.code))
    with pytest.raises(CodeInvalid, match="the code is unknown"):
        service.exchange(EnrolRequest(code="AAAA-BBBB-CCCC"))
    assert broker_users(db) == []


def test_two_pis_racing_with_one_code_get_one_enrolment(service: EnrolmentService) -> None:
    issued = service.create_code("A", "a")
    results: list[object] = []
    barrier = threading.Barrier(4)

    def race() -> None:
        barrier.wait()
        try:
            results.append(service.exchange(EnrolRequest(code=issued.code)))
        except CodeInvalid as e:
            results.append(e)

    threads = [threading.Thread(target=race) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 4
    assert sum(not isinstance(r, CodeInvalid) for r in results) == 1


def test_re_enrolment_replaces_the_password_and_revoke_leave(
    service: EnrolmentService, db: Database
) -> None:
    first = service.exchange(EnrolRequest(code=service.create_code("A", "a").code))
    again = service.create_code("A2", "a", station_id=first.station_id)
    second = service.exchange(EnrolRequest(code=again.code))
    assert second.station_id == first.station_id
    [user] = broker_users(db)
    assert not verify_mosquitto_hash(first.mqtt.password, user.password_hash)
    with pytest.raises(CodeInvalid):
        service.leave(LeaveRequest(station_id=first.station_id, password=first.mqtt.password))
    service.leave(LeaveRequest(station_id=first.station_id, password=second.mqtt.password))
    assert broker_users(db) == []
    with pytest.raises(StationUnknown):
        service.revoke("st-nobody")


async def test_http_routes_answer_in_the_api_error_format(service: EnrolmentService) -> None:
    async with TestClient(TestServer(build_enrolment_app(service))) as client:
        r = await client.post(
            "/api/v1/stations/enrolment-codes", json={"name": "접수", "location": "lobby"}
        )
        assert r.status == 200
        code = (await r.json())["code"]
        r = await client.post("/api/v1/enrol", json={"code": code.lower()})
        assert r.status == 200
        body = await r.json()
        assert body["station_id"] == "st-lobby-1"
        r = await client.post("/api/v1/enrol", json={"code": code})
        assert r.status == 403
        err = (await r.json())["error"]
        assert err["reason"] == "enrolment_code_invalid"
        assert err["where"] == "body.code"
        r = await client.post("/api/v1/enrol", json={"code": "not a code"})
        assert r.status == 422
        assert (await r.json())["error"]["where"] == "body.code"
        r = await client.post("/api/v1/stations/st-lobby-1/revoke")
        assert r.status == 200
        r = await client.post("/api/v1/stations/st-none/revoke")
        assert r.status == 404


def test_admin_command_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = str(tmp_path / "c.db")
    assert main(["--database", url, "enrol", "--name", "접수", "--location", "lobby"]) == 0
    out = capsys.readouterr().out
    assert "station:  st-lobby-1" in out
    code = out.split("code:")[1].split()[0]
    db = Database(url)
    svc = EnrolmentService(db, EnrolmentSettings(broker_host="h"), site_key=KEY)
    svc.exchange(EnrolRequest(code=code))
    db.dispose()
    assert main(["--database", url, "list"]) == 0
    assert "st-lobby-1\tissued" in capsys.readouterr().out
    pw = tmp_path / "central.pw"
    rc = broker_config.main(
        [str(tmp_path / "broker"), "--database", url, "--central-password-file", str(pw)]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "1 station(s) allowed" in out
    assert "reload Mosquitto" in out
    assert "user st-lobby-1" in (tmp_path / "broker" / "acl").read_text()
    assert main(["--database", url, "revoke", "st-lobby-1"]) == 0
    assert "revoked st-lobby-1" in capsys.readouterr().out
    assert main(["--database", url, "revoke", "st-lobby-1x"]) == 2
    assert "No enrolled station" in capsys.readouterr().err


def test_admin_commands_read_central_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "central.toml"
    db_url = f"sqlite:///{tmp_path / 'c.db'}"
    conf.write_text(f'[database]\nurl = "{db_url}"\n[mqtt]\ntopic_root = "hosp"\n')
    assert main(["--config", str(conf), "enrol", "--name", "접수", "--location", "lobby"]) == 0
    code = capsys.readouterr().out.split("code:")[1].split()[0]
    db = Database(db_url)
    EnrolmentService(db, EnrolmentSettings(broker_host="h"), site_key=KEY).exchange(
        EnrolRequest(code=code)
    )
    db.dispose()
    pw = tmp_path / "central.pw"
    out_dir = tmp_path / "broker"
    argv = [str(out_dir), "--config", str(conf), "--central-password-file", str(pw)]
    assert broker_config.main(argv) == 0
    assert "topic write hosp/v1/station/st-lobby-1/events" in (out_dir / "acl").read_text()
    assert broker_config.main(argv) == 0
    assert "acl: unchanged" in capsys.readouterr().out


async def test_routes_fit_the_api_registry_roles_and_openapi(service: EnrolmentService) -> None:
    """What the API's route registry will do with these routes: OpenAPI and the role check."""
    from aiohttp import web

    from central.api.errors import Forbidden, error_middleware
    from central.api.registry import Registry, Route, auth_middleware
    from central.enrolment import SERVICE_KEY, enrolment_routes

    registry = Registry("/api/v1")
    enrolment_routes(registry)
    doc = registry.openapi(title="t", version="1")
    assert doc["paths"]["/api/v1/enrol"]["post"].get("x-roles") is None
    roles = doc["paths"]["/api/v1/stations/enrolment-codes"]["post"]["x-roles"]
    assert roles == ["admin", "technician"]
    assert "/api/v1/stations/{station_id}/revoke" in doc["paths"]

    async def nobody(request: web.Request, route: Route) -> None:
        raise Forbidden("test", "")

    app = web.Application(middlewares=[error_middleware, auth_middleware(nobody)])
    app[SERVICE_KEY] = service
    registry.install(app, 64 * 1024)
    issued = service.create_code("A", "a")
    async with TestClient(TestServer(app)) as client:
        r = await client.post("/api/v1/stations/enrolment-codes", json={"name": "x"})
        assert r.status == 403
        r = await client.post("/api/v1/stations/st-a-1/revoke")
        assert r.status == 403
        r = await client.post("/api/v1/enrol", json={"code": issued.code})
        assert r.status == 200


async def test_a_broken_broker_folder_does_not_fail_an_enrolment(
    db: Database, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    settings = EnrolmentSettings(
        broker_host="h",
        broker_dir=blocker / "broker",  # cannot be created: its parent is a file
        central_password_file=tmp_path / "central.pw",
    )
    service = EnrolmentService(db, settings, site_key=KEY)
    issued = service.create_code("A", "a")
    async with TestClient(TestServer(build_enrolment_app(service))) as client:
        r = await client.post("/api/v1/enrol", json={"code": issued.code})
        assert r.status == 200
        r = await client.post(f"/api/v1/stations/{issued.station_id}/revoke")
        assert r.status == 200
        assert "could not be rewritten" in (await r.json())["broker"]


def test_migration_0003_matches_the_enrolment_tables(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from central.enrolment import enrolment_metadata
    from central.store.migrate import downgrade

    def ours() -> list[object]:
        with db.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, enrolment_metadata)
        # Everything not ours shows up as "remove_*" (not in this MetaData): ignore it.
        return [d for d in diff if not (isinstance(d, tuple) and d[0].startswith("remove_"))]

    assert ours() == []
    downgrade(db.engine, "0002")
    assert sorted(d[0] for d in ours()) == ["add_index", "add_table", "add_table"]  # type: ignore[index]
    db.migrate()
    assert ours() == []
