"""`nfc-hospital bench ws-fanout`: a room change reaching 500 WebSocket dashboard clients.

Issue #9. Target: p95 of commit -> frame received <= 250 ms over all deliveries.

- the server (this process): the central HTTP API composed as `central.app.Central` composes
  it (engine on a SQLite file, snapshot cache, change publisher task, WebSocket hub, the JWT
  role authorizer, the /auth routes and the WebSocket's token guard) on a real aiohttp
  server on 127.0.0.1, a free port; no MQTT bridge;
- the clients: `--procs` separate processes (their own interpreters and event loops, so they
  share neither the server's loop nor its GIL), `--clients` WebSocket connections in all,
  each subscribed to `room:big` with the access token of one staff login (Bearer header:
  the WebSocket guard wants a staff token with queue-read);
- the changes: `--changes` staff operations through the REST API as a logged-in nurse
  (Bearer token), cycling `POST /rooms/big/call-next`, `/visits/{id}/start`,
  `/visits/{id}/complete` (each changes the room's queue once), one at a time: after
  each, the server waits until the hub has published the room's next frame, then
  `--interval` seconds;
- the time of a change is its database commit (a SQLAlchemy `commit` hook on the server's
  engine: the last commit during the request), the time of a delivery is when a client's
  loop got the frame; both are `time.monotonic()`, one clock for all processes on Linux
  (CLOCK_MONOTONIC). Frames are matched to changes by the stream's `seq`.

    nfc-hospital bench ws-fanout [--clients 500] [--procs 2] [--changes 60] [--doc PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shlex
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector, WSMsgType, web
from sqlalchemy import event

from bench.queue_ops import PASSWORD, USER, authed_api_app
from central.api.ws import Hub
from central.app import open_engine
from central.auth.http import ACCESS_COOKIE
from central.config import CentralConfig, DatabaseSettings, SiteSettings
from central.engine import Engine
from central.engine.loader import DepartmentIn, HospitalData, PatientIn, RoomIn, StepIn, VisitIn
from protocol.base import LocalizedText

ROOM = "big"
STREAM = f"room:{ROOM}"
TARGET_P95_MS = 250.0


@dataclass(frozen=True, slots=True)
class Plan:
    """What one run does."""

    clients: int = 500
    procs: int = 2
    changes: int = 60
    interval_s: float = 0.2
    waiting: int = 20
    """Patients left waiting after the last call (the snapshot's size stays realistic)."""


@dataclass(frozen=True, slots=True)
class Result:
    """Latencies (ms) of every delivery, and what was expected."""

    latencies_ms: list[float]
    expected: int
    connect_s: float

    def pct(self, q: float) -> float:
        """The q-quantile (nearest rank) of the latencies."""
        v = sorted(self.latencies_ms)
        return v[min(len(v) - 1, max(0, round(q * (len(v) - 1))))]


# ------------------------------------------------------------------ the clients (other processes)
async def _clients(
    port: int, token: str, n: int, changes: int, ready: Any
) -> list[tuple[int, float]]:
    url = f"http://127.0.0.1:{port}/api/v1/ws"
    got: list[tuple[int, float]] = []
    auth = {"Authorization": f"Bearer {token}"}
    # No connection limit: each open WebSocket holds a connector slot (default limit 100).
    connector = TCPConnector(limit=0)
    async with ClientSession(connector=connector, timeout=ClientTimeout(total=None)) as http:
        sockets = []
        for _ in range(n):
            ws = await http.ws_connect(url, heartbeat=None, headers=auth)
            await ws.send_str(json.dumps({"op": "subscribe", "streams": {STREAM: None}}))
            sockets.append(ws)
        for ws in sockets:  # the reset frame: subscribed
            msg = await ws.receive(timeout=60)
            if msg.type != WSMsgType.TEXT or json.loads(msg.data)["type"] != "reset":
                raise RuntimeError(f"expected a reset frame, got {msg.type} {msg.data!r}")
        ready.put(n)

        async def listen(ws: Any) -> None:
            frames = 0
            while frames < changes:
                msg = await ws.receive()
                t = time.monotonic()  # before parsing: the frame is here
                if msg.type != WSMsgType.TEXT:
                    raise RuntimeError(f"connection ended after {frames} frames: {msg.type}")
                frame = json.loads(msg.data)
                if frame["type"] == "snapshot":
                    got.append((int(frame["seq"]), t))
                    frames += 1

        async with asyncio.TaskGroup() as tg:
            for i, ws in enumerate(sockets):
                tg.create_task(listen(ws), name=f"ws-client-{i}")
        for ws in sockets:
            await ws.close()
    return got


def _client_main(port: int, token: str, n: int, changes: int, ready: Any, out: Any) -> None:
    try:
        out.put(asyncio.run(asyncio.wait_for(_clients(port, token, n, changes, ready), 600)))
    except BaseException as e:  # reported to the parent, which raises it
        ready.put(-1)
        out.put(repr(e))


# ------------------------------------------------------------------ the server (this process)
def _hospital(day: Any, n: int) -> HospitalData:
    name = LocalizedText(ko="진료실", en="Consultation room")
    patients, visits = [], []
    for i in range(n):
        reg = f"W{i:05d}"
        patients.append(PatientIn(registration_no=reg, name="김민수"))
        visits.append(
            VisitIn(
                visit_id=f"v-{i:05d}",
                registration_no=reg,
                service_day=day,
                steps=[StepIn(room_id=ROOM, kind="consultation")],
            )
        )
    return HospitalData(
        departments=[DepartmentIn(department_id="dept", name=name)],
        rooms=[
            RoomIn(
                room_id=ROOM,
                department_id="dept",
                name=name,
                kind="consultation",
                floor_label="1F",
                avg_service_s=300,
                capacity=4,
            )
        ],
        patients=patients,
        visits=visits,
    )


def _setup(engine: Engine, n: int) -> None:
    engine.load(_hospital(engine.service_day(), n))
    for i in range(n):  # untimed: the engine's own check-in
        engine.check_in(f"v-{i:05d}", actor="bench-setup")


async def measure(plan: Plan, workdir: Path) -> Result:
    """Serve central, connect the client processes, make the changes; every latency."""
    config = CentralConfig(
        database=DatabaseSettings(url=f"sqlite:///{workdir / 'central.db'}"),
        site=SiteSettings(
            site_key_file=workdir / f"site-{uuid.uuid4().hex[:6]}.key",
            # the service day turns 12 hours from now, never during a run (it empties queues)
            timezone="UTC",
            day_starts_at=f"{(datetime.now(UTC).hour + 12) % 24:02d}:00",
        ),
    )
    engine = await asyncio.to_thread(open_engine, config)
    commits: list[float] = []

    def on_commit(*_args: Any) -> None:
        commits.append(time.monotonic())

    event.listen(engine.db.engine, "commit", on_commit)
    try:
        await asyncio.to_thread(_setup, engine, plan.changes + plan.waiting)
        app, publisher, hub = await authed_api_app(engine, config)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            async with asyncio.TaskGroup() as tg:
                pub = tg.create_task(publisher.run(), name="publisher")
                await publisher.mark_all()
                await publisher.flush(30)
                try:
                    return await _drive(plan, port, hub, commits)
                finally:
                    pub.cancel()
        finally:
            await runner.cleanup()
    finally:
        event.remove(engine.db.engine, "commit", on_commit)
        await asyncio.to_thread(engine.close)


async def _drive(plan: Plan, port: int, hub: Hub, commits: list[float]) -> Result:
    base = f"http://127.0.0.1:{port}"
    async with ClientSession() as http:
        # One staff login: the clients' WebSocket and the changes use its access token.
        async with http.post(
            f"{base}/auth/login",
            json={"username": USER, "password": PASSWORD},
            headers={"Origin": base},
        ) as resp:
            if resp.status != 200:
                raise RuntimeError(f"login answered {resp.status}: {await resp.text()}")
            token = resp.cookies[ACCESS_COOKIE].value
        mp = multiprocessing.get_context("spawn")
        ready, out = mp.Queue(), mp.Queue()
        q, rest = divmod(plan.clients, plan.procs)
        shares = [q + (i < rest) for i in range(plan.procs)]
        procs = [
            mp.Process(
                target=_client_main,
                args=(port, token, n, plan.changes, ready, out),
                name=f"ws-fanout-clients-{i}",
            )
            for i, n in enumerate(shares)
            if n
        ]
        started = time.monotonic()
        for p in procs:
            p.start()
        try:
            for _ in procs:
                if await asyncio.to_thread(ready.get, True, 300) < 0:
                    failure = await asyncio.to_thread(out.get, True, 10)
                    raise RuntimeError(f"a client process failed: {failure}")
            connect_s = time.monotonic() - started
            commit_of = await _changes(plan, http, base, token, hub, commits)
            latencies: list[float] = []
            for _ in procs:
                got = await asyncio.to_thread(out.get, True, 300)
                if isinstance(got, str):
                    raise RuntimeError(f"a client process failed: {got}")
                latencies.extend((t - commit_of[seq]) * 1000 for seq, t in got)
        finally:
            for p in procs:
                await asyncio.to_thread(p.join, 30)
                if p.is_alive():
                    p.kill()
    return Result(latencies, plan.clients * plan.changes, connect_s)


async def _changes(
    plan: Plan, http: ClientSession, base: str, token: str, hub: Hub, commits: list[float]
) -> dict[int, float]:
    """Make the changes one at a time; the commit time of each frame's seq."""
    auth = {"Authorization": f"Bearer {token}"}
    commit_of: dict[int, float] = {}
    called: str | None = None
    for i in range(plan.changes):
        # A nurse's cycle at one desk: call the next patient, start, complete; each changes
        # the room's queue (and so its snapshot) once.
        if i % 3 == 0:
            path, body = f"/rooms/{ROOM}/call-next", {"actor": USER, "desk": "d1"}
        else:
            path = f"/visits/{called}/start" if i % 3 == 1 else f"/visits/{called}/complete"
            body = {"actor": USER}
        seq = hub.seq(STREAM)
        n_commits = len(commits)
        async with http.post(f"{base}/api/v1{path}", json=body, headers=auth) as resp:
            answer = await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{path} answered {resp.status}: {answer[:300]!r}")
        if i % 3 == 0:
            called = json.loads(answer)["visit"]["visit_id"]
        if len(commits) == n_commits:
            raise RuntimeError(f"{path} committed nothing (no commit hook fired)")
        commit_of[seq + 1] = commits[-1]
        deadline = time.monotonic() + 30
        while hub.seq(STREAM) == seq:  # the publisher runs on this loop
            if time.monotonic() > deadline:
                raise RuntimeError("no frame published within 30 s of a change")
            await asyncio.sleep(0.001)
        if hub.seq(STREAM) != seq + 1:
            raise RuntimeError(f"one change, {hub.seq(STREAM) - seq} frames")
        await asyncio.sleep(plan.interval_s)
    return commit_of


def report(plan: Plan, r: Result) -> list[str]:
    """The table's lines."""
    ok = r.pct(0.95) <= TARGET_P95_MS
    return [
        "| clients | processes | changes | deliveries | p50 ms | p95 ms | max ms "
        "| target p95 ms | met |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
        f"| {plan.clients} | {plan.procs} | {plan.changes} | {len(r.latencies_ms)}/{r.expected} "
        f"| {r.pct(0.5):.1f} | {r.pct(0.95):.1f} | {max(r.latencies_ms):.1f} "
        f"| {TARGET_P95_MS:.0f} | {'yes' if ok else 'no'} |",
    ]


def run(argv: list[str]) -> int:
    """Run the benchmark and print the table; 0 when every frame arrived and p95 is met."""
    p = argparse.ArgumentParser(prog="nfc-hospital bench ws-fanout", description=__doc__)
    p.add_argument("--clients", type=int, default=500, help="WebSocket clients in all")
    p.add_argument("--procs", type=int, default=2, help="client processes")
    p.add_argument(
        "--changes",
        type=int,
        default=60,
        help="staff operations (call/start/complete), one at a time",
    )
    p.add_argument("--interval", type=float, default=0.2, help="seconds between changes")
    p.add_argument("--doc", type=Path, help="write the figures (markdown) here too")
    args = p.parse_args(argv)
    if args.clients < 1 or args.procs < 1 or args.changes < 1 or args.interval < 0:
        p.error("--clients, --procs and --changes must be positive, --interval not negative")
    plan = Plan(args.clients, args.procs, args.changes, args.interval)
    before = os.getloadavg()
    print(
        f"ws-fanout: {plan.clients} clients in {plan.procs} processes, {plan.changes} changes; "
        f"load average {before[0]:.2f} {before[1]:.2f} {before[2]:.2f} "
        f"on {os.cpu_count()} cores"
    )
    with tempfile.TemporaryDirectory(prefix="nfch-ws-fanout-") as tmp:
        result = asyncio.run(measure(plan, Path(tmp)))
    after = os.getloadavg()
    lines = report(plan, result)
    print("\n".join(lines))
    print(
        f"connect + subscribe of all clients: {result.connect_s:.1f} s; "
        f"load average after: {after[0]:.2f} {after[1]:.2f} {after[2]:.2f}"
    )
    complete = len(result.latencies_ms) == result.expected
    met = complete and result.pct(0.95) <= TARGET_P95_MS
    if args.doc:
        command = shlex.join(["nfc-hospital", "bench", "ws-fanout", *argv])
        args.doc.write_text(
            _doc(command, lines, before, after, result, plan, sys.platform), encoding="utf-8"
        )
    print("target met" if met else "target missed")
    return 0 if met else 1


def _doc(
    command: str,
    lines: list[str],
    before: tuple[float, float, float],
    after: tuple[float, float, float],
    r: Result,
    plan: Plan,
    platform: str,
) -> str:
    return (
        "# WebSocket fan-out (issue #9)\n\n"
        "Target: a room change reaches 500 dashboard WebSocket clients within 250 ms at p95 "
        "(time from the change's database commit to each client's event loop receiving the "
        "frame, over all deliveries).\n\n"
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores "
        f"({platform}), load average {before[0]:.2f} {before[1]:.2f} {before[2]:.2f} before, "
        f"{after[0]:.2f} {after[1]:.2f} {after[2]:.2f} after:\n\n"
        f"    {command}\n\n" + "\n".join(lines) + "\n\n"
        f"Connecting and subscribing all {plan.clients} clients took {r.connect_s:.1f} s "
        "(not part of the figures).\n\n"
        "How: central's HTTP API in-process (engine on a SQLite file, snapshot cache, change "
        "publisher, WebSocket hub, JWT authorizer, the /auth routes and the WebSocket's token "
        "guard; no MQTT bridge) on 127.0.0.1; the clients "
        f"in {plan.procs} separate processes (aiohttp), each subscribed to `room:big` "
        f"({plan.changes + plan.waiting} waiting at the start); the changes cycle "
        "`POST /api/v1/rooms/big/call-next`, `/visits/{id}/start`, `/visits/{id}/complete` "
        "as a logged-in nurse (Bearer token, which the WebSocket clients use too), one at a time "
        f"({plan.interval_s:g} s apart, after the hub published the previous frame). The "
        "commit time is taken by a SQLAlchemy `commit` hook on the server's engine; frames are "
        "matched to changes by the stream's `seq`; one clock (CLOCK_MONOTONIC) for all "
        "processes. Server and client processes share the 2 cores, so the figures include "
        "the clients' own scheduling.\n"
    )
