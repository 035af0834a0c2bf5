"""Staff accounts from the command line (until the admin pages exist):

    python -m central.auth add-user --db sqlite:///central.db --username nurse1 \
        --name 김간호 --role nurse            # password read from stdin or prompted
    python -m central.auth disable-user --db ... --username nurse1

`nfc-hospital central` can mount this as a subcommand (central/cli.py is not ours to edit).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime

from central.auth.config import AuthConfig
from central.auth.passwords import Passwords
from central.auth.roles import Role
from central.auth.service import USERNAME
from central.auth.store import AuthStore
from central.store import Database


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise SystemExit("the passwords differ")
    return first


def run(argv: list[str]) -> int:
    """Entry point; returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m central.auth", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    add = sub.add_parser("add-user", help="create a staff account")
    add.add_argument("--db", required=True, help="database URL or SQLite path")
    add.add_argument("--username", required=True)
    add.add_argument("--name", required=True, help="display name")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    dis = sub.add_parser("disable-user", help="disable an account (its tokens die within 60 s)")
    dis.add_argument("--db", required=True)
    dis.add_argument("--username", required=True)
    args = p.parse_args(argv)
    db = Database(args.db)
    try:
        db.migrate()
        store = AuthStore(db)
        now = datetime.now(UTC)
        username = args.username.strip().lower()
        if args.cmd == "add-user":
            if not USERNAME.match(username):
                print(f"error: user name {username!r} must be a-z 0-9 . _ -", file=sys.stderr)
                return 2
            if store.user_by_name(username) is not None:
                print(f"error: user {username!r} exists", file=sys.stderr)
                return 2
            password = _password(args)
            if len(password) < 10:
                print("error: a password needs at least 10 characters", file=sys.stderr)
                return 2
            cfg = AuthConfig()
            hasher = Passwords(
                time_cost=cfg.password_time_cost,
                memory_kib=cfg.password_memory_kib,
                parallelism=cfg.password_parallelism,
            )
            made = store.add_user(username, args.name, args.role, hasher.hash(password), now)
            print(f"created {made.username} ({made.role}) id={made.user_id}")
            return 0
        found = store.user_by_name(username)
        if found is None:
            print(f"error: no user {username!r}", file=sys.stderr)
            return 2
        store.set_active(found.user_id, False, now)
        store.revoke_subject(found.user_id, now)
        print(f"disabled {username}; its tokens stop working within a minute")
        return 0
    finally:
        db.dispose()


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))
