"""`nfc-hospital bench auth`: what staff and patient authentication costs on this machine.

1. argon2id at the default cost (64 MiB, t=3, p=2): one verification, and logins per second
   with two concurrent logins (the machine has 2 cores);
2. verifying an access token (signature, expiry, cached revocation list) per second: the cost
   every API request pays;
3. refresh rotation (one write transaction) per second on SQLite;
4. a failed phone login (throttle check + failure count, no argon2) per second on SQLite.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

from central.auth.config import AuthConfig
from central.auth.errors import BadCredentials, Throttled
from central.auth.passwords import Passwords
from central.auth.service import AuthService
from central.auth.tokens import derive_key
from central.store import Database

PASSWORD = "correct horse battery"  # noqa: S105 (a throwaway account in a temp database)


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s"


def run(argv: list[str]) -> int:
    """Print the figures; returns 0."""
    p = argparse.ArgumentParser(prog="nfc-hospital bench auth", description=__doc__)
    p.add_argument("--tokens", type=int, default=20000, help="access tokens to verify")
    p.add_argument("--refreshes", type=int, default=300, help="refresh rotations")
    p.add_argument("--logins", type=int, default=16, help="argon2 logins")
    args = p.parse_args(argv)
    cfg = AuthConfig()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(str(Path(tmp) / "bench.db"))
        db.migrate()
        auth = AuthService(db, cfg, derive_key(b"bench-site-key-0123456789abcdef!", "jwt"))
        auth.add_user("nurse1", "bench", "nurse", PASSWORD)

        hasher = Passwords(
            time_cost=cfg.password_time_cost,
            memory_kib=cfg.password_memory_kib,
            parallelism=cfg.password_parallelism,
        )
        stored = hasher.hash(PASSWORD)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            hasher.verify(stored, PASSWORD)
            times.append(time.perf_counter() - t0)
        print(f"argon2id verify (m=64MiB,t=3,p=2): median {statistics.median(times) * 1000:.0f} ms")

        def one(i: int) -> None:
            auth.login("nurse1", PASSWORD, f"10.9.{i // 250}.{i % 250}")

        t0 = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(one, range(args.logins)))
        dt = time.perf_counter() - t0
        print(f"staff logins, 2 at a time: {_rate(args.logins, dt)} ({args.logins} logins)")

        session = auth.login("nurse1", PASSWORD, "10.8.0.1")
        auth.authenticate_staff(session.access_token)
        t0 = time.perf_counter()
        for _ in range(args.tokens):
            auth.authenticate_staff(session.access_token)
        dt = time.perf_counter() - t0
        print(
            f"access-token checks: {_rate(args.tokens, dt)} "
            f"({dt / args.tokens * 1e6:.0f} us each, one core)"
        )

        rt = session.refresh_token
        t0 = time.perf_counter()
        for _ in range(args.refreshes):
            rt = auth.refresh(rt).refresh_token
        dt = time.perf_counter() - t0
        print(f"refresh rotations (SQLite, synchronous=FULL): {_rate(args.refreshes, dt)}")

        n = 0
        t0 = time.perf_counter()
        for i in range(args.refreshes):
            try:
                auth.phone_login("0000", date(1900, 1, 1), f"10.7.{i // 250}.{i % 250}")
            except (BadCredentials, Throttled):
                n += 1
        dt = time.perf_counter() - t0
        print(f"failed phone logins (throttle check + count): {_rate(n, dt)}")
        db.dispose()
    return 0
