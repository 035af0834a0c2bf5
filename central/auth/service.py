"""The auth service: staff login, refresh rotation with reuse detection, logout and
revocation, patient phone login and one-time links. Synchronous (database calls); the HTTP
layer runs it in worker threads.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from prometheus_client import Counter

from central.auth.config import AuthConfig, ThrottlePolicy
from central.auth.errors import (
    BadCredentials,
    NotAuthenticated,
    RefreshRace,
    RefreshReused,
    TokenExpired,
    TokenRevoked,
)
from central.auth.passwords import Passwords
from central.auth.roles import Role
from central.auth.store import AuthStore, StaffUser
from central.auth.throttle import Throttle
from central.auth.tokens import (
    LinkClaims,
    PatientClaims,
    StaffClaims,
    TokenSigner,
    refresh_token,
    token_hash,
)
from central.clock import Clock, SystemClock
from central.store.db import Database

log = logging.getLogger("central.auth")

LOGINS = Counter(
    "nfch_auth_logins_total", "Login attempts by kind and outcome", ["kind", "outcome"]
)
REFRESH = Counter("nfch_auth_refresh_total", "Refresh attempts by outcome", ["outcome"])

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
LAST4 = re.compile(r"^[0-9]{4}$")


@dataclass(frozen=True, slots=True)
class StaffSession:
    """What a login or a refresh hands the browser."""

    access_token: str
    claims: StaffClaims
    refresh_token: str
    refresh_expires_at: datetime
    csrf: str


@dataclass(frozen=True, slots=True)
class PatientSession:
    """A phone-page token for one visit."""

    token: str
    claims: PatientClaims


class RevocationCache:
    """Revoked jtis, families and subjects, reloaded from the database when older than the
    TTL (≤ 60 s), so a revocation made by any worker is honoured within a minute; one made
    by this worker is honoured at once."""

    def __init__(self, store: AuthStore, ttl_s: float) -> None:
        self._store = store
        self.ttl = timedelta(seconds=ttl_s)
        self._lock = threading.Lock()
        self._loaded_at: datetime | None = None
        self._jtis: set[str] = set()
        self._fams: set[str] = set()
        self._subjects: dict[str, datetime] = {}

    def stale(self, now: datetime) -> bool:
        return self._loaded_at is None or now - self._loaded_at >= self.ttl

    def reload(self, now: datetime) -> None:
        jtis, fams, subjects = self._store.revocations(now)
        with self._lock:
            self._jtis, self._fams, self._subjects = jtis, fams, subjects
            self._loaded_at = now

    def ensure(self, now: datetime) -> None:
        if self.stale(now):
            self.reload(now)

    def note(self, *, jti: str | None = None, family: str | None = None) -> None:
        with self._lock:
            if jti:
                self._jtis.add(jti)
            if family:
                self._fams.add(family)

    def note_subject(self, subject: str, before: datetime) -> None:
        with self._lock:
            self._subjects[subject] = before

    def revoked(self, *, jti: str, family: str | None, subject: str, iat: datetime) -> bool:
        with self._lock:
            if jti in self._jtis or (family is not None and family in self._fams):
                return True
            before = self._subjects.get(subject)
        return before is not None and iat <= before


class AuthService:
    """Every auth decision, over the auth tables."""

    def __init__(
        self,
        db: Database,
        config: AuthConfig,
        key: bytes,
        *,
        clock: Clock | None = None,
        service_day: Callable[[], date] | None = None,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.store = AuthStore(db)
        self.signer = TokenSigner(key)
        self.passwords = Passwords(
            time_cost=config.password_time_cost,
            memory_kib=config.password_memory_kib,
            parallelism=config.password_parallelism,
        )
        self.throttle = Throttle(self.store)
        self.revocations = RevocationCache(self.store, config.revocation_cache_s)
        self._service_day = service_day or (lambda: self.clock.now().date())

    def now(self) -> datetime:
        return self.clock.now()

    # ------------------------------------------------------------------ staff accounts

    def add_user(self, username: str, display_name: str, role: str, password: str) -> StaffUser:
        """Create a staff account (user name lower-case; role one of Role)."""
        username = username.strip().lower()
        if not USERNAME.match(username):
            raise ValueError(
                f"user name {username!r} must be 1-64 of a-z 0-9 . _ - (starting with a "
                "letter or digit)"
            )
        Role(role)  # raises ValueError naming the bad role
        if len(password) < 10:
            raise ValueError("a password needs at least 10 characters")
        return self.store.add_user(
            username, display_name, role, self.passwords.hash(password), self.now()
        )

    def revoke_user_tokens(self, user_id: str) -> None:
        """Void every token of a user issued until now (disabled account, new password)."""
        now = self.now()
        self.store.revoke_subject(user_id, now)
        self.revocations.note_subject(user_id, now)
        log.info("auth.subject_revoked subject=%s", user_id)

    def disable_user(self, user_id: str) -> None:
        """Disable an account and void its tokens."""
        self.store.set_active(user_id, False, self.now())
        self.revoke_user_tokens(user_id)

    def enable_user(self, user_id: str) -> None:
        """Let a disabled account log in again (old tokens stay void)."""
        self.store.set_active(user_id, True, self.now())

    # ------------------------------------------------------------------ staff login

    def _staff_checks(
        self, username: str, address: str, trusted_device: bool
    ) -> list[tuple[str, str, ThrottlePolicy]]:
        c = self.config
        checks = [
            ("acct_addr", f"{username}|{address}", c.staff_account_address),
            ("addr", address, c.staff_address),
        ]
        if not trusted_device:
            checks.append(("acct", username, c.staff_account))
        return checks

    def login(
        self, username: str, password: str, address: str, device: str | None = None
    ) -> StaffSession:
        """Check a password under the throttles and start a login (a new token family)."""
        now = self.now()
        username = username.strip().lower()[:64]
        trusted = self.signer.device_ok(device, username, now)
        checks = self._staff_checks(username, address, trusted)
        with self.store.db.write() as conn:
            self.throttle.check(conn, checks, now)
        user = self.store.user_by_name(username) if USERNAME.match(username) else None
        stored = user.password_hash if user is not None and user.active else None
        ok, new_hash = self.passwords.verify(stored, password)
        if not ok or user is None:
            # Count on every scope, the account-wide one too (even for a trusted device,
            # whose own lock is the account+address one).
            all_checks = self._staff_checks(username, address, False)
            with self.store.db.write() as conn:
                self.throttle.fail(conn, all_checks, now)
            LOGINS.labels(kind="staff", outcome="bad_credentials").inc()
            log.info("auth.login_failed user=%s address=%s", username, address)
            raise BadCredentials()
        with self.store.db.write() as conn:
            self.throttle.succeed(conn, [("acct_addr", f"{username}|{address}")])
        if new_hash is not None:
            self.store.set_password_hash(user.user_id, new_hash, now)
            log.info("auth.password_rehashed user=%s", username)
        family = str(uuid.uuid4())
        rt = refresh_token()
        expires = now + timedelta(seconds=self.config.refresh_ttl_s)
        self.store.new_family(family, user.user_id, user.role, token_hash(rt), now, expires)
        LOGINS.labels(kind="staff", outcome="ok").inc()
        log.info("auth.login user=%s role=%s family=%s", username, user.role, family)
        return self._session(user, family, rt, expires, now)

    def _session(
        self, user: StaffUser, family: str, rt: str, expires: datetime, now: datetime
    ) -> StaffSession:
        access, claims = self.signer.issue_staff(
            sub=user.user_id,
            username=user.username,
            name=user.display_name,
            role=user.role,
            fam=family,
            now=now,
            ttl_s=self.config.access_ttl_s,
        )
        return StaffSession(access, claims, rt, expires, self.signer.csrf_for(family))

    def refresh(self, presented: str) -> StaffSession:
        """Rotate a refresh token. A token used before (outside the tab-race grace) revokes
        its whole family: someone holds a copy."""
        now = self.now()
        row = self.store.refresh_row(token_hash(presented))
        if row is None:
            REFRESH.labels(outcome="unknown").inc()
            raise NotAuthenticated("unknown refresh token")
        if row.family_revoked_at is not None:
            REFRESH.labels(outcome="revoked").inc()
            raise TokenRevoked("this login was revoked")
        if row.family_expires_at <= now or row.expires_at <= now:
            REFRESH.labels(outcome="expired").inc()
            raise TokenExpired("this login expired")
        if row.used_at is not None:
            if (now - row.used_at).total_seconds() <= self.config.refresh_reuse_grace_s:
                REFRESH.labels(outcome="race").inc()
                raise RefreshRace("refreshed a moment ago")
            self._revoke_family(row.family_id, "refresh_reuse")
            REFRESH.labels(outcome="reuse").inc()
            log.warning("auth.refresh_reuse family=%s subject=%s", row.family_id, row.subject)
            raise RefreshReused("refresh token reused; login revoked")
        user = self.store.user_by_id(row.subject)
        if user is None or not user.active:
            self._revoke_family(row.family_id, "user_disabled")
            raise TokenRevoked("the account is disabled")
        rt = refresh_token()
        if not self.store.rotate(row.token_hash, token_hash(rt), row.family_id, now):
            REFRESH.labels(outcome="race").inc()
            raise RefreshRace("another request rotated this token")
        REFRESH.labels(outcome="ok").inc()
        return self._session(user, row.family_id, rt, row.family_expires_at, now)

    def _revoke_family(self, family: str, reason: str) -> None:
        self.store.revoke_family(family, reason, self.now())
        self.revocations.note(family=family)

    def logout(self, presented_refresh: str | None, claims: StaffClaims | None) -> None:
        """End a login: its family and the access token in hand."""
        now = self.now()
        family = claims.fam if claims is not None else None
        if family is None and presented_refresh:
            row = self.store.refresh_row(token_hash(presented_refresh))
            family = row.family_id if row is not None else None
        if family is not None:
            self._revoke_family(family, "logout")
        if claims is not None:
            self.revoke_access(claims.jti, claims.exp, "logout")
        log.info("auth.logout family=%s", family)
        del now

    def revoke_access(self, jti: str, expires_at: datetime, reason: str) -> None:
        """Put one access token on the revocation list."""
        self.store.revoke_jti(jti, expires_at, reason, self.now())
        self.revocations.note(jti=jti)

    def authenticate_staff(self, token: str) -> StaffClaims:
        """Verify a staff access token against signature, expiry and the revocation list."""
        now = self.now()
        claims = self.signer.verify_staff(token, now)
        self.revocations.ensure(now)
        if self.revocations.revoked(
            jti=claims.jti, family=claims.fam, subject=claims.sub, iat=claims.iat
        ):
            raise TokenRevoked("token revoked")
        return claims

    def family_csrf(self, presented_refresh: str) -> str | None:
        """The CSRF token of the login a refresh token belongs to (None: unknown token)."""
        row = self.store.refresh_row(token_hash(presented_refresh))
        return self.signer.csrf_for(row.family_id) if row is not None else None

    def device_cookie(self, username: str) -> str:
        return self.signer.device_cookie(username, self.now(), self.config.device_cookie_days)

    # ------------------------------------------------------------------ patients

    def _patient_session(self, visit_id: str, auth_time: datetime) -> PatientSession:
        now = self.now()
        end = min(
            now + timedelta(seconds=self.config.patient_ttl_s),
            auth_time + timedelta(seconds=self.config.patient_max_s),
        )
        if end <= now:
            raise TokenExpired("the phone-page session ended; log in again")
        token, claims = self.signer.issue_patient(
            visit_id=visit_id, now=now, exp=end, auth_time=auth_time
        )
        return PatientSession(token, claims)

    def phone_login(
        self, last4: str, birth: date, address: str, visit_id: str | None = None
    ) -> PatientSession:
        """Phone digits + birth date -> a read-only token for today's visit. Hard throttles:
        per address, per targeted visit and for everyone together."""
        now = self.now()
        c = self.config
        checks = [("ph_addr", address, c.phone_address), ("ph_global", "*", c.phone_global)]
        if visit_id is not None:
            checks.append(("ph_visit", visit_id, c.phone_visit))
        with self.store.db.write() as conn:
            self.throttle.check(conn, checks, now)
        day = self._service_day()
        found: str | None = None
        if LAST4.match(last4):
            if visit_id is not None:
                if self.store.visit_matches(visit_id, last4, birth, day):
                    found = visit_id
            else:
                ids = self.store.visits_for_phone(last4, birth, day)
                # Two patients sharing digits and birth date: refuse rather than guess.
                found = ids[0] if len(ids) == 1 else None
        if found is None:
            with self.store.db.write() as conn:
                self.throttle.fail(conn, checks, now)
            LOGINS.labels(kind="phone", outcome="bad_credentials").inc()
            log.info("auth.phone_login_failed address=%s targeted=%s", address, bool(visit_id))
            raise BadCredentials()
        with self.store.db.write() as conn:
            self.throttle.succeed(conn, [("ph_addr", address)])
        LOGINS.labels(kind="phone", outcome="ok").inc()
        return self._patient_session(found, now)

    def make_link(self, visit_id: str) -> tuple[str, LinkClaims]:
        """A one-time link token for a visit (staff hand it over, e.g. as a QR code)."""
        return self.signer.issue_link(
            visit_id=visit_id, now=self.now(), ttl_s=self.config.patient_link_ttl_s
        )

    def redeem_link(self, token: str) -> PatientSession:
        """Exchange a one-time link for a phone-page session (a second use fails)."""
        now = self.now()
        claims = self.signer.verify_link(token, now)
        if not self.store.claim_jti(claims.jti, claims.exp, "link_used", now):
            raise NotAuthenticated("this link was already used")
        return self._patient_session(claims.visit_id, now)

    def authenticate_patient(self, token: str, visit_id: str) -> PatientClaims:
        """Verify a phone-page token and that it is for `visit_id`."""
        now = self.now()
        claims = self.signer.verify_patient(token, now)
        if claims.visit_id != visit_id:
            raise NotAuthenticated("token is for another visit")
        self.revocations.ensure(now)
        if self.revocations.revoked(
            jti=claims.jti, family=None, subject="visit:" + visit_id, iat=claims.iat
        ):
            raise TokenRevoked("token revoked")
        return claims

    def renew_patient(self, claims: PatientClaims) -> PatientSession:
        """A fresh phone-page token for the same visit, within the session's hard end."""
        return self._patient_session(claims.visit_id, claims.auth_time)

    def revoke_visit_tokens(self, visit_id: str) -> None:
        """End every phone-page session of a visit (staff: 'not my phone')."""
        now = self.now()
        self.store.revoke_subject("visit:" + visit_id, now)
        self.revocations.note_subject("visit:" + visit_id, now)
