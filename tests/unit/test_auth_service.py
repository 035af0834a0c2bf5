"""Auth service rules: hashing, tokens, refresh rotation and reuse, revocation, throttles,
phone login. Real SQLite database (migrated), fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from pydantic import ValidationError

from central.auth.config import AuthConfig
from central.auth.errors import (
    BadCredentials,
    NotAuthenticated,
    RefreshRace,
    RefreshReused,
    Throttled,
    TokenExpired,
    TokenRevoked,
)
from central.auth.passwords import Passwords
from central.auth.roles import Action, Role, allows
from central.auth.service import AuthService
from central.auth.throttle import lock_for
from central.auth.tokens import TokenSigner, derive_key
from central.clock import FakeClock
from central.engine import Engine
from central.store import Database
from tests.support.auth_world import (
    START,
    auth_config,
    make_service,
    migrated_db,
    pg_database,
)
from tests.support.central_db import SITE_KEY as ENGINE_KEY
from tests.support.central_db import small_hospital

PASSWORD = "correct horse battery"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The same rules on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        d = migrated_db(tmp_path)
    else:
        d = pg_database(request.getfixturevalue("postgres_db"))
    yield d
    d.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def auth(db: Database, clock: FakeClock) -> AuthService:
    svc = make_service(db, clock)
    svc.add_user("nurse1", "김간호", "nurse", PASSWORD)
    return svc


# ------------------------------------------------------------------ passwords


def test_hash_verify_and_rehash_when_parameters_change() -> None:
    old = Passwords(time_cost=1, memory_kib=64, parallelism=1)
    stored = old.hash(PASSWORD)
    assert stored.startswith("$argon2id$")
    assert old.verify(stored, PASSWORD) == (True, None)
    assert old.verify(stored, "wrong") == (False, None)
    new = Passwords(time_cost=2, memory_kib=128, parallelism=1)
    ok, rehashed = new.verify(stored, PASSWORD)
    assert ok
    assert rehashed is not None
    assert "m=128,t=2" in rehashed
    assert new.verify(rehashed, PASSWORD) == (True, None)
    assert new.verify(None, PASSWORD) == (False, None)
    assert new.verify("not a hash", PASSWORD) == (False, None)


def test_default_cost_is_memory_hard() -> None:
    cfg = AuthConfig()
    stored = Passwords(
        time_cost=cfg.password_time_cost,
        memory_kib=cfg.password_memory_kib,
        parallelism=cfg.password_parallelism,
    ).hash(PASSWORD)
    assert "m=65536" in stored


def test_login_rehashes_outdated_hash(db: Database, clock: FakeClock, auth: AuthService) -> None:
    before = auth.store.user_by_name("nurse1")
    assert before is not None
    stronger = make_service(db, clock, auth_config(password_time_cost=2))
    stronger.login("nurse1", PASSWORD, "10.0.0.1")
    after = stronger.store.user_by_name("nurse1")
    assert after is not None
    assert after.password_hash != before.password_hash
    assert ",t=2," in after.password_hash
    stronger.login("nurse1", PASSWORD, "10.0.0.1")  # the new hash verifies


def test_user_names_and_roles_are_validated(auth: AuthService) -> None:
    with pytest.raises(ValueError, match="user name"):
        auth.add_user("bad|name", "x", "nurse", PASSWORD)
    with pytest.raises(ValueError, match="doctor"):
        auth.add_user("doc", "x", "doctor", PASSWORD)
    with pytest.raises(ValueError, match="10 characters"):
        auth.add_user("short", "x", "nurse", "abc")


# ------------------------------------------------------------------ access tokens


def test_access_token_claims_and_expiry(auth: AuthService, clock: FakeClock) -> None:
    s = auth.login("nurse1", PASSWORD, "10.0.0.1")
    claims = auth.authenticate_staff(s.access_token)
    assert (claims.role, claims.username, claims.name) == ("nurse", "nurse1", "김간호")
    assert claims.jti
    assert claims.sub.startswith("u-")
    assert (claims.exp - claims.iat) == timedelta(seconds=600)
    clock.advance(seconds=599)
    auth.authenticate_staff(s.access_token)
    clock.advance(seconds=1)
    with pytest.raises(TokenExpired):
        auth.authenticate_staff(s.access_token)


def test_access_ttl_cannot_exceed_15_minutes() -> None:
    with pytest.raises(ValidationError, match="access_ttl_s"):
        AuthConfig(access_ttl_s=901)
    with pytest.raises(ValidationError, match="revocation_cache_s"):
        AuthConfig(revocation_cache_s=61)


def test_tokens_of_one_kind_are_not_accepted_as_another(auth: AuthService) -> None:
    now = auth.now()
    patient, _ = auth.signer.issue_patient(
        visit_id="v1", now=now, exp=now + timedelta(60), auth_time=now
    )
    with pytest.raises(NotAuthenticated):
        auth.authenticate_staff(patient)
    s = auth.login("nurse1", PASSWORD, "10.0.0.1")
    with pytest.raises(NotAuthenticated):
        auth.authenticate_patient(s.access_token, "v1")
    forged = TokenSigner(derive_key(b"another-site-key-0123456789abcde", "jwt"))
    token, _ = forged.issue_staff(
        sub="u-x", username="x", name="x", role="admin", fam="f", now=now, ttl_s=60
    )
    with pytest.raises(NotAuthenticated):
        auth.authenticate_staff(token)


# ------------------------------------------------------------------ refresh rotation


def test_refresh_rotates_and_reuse_revokes_the_family(auth: AuthService, clock: FakeClock) -> None:
    s1 = auth.login("nurse1", PASSWORD, "10.0.0.1")
    clock.advance(seconds=30)
    s2 = auth.refresh(s1.refresh_token)
    assert s2.refresh_token != s1.refresh_token
    assert s2.claims.fam == s1.claims.fam
    assert s2.csrf == s1.csrf
    auth.authenticate_staff(s2.access_token)
    clock.advance(seconds=30)  # past the two-tab grace: a copy is being replayed
    with pytest.raises(RefreshReused):
        auth.refresh(s1.refresh_token)
    with pytest.raises(TokenRevoked):
        auth.refresh(s2.refresh_token)
    with pytest.raises(TokenRevoked):
        auth.authenticate_staff(s2.access_token)
    with pytest.raises(TokenRevoked):
        auth.authenticate_staff(s1.access_token)
    # A new login is a new family and works.
    s3 = auth.login("nurse1", PASSWORD, "10.0.0.1")
    auth.authenticate_staff(s3.access_token)


def test_refresh_race_between_tabs_is_not_theft(auth: AuthService, clock: FakeClock) -> None:
    s1 = auth.login("nurse1", PASSWORD, "10.0.0.1")
    s2 = auth.refresh(s1.refresh_token)
    clock.advance(seconds=2)
    with pytest.raises(RefreshRace):
        auth.refresh(s1.refresh_token)
    auth.authenticate_staff(s2.access_token)
    s3 = auth.refresh(s2.refresh_token)
    auth.authenticate_staff(s3.access_token)


def test_unknown_and_expired_refresh_tokens(auth: AuthService, clock: FakeClock) -> None:
    with pytest.raises(NotAuthenticated):
        auth.refresh("made-up")
    s = auth.login("nurse1", PASSWORD, "10.0.0.1")
    clock.advance(seconds=12 * 3600)
    with pytest.raises(TokenExpired):
        auth.refresh(s.refresh_token)


def test_logout_revokes_access_and_refresh(auth: AuthService) -> None:
    s = auth.login("nurse1", PASSWORD, "10.0.0.1")
    auth.logout(s.refresh_token, auth.authenticate_staff(s.access_token))
    with pytest.raises(TokenRevoked):
        auth.authenticate_staff(s.access_token)
    with pytest.raises(TokenRevoked):
        auth.refresh(s.refresh_token)


def test_disabled_user_loses_tokens_and_cannot_refresh(auth: AuthService) -> None:
    s = auth.login("nurse1", PASSWORD, "10.0.0.1")
    auth.disable_user(s.claims.sub)
    with pytest.raises(TokenRevoked):
        auth.authenticate_staff(s.access_token)
    with pytest.raises(TokenRevoked):
        auth.refresh(s.refresh_token)
    with pytest.raises(BadCredentials):
        auth.login("nurse1", PASSWORD, "10.0.0.2")


# ------------------------------------------------------------------ revocation list


def test_revocation_by_another_worker_is_honoured_within_a_minute(
    db: Database, clock: FakeClock, auth: AuthService
) -> None:
    worker_b = make_service(db, clock)
    s = auth.login("nurse1", PASSWORD, "10.0.0.1")
    worker_b.authenticate_staff(s.access_token)  # B caches the (empty) revocation list
    auth.revoke_access(s.claims.jti, s.claims.exp, "admin")
    with pytest.raises(TokenRevoked):
        auth.authenticate_staff(s.access_token)  # the revoking worker: at once
    seen_at = None
    for second in range(0, 61):
        try:
            worker_b.authenticate_staff(s.access_token)
        except TokenRevoked:
            seen_at = second
            break
        clock.advance(seconds=1)
    assert seen_at is not None
    assert seen_at <= 30


# ------------------------------------------------------------------ roles


def test_role_table() -> None:
    assert allows("nurse", Action.QUEUE_OPERATE)
    assert allows("reception", Action.PATIENT_SEARCH)
    assert not allows("technician", Action.PATIENT_SEARCH)
    assert not allows("technician", Action.QUEUE_OPERATE)
    assert allows("technician", Action.FLEET_READ)
    assert not allows("nurse", Action.FLEET_READ)
    assert not allows("nurse", Action.STAFF_MANAGE)
    assert all(allows("admin", a) for a in Action)
    assert not allows("doctor", Action.QUEUE_READ)
    assert {r.value for r in Role} == {"nurse", "reception", "admin", "technician"}


# ------------------------------------------------------------------ staff throttling


def test_lock_doubles_and_is_capped() -> None:
    p = AuthConfig().staff_account_address
    assert [lock_for(p, n) for n in range(1, 10)] == [0, 0, 0, 0, 0, 2, 4, 8, 16]
    assert lock_for(p, 100) == p.max_lock_s


def test_wrong_passwords_lock_then_recover(auth: AuthService, clock: FakeClock) -> None:
    for _ in range(5):
        with pytest.raises(BadCredentials):
            auth.login("nurse1", "guess", "10.0.0.9")
    with pytest.raises(BadCredentials):
        auth.login("nurse1", "guess", "10.0.0.9")  # 6th failure: now locked 2 s
    with pytest.raises(Throttled) as locked:
        auth.login("nurse1", PASSWORD, "10.0.0.9")  # even the right password waits
    assert locked.value.retry_after_s == 2
    assert locked.value.scope == "acct_addr"
    clock.advance(seconds=2)
    auth.login("nurse1", PASSWORD, "10.0.0.9")
    # Success cleared this address's account counter: five more free failures.
    for _ in range(5):
        with pytest.raises(BadCredentials):
            auth.login("nurse1", "guess", "10.0.0.9")


def test_attacker_cannot_lock_a_nurse_out_for_long(auth: AuthService, clock: FakeClock) -> None:
    device = auth.device_cookie("nurse1")  # her workstation logged in before
    # An attacker hammers the account from many addresses.
    for i in range(60):
        with pytest.raises((BadCredentials, Throttled)):
            auth.login("nurse1", "guess", f"198.51.100.{i}")
    # Her own browser is exempt from the account-wide lock:
    auth.login("nurse1", PASSWORD, "10.0.0.1", device)
    # A browser she never used waits at most a minute, however long the attack goes on.
    with pytest.raises(Throttled) as locked:
        auth.login("nurse1", PASSWORD, "10.0.0.2")
    assert locked.value.scope == "acct"
    assert locked.value.retry_after_s <= 60
    clock.advance(seconds=60)
    auth.login("nurse1", PASSWORD, "10.0.0.2")
    # Another user's device cookie does not help.
    other = auth.signer.device_cookie("someone", auth.now(), 90)
    assert not auth.signer.device_ok(other, "nurse1", auth.now())
    assert not auth.signer.device_ok(device.replace("nurse1", "nurse2"), "nurse2", auth.now())


def test_spraying_from_one_address_is_locked(auth: AuthService) -> None:
    for i in range(31):  # 30 free, the 31st locks
        with pytest.raises(BadCredentials):
            auth.login(f"user{i}", "guess", "203.0.113.5")
    with pytest.raises(Throttled) as locked:
        auth.login("nurse1", PASSWORD, "203.0.113.5")
    assert locked.value.scope == "addr"


# ------------------------------------------------------------------ phone login


@pytest.fixture
def hospital(db: Database, clock: FakeClock) -> Engine:
    engine = Engine(db, site_key=ENGINE_KEY, clock=clock)
    data = small_hospital({"v1": ["r1"], "v2": ["r2"], "v3": ["r1"]}, day=engine.service_day())
    people = [
        p.model_copy(update={"birth_date": date(1950, 3, 1), "phone_last4": f"{1230 + i}"})
        for i, p in enumerate(data.patients)
    ]
    # v3's patient shares v1's digits and birth date: the untargeted login must refuse.
    people[2] = people[2].model_copy(update={"phone_last4": "1230"})
    engine.load(data.model_copy(update={"patients": people}))
    return engine


@pytest.fixture
def phone(db: Database, clock: FakeClock, hospital: Engine) -> AuthService:
    return AuthService(
        db,
        auth_config(),
        derive_key(ENGINE_KEY, "jwt"),
        clock=clock,
        service_day=hospital.service_day,
    )


def test_phone_login_gives_a_read_only_visit_token(phone: AuthService, clock: FakeClock) -> None:
    s = phone.phone_login("1231", date(1950, 3, 1), "10.1.1.1")
    assert s.claims.visit_id == "v2"
    assert phone.authenticate_patient(s.token, "v2").visit_id == "v2"
    with pytest.raises(NotAuthenticated):
        phone.authenticate_patient(s.token, "v1")  # never another visit
    with pytest.raises(NotAuthenticated):
        phone.authenticate_staff(s.token)
    assert (s.claims.exp - s.claims.iat) == timedelta(seconds=1800)
    clock.advance(seconds=1700)
    renewed = phone.renew_patient(phone.authenticate_patient(s.token, "v2"))
    clock.advance(seconds=200)
    with pytest.raises(TokenExpired):
        phone.authenticate_patient(s.token, "v2")
    phone.authenticate_patient(renewed.token, "v2")
    # Renewals never pass the session's hard end.
    clock.advance(seconds=12 * 3600)
    with pytest.raises(TokenExpired):
        phone.renew_patient(renewed.claims)


def test_phone_login_refuses_ambiguous_and_wrong(phone: AuthService) -> None:
    with pytest.raises(BadCredentials):
        phone.phone_login("1230", date(1950, 3, 1), "10.1.1.2")  # v1 and v3 share these
    # The QR page names the visit, which settles it.
    s = phone.phone_login("1230", date(1950, 3, 1), "10.1.1.3", visit_id="v3")
    assert s.claims.visit_id == "v3"
    with pytest.raises(BadCredentials):
        phone.phone_login("1231", date(1950, 3, 1), "10.1.1.4", visit_id="v1")


def test_phone_login_is_throttled_hard(phone: AuthService, clock: FakeClock) -> None:
    for _ in range(3):
        with pytest.raises(BadCredentials):
            phone.phone_login("0000", date(1950, 3, 1), "10.2.2.2")
    with pytest.raises(BadCredentials):
        phone.phone_login("0001", date(1950, 3, 1), "10.2.2.2")  # 4th: locks 60 s
    with pytest.raises(Throttled) as locked:
        phone.phone_login("1231", date(1950, 3, 1), "10.2.2.2")
    assert locked.value.retry_after_s == 60
    clock.advance(seconds=60)
    with pytest.raises(BadCredentials):
        phone.phone_login("0002", date(1950, 3, 1), "10.2.2.2")  # 5th: 120 s
    with pytest.raises(Throttled) as locked:
        phone.phone_login("1231", date(1950, 3, 1), "10.2.2.2")
    assert locked.value.retry_after_s == 120


def test_phone_login_targeting_one_visit_is_locked_across_addresses(phone: AuthService) -> None:
    for i in range(6):
        with pytest.raises(BadCredentials):
            phone.phone_login(f"{i:04d}", date(1950, 3, 1), f"10.3.3.{i}", visit_id="v1")
    with pytest.raises(Throttled) as locked:
        phone.phone_login("1230", date(1950, 3, 1), "10.3.3.99", visit_id="v1")
    assert locked.value.scope == "ph_visit"
    # Another visit is not affected.
    phone.phone_login("1231", date(1950, 3, 1), "10.3.3.99", visit_id="v2")


def test_phone_login_global_throttle(db: Database, clock: FakeClock, hospital: Engine) -> None:
    svc = AuthService(
        db,
        auth_config(
            phone_global={
                "free_failures": 10,
                "base_lock_s": 30,
                "max_lock_s": 600,
                "window_s": 600,
            }
        ),
        derive_key(ENGINE_KEY, "jwt"),
        clock=clock,
        service_day=hospital.service_day,
    )
    for i in range(11):
        with pytest.raises(BadCredentials):
            svc.phone_login("9999", date(1960, 1, 1), f"10.4.{i}.1")
    with pytest.raises(Throttled) as locked:
        svc.phone_login("1231", date(1950, 3, 1), "10.4.200.1")
    assert locked.value.scope == "ph_global"


def test_one_time_link(phone: AuthService, clock: FakeClock) -> None:
    token, _ = phone.make_link("v2")
    s = phone.redeem_link(token)
    assert s.claims.visit_id == "v2"
    with pytest.raises(NotAuthenticated, match="already used"):
        phone.redeem_link(token)
    late, _ = phone.make_link("v2")
    clock.advance(seconds=601)
    with pytest.raises(TokenExpired):
        phone.redeem_link(late)


def test_visit_sessions_can_be_revoked(phone: AuthService, clock: FakeClock) -> None:
    s = phone.phone_login("1231", date(1950, 3, 1), "10.5.5.5")
    clock.advance(seconds=1)
    phone.revoke_visit_tokens("v2")
    with pytest.raises(TokenRevoked):
        phone.authenticate_patient(s.token, "v2")


def test_command_line_adds_and_disables_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    from central.auth.__main__ import run

    url = f"sqlite:///{tmp_path / 'c.db'}"
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert (
        run(
            [
                "add-user",
                "--db",
                url,
                "--username",
                "Nurse9",
                "--name",
                "김",
                "--role",
                "nurse",
                "--password-stdin",
            ]
        )
        == 0
    )
    assert "created nurse9 (nurse)" in capsys.readouterr().out
    db = Database(url)
    try:
        svc = make_service(db, FakeClock(START))
        s = svc.login("nurse9", "a long password", "10.0.0.1")
        assert run(["disable-user", "--db", url, "--username", "nurse9"]) == 0
        svc.revocations.reload(svc.now() + timedelta(seconds=1))
        with pytest.raises(TokenRevoked):
            svc.authenticate_staff(s.access_token)
        monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
        assert (
            run(
                [
                    "add-user",
                    "--db",
                    url,
                    "--username",
                    "x",
                    "--name",
                    "x",
                    "--role",
                    "nurse",
                    "--password-stdin",
                ]
            )
            == 2
        )
    finally:
        db.dispose()


def test_migration_0002_matches_the_auth_tables(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from central.auth.tables import auth_metadata
    from central.store.migrate import all_metadata

    assert auth_metadata in all_metadata()
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        # Alembic takes a list of MetaData; its type stubs say one.
        diff = compare_metadata(ctx, cast(Any, all_metadata()))
    ours = [d for d in diff if _table_name(d) in auth_metadata.tables]
    assert ours == []


def test_migration_0002_goes_down_and_up(tmp_path: Path) -> None:
    from sqlalchemy import inspect

    from central.store.migrate import downgrade

    d = migrated_db(tmp_path)
    try:
        downgrade(d.engine, "0001")
        assert not {"auth_token_families", "auth_login_throttle"} & set(
            inspect(d.engine).get_table_names()
        )
        d.migrate()
        assert {"auth_token_families", "auth_refresh_tokens", "auth_revoked_jti"} <= set(
            inspect(d.engine).get_table_names()
        )
    finally:
        d.dispose()


def _table_name(diff: object) -> str | None:
    """The table an Alembic autogenerate diff entry is about."""
    first = diff[0] if isinstance(diff, list) else diff
    assert isinstance(first, tuple)
    kind = first[0]
    if kind in ("add_column", "remove_column") or kind.startswith("modify_"):
        return str(first[2])  # (kind, schema, table, column, ...)
    obj = first[1]
    table = getattr(obj, "table", None)
    if table is not None:
        return str(table.name)
    name = getattr(obj, "name", None)
    return str(name) if name is not None else None


def test_prune_drops_only_what_nothing_needs(auth: AuthService, clock: FakeClock) -> None:
    from sqlalchemy import func, select

    from central.auth.tables import login_throttle, refresh_tokens, revoked_jti, token_families

    def count(table: object) -> int:
        with auth.store.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]

    old = auth.login("nurse1", PASSWORD, "10.0.0.1")
    auth.revoke_access(old.claims.jti, old.claims.exp, "test")
    with pytest.raises(BadCredentials):
        auth.login("nurse1", "guess", "10.0.0.2")
    clock.advance(hours=13)  # the first login's family and token have expired
    fresh = auth.login("nurse1", PASSWORD, "10.0.0.1")
    with pytest.raises(BadCredentials):
        auth.login("nurse1", "guess", "10.0.0.3")
    assert count(token_families) == 2
    assert count(revoked_jti) == 1
    assert count(login_throttle) == 5  # acct_addr, addr for .2 and .3, acct (shared)
    auth.store.prune(auth.now(), counter_age=timedelta(hours=12))
    assert count(token_families) == 1
    assert count(refresh_tokens) == 1
    assert count(revoked_jti) == 0
    assert count(login_throttle) == 3  # only the failure an hour ago (its scopes) remains
    auth.refresh(fresh.refresh_token)  # the live login is untouched


def test_token_times_follow_centrals_clock_not_the_machines(db: Database) -> None:
    # A clock far ahead of the machine's (as in a test that simulates a day).
    ahead = FakeClock(START + timedelta(days=400))
    svc = make_service(db, ahead)
    svc.add_user("nurse2", "x", "nurse", PASSWORD)
    s = svc.login("nurse2", PASSWORD, "10.0.0.1")
    svc.authenticate_staff(s.access_token)
    # Issued "in the future" for another worker whose clock is behind: refused, not trusted.
    behind = make_service(db, FakeClock(START))
    with pytest.raises(NotAuthenticated, match="future"):
        behind.authenticate_staff(s.access_token)
