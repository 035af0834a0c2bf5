"""`nfc-hospital bench queue-ops`: staff queue operations through the real HTTP API with auth.

Issue #13. On SQLite (a file) and on PostgreSQL (a temporary database it creates and drops):

- the server: the central HTTP API composed as `central.app.Central` composes it (engine,
  snapshot cache, change publisher task, WebSocket hub, `/auth` routes, the JWT role
  authorizer) on a real aiohttp server on 127.0.0.1, a free port; without the MQTT bridge,
  so the publisher builds and encodes every changed room's snapshot but has no broker link;
- the client: a separate process (its own interpreter, so it does not share the server's
  GIL) that logs in as a real staff user (`POST /auth/login`, argon2id) and sends the access
  token as a Bearer header;
- one room with WAITING patients (10, then 1,000) and 20 other busy rooms with 50 waiting
  each. Each round: `POST /rooms/{room}/call-next` (timed), then, untimed, start and
  complete the called visit and check a new registered visit in through the API (so the
  queue keeps its length), then `GET /rooms/{room}/queue` twice (timed): "fresh" right
  after the change (may pay the rebuild of the new version, racing the publisher) and
  "again" (the same version: what every further reader pays);
- the room-statistics wait estimator fed by central's `AuditFeed` (as `Central.run` does),
  so snapshots carry the warm estimator's figures (desks busy, cycles seen), not a cold
  room's; it is caught up before the timed rounds;
- SQL statements per request, counted with a SQLAlchemy `before_cursor_execute` hook on the
  server's engine and attributed to the request by a context variable set in an outermost
  middleware (it follows the handler into its worker thread), so the publisher's own
  rebuilds (and the estimator feed's reads) are not counted against the request;
- the server process's garbage-collection pauses during the timed rounds (`gc.callbacks`),
  per generation: a full collection stops every thread, so it lands in some request's time.

    nfc-hospital bench queue-ops [--rounds 500] [--waiting 10,1000] [--pg-url URL] [--no-pg]
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import dataclasses
import gc
import json
import multiprocessing
import os
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web
from sqlalchemy import event

from central.api.routes import ApiContext, build_app
from central.api.ws import Hub
from central.app import AuditFeed, open_engine, tune_process
from central.auth.config import AuthConfig
from central.auth.http import ACCESS_COOKIE, make_authorizer
from central.auth.service import AuthService
from central.auth.tokens import derive_key
from central.bridge import ChangePublisher, Fleet, SnapshotCache
from central.config import CentralConfig, DatabaseSettings, ProcessSettings, SiteSettings
from central.engine import Engine
from central.engine.loader import DepartmentIn, HospitalData, PatientIn, RoomIn, StepIn, VisitIn
from central.estimator import RoomStatsEstimator
from central.web.site import attach
from protocol.base import LocalizedText
from protocol.topics import Topics

USER = "bench.nurse"
PASSWORD = "queue-ops bench password"  # noqa: S105 (a throwaway account in a temp database)
ROOM = "big"
TARGETS = {"call_p99_ms": 15.0, "read_p99_ms": 25.0, "call_stmts": 10, "read_stmts": 3}

_REQUEST: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "bench_request_statements", default=None
)


def _pct(values: list[float], q: float) -> float:
    """The q-quantile in ms (nearest rank)."""
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000


# ------------------------------------------------------------------ the client (own process)


async def authed_api_app(
    engine: Engine, config: CentralConfig
) -> tuple[web.Application, ChangePublisher, Hub]:
    """Central's HTTP API as `Central.run` composes it (minus the MQTT link), with a real
    nurse account (`USER` / `PASSWORD`) and the JWT role check; shared by the API benchmarks."""
    auth = AuthService(
        engine.db,
        AuthConfig(),
        derive_key(engine.site_key, "jwt"),
        clock=engine.clock,
        service_day=engine.service_day,
    )
    await asyncio.to_thread(auth.add_user, USER, "김간호", "nurse", PASSWORD)
    hub = Hub(buffer_size=config.api.ws_buffer, client_queue=config.api.ws_client_queue)
    cache = SnapshotCache(engine)
    publisher = ChangePublisher(
        engine,
        Topics(config.mqtt.topic_root),
        hub,
        cache,
        phone_page_url=config.bridge.phone_page_url,
        cards_interval_s=config.bridge.cards_interval_s,
    )
    ctx = ApiContext(engine, publisher, cache, Fleet(), hub, None)
    app = build_app(ctx, max_body=config.api.max_body_bytes, authorizer=make_authorizer(auth))
    attach(app, ctx, auth, config.web)
    return app, publisher, hub


async def _client(port: int, rounds: int, warmup: int, refill: list[str]) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    times: dict[str, list[float]] = defaultdict(list)
    async with ClientSession() as http:
        async with http.post(
            f"{base}/auth/login",
            json={"username": USER, "password": PASSWORD},
            headers={"Origin": base},
        ) as resp:
            if resp.status != 200:
                raise RuntimeError(f"login answered {resp.status}: {await resp.text()}")
            token = resp.cookies[ACCESS_COOKIE].value
        auth = {"Authorization": f"Bearer {token}"}
        body = {"actor": USER, "desk": "d1"}

        async def send(method: str, path: str, payload: Any = None) -> tuple[float, bytes]:
            t = time.perf_counter()
            async with http.request(method, base + path, json=payload, headers=auth) as resp:
                data = await resp.read()
            dt = time.perf_counter() - t
            if resp.status != 200:
                raise RuntimeError(f"{method} {path} answered {resp.status}: {data[:300]!r}")
            return dt, data

        for i in range(warmup + rounds):
            dt_call, data = await send("POST", f"/api/v1/rooms/{ROOM}/call-next", body)
            visit_id = _visit_id(data)
            await send("POST", f"/api/v1/visits/{visit_id}/start", {"actor": USER})
            await send("POST", f"/api/v1/visits/{visit_id}/complete", {"actor": USER})
            await send("POST", f"/api/v1/visits/{refill[i]}/check-in", {"actor": USER})
            dt_fresh, snap = await send("GET", f"/api/v1/rooms/{ROOM}/queue")
            dt_again, _ = await send("GET", f"/api/v1/rooms/{ROOM}/queue")
            if i >= warmup:
                times["call"].append(dt_call)
                times["read_fresh"].append(dt_fresh)
                times["read_again"].append(dt_again)
        times["snapshot_bytes"] = [float(len(snap))]
    return dict(times)


def _visit_id(data: bytes) -> str:
    out: str = json.loads(data)["visit"]["visit_id"]
    return out


def _client_main(port: int, rounds: int, warmup: int, refill: list[str], out: Any) -> None:
    try:
        out.put(asyncio.run(_client(port, rounds, warmup, refill)))
    except BaseException as e:  # reported to the parent, which raises it
        out.put(repr(e))


# ------------------------------------------------------------------ the server (this process)


@dataclass
class _Counts:
    """SQL statements and server-side seconds per route, recorded by the middleware."""

    statements: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    unattributed: int = 0
    """Statements outside any request: the publisher's rebuilds, setup excluded."""

    def hook(self, *_args: Any) -> None:
        box = _REQUEST.get()
        if box is not None:
            box[0] += 1
        else:
            self.unattributed += 1

    def middleware(self) -> Any:
        @web.middleware
        async def count(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            box = [0]
            token = _REQUEST.set(box)
            t = time.perf_counter()
            try:
                return await handler(request)
            finally:
                _REQUEST.reset(token)
                route = request.match_info.route.resource
                key = f"{request.method} {route.canonical if route else request.path}"
                self.statements[key].append(box[0])
                self.seconds[key].append(time.perf_counter() - t)

        return count


class _GcPauses:
    """Garbage-collection pauses of this process, per generation (a `gc.callbacks` entry)."""

    def __init__(self) -> None:
        self.pauses: dict[int, list[float]] = defaultdict(list)
        self._started = 0.0
        self.on = False

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self.on:
            self.pauses[info["generation"]].append(time.perf_counter() - self._started)


@dataclass(frozen=True)
class Plan:
    """What one run sets up and measures."""

    waiting: int
    rounds: int
    warmup: int
    busy_rooms: int
    busy_waiting: int
    publisher: bool = True
    """False only to diagnose: no snapshot rebuilds behind the requests' backs."""
    gil_switch_ms: float = ProcessSettings().gil_switch_interval_ms
    """The server's `process.gil_switch_interval_ms` (5 = Python's own default)."""


def _hospital(day: Any, plan: Plan, refills: int) -> tuple[HospitalData, list[str], list[str]]:
    name = LocalizedText(ko="진료실", en="Consultation room")
    waiting = plan.waiting
    rooms = [ROOM] + [f"busy{i:02d}" for i in range(1, plan.busy_rooms + 1)]
    per_room = {ROOM: waiting + refills, **dict.fromkeys(rooms[1:], plan.busy_waiting)}
    patients: list[PatientIn] = []
    visits: list[VisitIn] = []
    queued: list[str] = []
    pool: list[str] = []
    for room, n in per_room.items():
        for i in range(n):
            vid = f"v-{room}-{i:05d}"
            reg = f"R{room}{i:05d}"
            patients.append(PatientIn(registration_no=reg, name="김민수"))
            visits.append(
                VisitIn(
                    visit_id=vid,
                    registration_no=reg,
                    service_day=day,
                    steps=[StepIn(room_id=room, kind="consultation")],
                )
            )
            (pool if room == ROOM and i >= waiting else queued).append(vid)
    data = HospitalData(
        departments=[DepartmentIn(department_id="dept", name=name)],
        rooms=[
            RoomIn(
                room_id=r,
                department_id="dept",
                name=name,
                kind="consultation",
                floor_label="1F",
                avg_service_s=300,
                capacity=4,
            )
            for r in rooms
        ],
        patients=patients,
        visits=visits,
    )
    return data, queued, pool


def _setup(engine: Engine, plan: Plan) -> list[str]:
    data, queued, pool = _hospital(engine.service_day(), plan, plan.warmup + plan.rounds)
    engine.load(data)
    for vid in queued:  # setup, untimed: the engine's own check-in, one transaction each
        engine.check_in(vid, actor="bench-setup")
    return pool


async def _measure(url: str, workdir: Path, plan: Plan) -> dict[str, Any]:
    """Set up one database, serve it, run the client process; the raw figures."""
    rounds, warmup = plan.rounds, plan.warmup
    config = CentralConfig(
        database=DatabaseSettings(url=url),
        site=SiteSettings(
            site_key_file=workdir / f"site-{uuid.uuid4().hex[:6]}.key",
            # the service day turns 12 hours from now, never during a run (it empties queues)
            timezone="UTC",
            day_starts_at=f"{(datetime.now(UTC).hour + 12) % 24:02d}:00",
        ),
        process=ProcessSettings(gil_switch_interval_ms=plan.gil_switch_ms),
    )
    tune_process(config)  # as `Central.run` does first
    engine = await asyncio.to_thread(open_engine, config)
    counts = _Counts()
    pauses = _GcPauses()
    try:
        pool = await asyncio.to_thread(_setup, engine, plan)
        app, publisher, _hub = await authed_api_app(engine, config)
        app.middlewares.insert(0, counts.middleware())  # outermost: auth is counted too
        assert isinstance(engine.estimator, RoomStatsEstimator)
        feed = AuditFeed(engine, engine.estimator, config.bridge.estimator_feed_s)
        await asyncio.to_thread(feed.pump)  # caught up with the setup's check-ins
        event.listen(engine.db.engine, "before_cursor_execute", counts.hook)
        gc.callbacks.append(pauses)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            async with asyncio.TaskGroup() as tg:
                pub = tg.create_task(publisher.run(), name="publisher")
                # the feed's reads go to their own count, not to the publisher's or a request's
                token = _REQUEST.set([0])
                feeder = tg.create_task(feed.run(), name="estimator-feed")
                _REQUEST.reset(token)
                await publisher.mark_all()
                await publisher.flush(30)
                gc.freeze()  # as Central.run does after start-up
                if not plan.publisher:
                    pub.cancel()
                counts.unattributed, rounds_before = 0, publisher.rounds
                mp = multiprocessing.get_context("spawn")
                out = mp.Queue()
                proc = mp.Process(
                    target=_client_main,
                    args=(port, rounds, warmup, pool, out),
                    name="queue-ops-client",
                )
                proc.start()
                pauses.on = True
                try:
                    result = await asyncio.to_thread(out.get, True, 1800)
                finally:
                    pauses.on = False
                    await asyncio.to_thread(proc.join, 30)
                    if proc.is_alive():
                        proc.kill()
                if plan.publisher:
                    await publisher.flush(30)
                publisher_rounds = publisher.rounds - rounds_before
                pub.cancel()
                feeder.cancel()
        finally:
            await runner.cleanup()
    finally:
        if pauses in gc.callbacks:
            gc.callbacks.remove(pauses)
        event.remove(engine.db.engine, "before_cursor_execute", counts.hook)
        await asyncio.to_thread(engine.close)
    if isinstance(result, str):
        raise RuntimeError(f"the client failed: {result}")
    # the warm-up requests are dropped from the counts as they are from the timings
    total = warmup + rounds

    def timed(v: list[Any]) -> list[Any]:
        # per-round requests lose their warm-up rounds; the login (once) stays
        return v[warmup * len(v) // total :] if len(v) >= total else v

    stmts = {k: timed(v) for k, v in counts.statements.items()}
    server_s = {k: timed(v) for k, v in counts.seconds.items()}
    return {
        "client": result,
        "statements": stmts,
        "server_seconds": server_s,
        "publisher": (counts.unattributed, publisher_rounds),
        "gc": dict(pauses.pauses),
        "fed": feed.fed,
    }


# ------------------------------------------------------------------ report


CALL = "POST /api/v1/rooms/{room_id}/call-next"
READ = "GET /api/v1/rooms/{room_id}/queue"


@dataclass
class Row:
    """One database at one queue length: times in ms (client side unless named server)."""

    database: str
    waiting: int
    call_p50: float
    call_p99: float
    call_stmts: float
    read_fresh_p50: float
    read_fresh_p99: float
    read_again_p50: float
    read_again_p99: float
    read_stmts: int
    fresh_rebuilt: float
    call_server_p50: float
    read_server_p50: float
    snapshot_kib: float
    publisher_stmts: float
    other_stmts: dict[str, float]
    gc_counts: tuple[int, int, int] = (0, 0, 0)
    """Garbage collections of generations 0, 1, 2 in the server during the timed rounds."""
    gc_max_ms: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """The longest pause of each generation."""
    estimator_fed: int = 0


def _row(database: str, waiting: int, r: dict[str, Any]) -> Row:
    c, s, srv = r["client"], r["statements"], r["server_seconds"]
    fresh = s[READ][0::2]  # each round reads twice: fresh, then again
    full = max(s[READ])
    unattributed, rounds = r["publisher"]
    pauses: dict[int, list[float]] = {g: r["gc"].get(g, []) for g in range(3)}
    longest = [max(pauses[g], default=0.0) * 1000 for g in range(3)]
    return Row(
        database=database,
        waiting=waiting,
        call_p50=_pct(c["call"], 0.5),
        call_p99=_pct(c["call"], 0.99),
        call_stmts=statistics.median(s[CALL]),
        read_fresh_p50=_pct(c["read_fresh"], 0.5),
        read_fresh_p99=_pct(c["read_fresh"], 0.99),
        read_again_p50=_pct(c["read_again"], 0.5),
        read_again_p99=_pct(c["read_again"], 0.99),
        read_stmts=full,
        fresh_rebuilt=sum(1 for n in fresh if n == full) / len(fresh),
        call_server_p50=_pct(srv[CALL], 0.5),
        read_server_p50=_pct(srv[READ][0::2], 0.5),
        snapshot_kib=c["snapshot_bytes"][0] / 1024,
        publisher_stmts=unattributed / max(1, rounds),
        other_stmts={k: statistics.median(v) for k, v in s.items() if k not in (CALL, READ)},
        gc_counts=(len(pauses[0]), len(pauses[1]), len(pauses[2])),
        gc_max_ms=(longest[0], longest[1], longest[2]),
        estimator_fed=r["fed"],
    )


def measure(
    plan: Plan, sizes: list[int], *, sqlite: bool = True, pg_url: str | None = None
) -> list[Row]:
    """Every (database, queue length) run; PostgreSQL only when `pg_url` answers."""
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="nfch-queue-ops-") as tmp:
        work = Path(tmp)
        if sqlite:
            for n in sizes:
                url = f"sqlite:///{work / f'q{n}.db'}"
                one = dataclasses.replace(plan, waiting=n)
                rows.append(_row("sqlite", n, asyncio.run(_measure(url, work, one))))
        if pg_url is not None:
            rows.extend(_postgres(pg_url, plan, sizes, work))
    return rows


def _postgres(pg_url: str, plan: Plan, sizes: list[int], work: Path) -> list[Row]:
    try:
        import psycopg

        with psycopg.connect(pg_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute("select 1")
    except Exception as e:
        print(f"postgresql: skipped ({e})")
        return []
    rows = []
    for n in sizes:
        name = f"nfch_queue_ops_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            url = pg_url.rsplit("/", 1)[0] + "/" + name
            result = asyncio.run(_measure(url, work, dataclasses.replace(plan, waiting=n)))
            rows.append(_row("postgresql", n, result))
        finally:
            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return rows


def report(rows: list[Row]) -> list[str]:
    """Print the table and the 10-vs-1,000 ratios; the targets missed, one line each."""
    print(
        f"{'database':10s} {'waiting':>7s} | {'call-next p50/p99':>17s} {'stmts':>5s} | "
        f"{'read fresh p50/p99':>18s} {'rebuilt':>7s} {'read again p50/p99':>18s} {'stmts':>5s}"
        f" | {'server p50 call/read':>20s} | snapshot"
    )
    for r in rows:
        print(
            f"{r.database:10s} {r.waiting:7d} | {r.call_p50:7.2f} /{r.call_p99:7.2f} ms "
            f"{r.call_stmts:5.0f} | {r.read_fresh_p50:7.2f} /{r.read_fresh_p99:7.2f} ms "
            f"{r.fresh_rebuilt:7.0%} {r.read_again_p50:7.2f} /{r.read_again_p99:7.2f} ms "
            f"{r.read_stmts:5d} | {r.call_server_p50:7.2f} /{r.read_server_p50:7.2f} ms  | "
            f"{r.snapshot_kib:6.1f} KiB"
        )
    for r in rows:
        others = ", ".join(f"{k.split('/')[-1]}={v:.0f}" for k, v in sorted(r.other_stmts.items()))
        print(
            f"{r.database:10s} {r.waiting:7d} statements per request (median): {others}; "
            f"publisher per round: {r.publisher_stmts:.1f}"
        )
    for r in rows:
        n0, n1, n2 = r.gc_counts
        m0, m1, m2 = r.gc_max_ms
        print(
            f"{r.database:10s} {r.waiting:7d} server GC during the timed rounds: gen0 {n0} "
            f"(longest {m0:.1f} ms), gen1 {n1} ({m1:.1f} ms), gen2 {n2} ({m2:.1f} ms); "
            f"estimator fed {r.estimator_fed} audit rows"
        )
    misses = []
    for r in rows:
        tag = f"{r.database} waiting={r.waiting}"
        if r.call_p99 > TARGETS["call_p99_ms"]:
            misses.append(f"{tag}: call-next p99 {r.call_p99:.1f} ms > 15 ms")
        if r.read_fresh_p99 > TARGETS["read_p99_ms"]:
            misses.append(f"{tag}: queue read (fresh) p99 {r.read_fresh_p99:.1f} ms > 25 ms")
        if r.read_again_p99 > TARGETS["read_p99_ms"]:
            misses.append(f"{tag}: queue read (again) p99 {r.read_again_p99:.1f} ms > 25 ms")
        if r.call_stmts > TARGETS["call_stmts"]:
            misses.append(f"{tag}: {r.call_stmts:.0f} statements per call-next > 10")
        if r.read_stmts > TARGETS["read_stmts"]:
            misses.append(f"{tag}: {r.read_stmts} statements per queue read > 3")
    by_db: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by_db[r.database].append(r)
    for db, rs in by_db.items():
        if len(rs) < 2:
            continue
        lo, hi = min(rs, key=lambda x: x.waiting), max(rs, key=lambda x: x.waiting)
        # A full read returns every row (100x the bytes at 1,000 vs 10): its time is shown,
        # not held to 1.5x; its statement count is.
        for what, a, b, held in (
            ("call-next p50", lo.call_p50, hi.call_p50, True),
            ("call-next p99", lo.call_p99, hi.call_p99, False),
            ("call-next statements", lo.call_stmts, hi.call_stmts, True),
            ("queue read statements", lo.read_stmts, hi.read_stmts, True),
            ("queue read (fresh) p50", lo.read_fresh_p50, hi.read_fresh_p50, False),
            ("queue read (again) p50", lo.read_again_p50, hi.read_again_p50, False),
        ):
            ratio = b / a if a else float("inf")
            note = "(held to 1.5x)" if held else "(shown)"
            print(f"{db:10s} {what}, {hi.waiting} vs {lo.waiting} waiting: {ratio:.2f}x {note}")
            if held and ratio > 1.5:
                misses.append(f"{db}: {what} grows {ratio:.2f}x from {lo.waiting} to {hi.waiting}")
    return misses


def run(argv: list[str]) -> int:
    """Run the benchmark and print the table; 0 when every target is met, 1 otherwise."""
    p = argparse.ArgumentParser(prog="nfc-hospital bench queue-ops", description=__doc__)
    p.add_argument("--rounds", type=int, default=500, help="timed call-next rounds per run")
    p.add_argument(
        "--warmup",
        type=int,
        default=200,
        help="untimed rounds first (the first run of a process was slower at 20, whichever "
        "queue length ran first: a server is measured in its steady state)",
    )
    p.add_argument("--waiting", default="10,1000", help="queue lengths to measure")
    p.add_argument("--busy-rooms", type=int, default=20, help="other rooms with a queue")
    p.add_argument("--busy-waiting", type=int, default=50, help="waiting in each busy room")
    p.add_argument(
        "--pg-url",
        default=os.environ.get("NFCH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL server URL (a temporary database is created and dropped)",
    )
    p.add_argument("--no-pg", action="store_true", help="SQLite only")
    p.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    p.add_argument(
        "--no-publisher",
        action="store_true",
        help="diagnosis only: do not run the change publisher (no MQTT/WebSocket snapshot "
        "rebuilds after each change), to see what they cost the requests",
    )
    p.add_argument(
        "--gil-switch-ms",
        type=float,
        default=ProcessSettings().gil_switch_interval_ms,
        help="the server's process.gil_switch_interval_ms (5 = Python's own default)",
    )
    args = p.parse_args(argv)
    sizes = [int(x) for x in args.waiting.split(",")]
    plan = Plan(
        sizes[0],
        args.rounds,
        args.warmup,
        args.busy_rooms,
        args.busy_waiting,
        publisher=not args.no_publisher,
        gil_switch_ms=args.gil_switch_ms,
    )
    load = os.getloadavg()
    print(
        f"queue-ops: {args.rounds} rounds (+{args.warmup} warm-up), waiting {sizes} in one room, "
        f"{args.busy_rooms} rooms x {args.busy_waiting} waiting; load average {load[0]:.2f} "
        f"{load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores; "
        f"gil_switch_interval_ms={args.gil_switch_ms}"
    )
    rows = measure(
        plan, sizes, sqlite=not args.no_sqlite, pg_url=None if args.no_pg else args.pg_url
    )
    misses = report(rows)
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for m in misses:
        print("MISSED " + m)
    print("targets met" if not misses else f"{len(misses)} target(s) missed")
    return 0 if not misses else 1
