"""The whole path a technician sets up: central with the sample hospital on a broker that
only knows enrolled stations, a Pi provisioned with a one-time code, the edge daemon started
from the written config, a simulated card tapped, the check-in seen at central."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

import pytest
from aiohttp import web

from central.broker_config import central_user_from_file, render_auth_config, write_broker_config
from central.enrolment import EnrolmentService, EnrolmentSettings, build_enrolment_app
from tests.integration.test_provision_e2e import SITE_KEY, run_cli
from tests.support.central_harness import central_config, running_central, seeded_engine
from tests.support.mosquitto import MosquittoBroker
from tests.support.ports import free_port, wait_for_port

pytestmark = pytest.mark.integration


async def test_provisioned_station_checks_a_patient_in_at_central(
    tmp_path: Path, topic_root: str
) -> None:
    broker_dir = tmp_path / "broker-etc"
    central_pw = tmp_path / "central-mqtt.password"
    central_user, _ = central_user_from_file(central_pw)
    write_broker_config(broker_dir, [], central_user, topic_root=topic_root)
    broker = MosquittoBroker(tmp_path / "mosquitto", extra_config=render_auth_config(broker_dir))
    broker.start()
    pid_file = tmp_path / "mosquitto.pid"
    pid_file.write_text(f"{broker.pid}\n")

    # Central's site key file (hex text) is what provisioning copies to the station.
    (tmp_path / "site.key").write_text(SITE_KEY.hex() + "\n")
    (tmp_path / "site.key").chmod(0o600)
    base = central_config(tmp_path, broker.port, topic_root)
    config = base.model_copy(
        update={
            "mqtt": base.mqtt.model_copy(
                update={"username": "central", "password_file": central_pw}
            )
        }
    )
    engine, sample = seeded_engine(config)
    assert engine.site_key == SITE_KEY
    service = EnrolmentService(
        engine.db,
        EnrolmentSettings(
            broker_host="127.0.0.1",
            broker_port=broker.port,
            topic_root=topic_root,
            broker_dir=broker_dir,
            broker_pid_file=pid_file,
            central_password_file=central_pw,
        ),
        site_key=engine.site_key,
    )
    runner = web.AppRunner(build_enrolment_app(service))
    await runner.setup()
    api_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", api_port).start()
    edge: asyncio.subprocess.Process | None = None
    edge_log = tmp_path / "edge.log"
    try:
        async with running_central(config, engine):
            issued = service.create_code("1층 접수", "lobby", name_en="Lobby")
            etc, root = tmp_path / "pi" / "etc", tmp_path / "pi" / "root"
            edge_port = free_port()
            rc, out = await run_cli(
                "provision", "--central", f"http://127.0.0.1:{api_port}", "--code", issued.code,
                "--config-dir", str(etc), "--root", str(root), "--data-dir", str(tmp_path / "var"),
                "--reader", "simulated", "--edge-http-port", str(edge_port), "--no-kiosk",
                "--yes",
            )  # fmt: skip
            assert rc == 0, out

            with edge_log.open("wb") as log:
                edge = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "nfc_hospital", "edge", "--config",
                    str(etc / "station.toml"), stdout=log, stderr=log,
                )  # fmt: skip
            await asyncio.to_thread(wait_for_port, edge_port, 20)

            visit_id = next(v for v in sample.visit_cards if engine.visit(v).queue_state is None)
            uid = sample.visit_cards[visit_id]

            async def checked_in() -> bool:
                return await asyncio.to_thread(lambda: engine.visit(visit_id).queue_state)

            # The daemon needs today's cards directory (retained) before it knows the card;
            # until then a tap is recorded as unknown, so tap until central sees the check-in.
            async with asyncio.timeout(30):
                while not await checked_in():
                    rc, tap = await run_cli(
                        "edge", "tap", uid, "--config", str(etc / "station.toml")
                    )
                    assert rc == 0, tap
                    for _ in range(20):
                        if await checked_in():
                            break
                        await asyncio.sleep(0.1)
            assert engine.visit(visit_id).queue_state == "WAITING"
            with sqlite3.connect(tmp_path / "central.db") as conn:
                stations = {r[0] for r in conn.execute("SELECT DISTINCT station_id FROM events")}
            assert stations == {issued.station_id}
            # No plaintext card UID in what the station wrote.
            for path in [*etc.iterdir(), edge_log]:
                assert uid.lower() not in path.read_bytes().decode(errors="replace").lower()
    finally:
        if edge is not None and edge.returncode is None:
            edge.terminate()
            await asyncio.wait_for(edge.wait(), 20)
        await runner.cleanup()
        broker.close()
