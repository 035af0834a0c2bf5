"""Database access for auth: staff users, token families, revocations, throttle counters,
and the read-only patient look-up of the phone login."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, and_, delete, insert, or_, select, update

from central.auth.tables import (
    login_throttle,
    refresh_tokens,
    revoked_jti,
    subject_revocations,
    token_families,
)
from central.store.db import Database
from central.store.schema import patients, staff_users, visits


@dataclass(frozen=True, slots=True)
class StaffUser:
    """A staff account (the hash stays in here, never in an answer)."""

    user_id: str
    username: str
    display_name: str
    role: str
    password_hash: str
    active: bool


@dataclass(frozen=True, slots=True)
class RefreshRow:
    """A stored refresh token and its family."""

    token_hash: str
    family_id: str
    expires_at: datetime
    used_at: datetime | None
    subject: str
    family_revoked_at: datetime | None
    family_expires_at: datetime


@dataclass(slots=True)
class Counter:
    """A throttle counter."""

    failures: int
    window_start: datetime
    last_failure_at: datetime
    locked_until: datetime | None


def _user(row: object) -> StaffUser:
    m = row._mapping  # type: ignore[attr-defined]
    return StaffUser(
        user_id=m["user_id"],
        username=m["username"],
        display_name=m["display_name"],
        role=m["role"],
        password_hash=m["password_hash"],
        active=bool(m["active"]),
    )


class AuthStore:
    """Every query auth makes, each in its own short transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ staff users

    def user_by_name(self, username: str) -> StaffUser | None:
        with self.db.read() as conn:
            row = conn.execute(
                select(staff_users).where(staff_users.c.username == username)
            ).first()
        return _user(row) if row is not None else None

    def user_by_id(self, user_id: str) -> StaffUser | None:
        with self.db.read() as conn:
            row = conn.execute(select(staff_users).where(staff_users.c.user_id == user_id)).first()
        return _user(row) if row is not None else None

    def users(self) -> list[StaffUser]:
        """Every staff account, by user name."""
        with self.db.read() as conn:
            rows = conn.execute(select(staff_users).order_by(staff_users.c.username)).all()
        return [_user(r) for r in rows]

    def add_user(
        self, username: str, display_name: str, role: str, password_hash: str, now: datetime
    ) -> StaffUser:
        user_id = "u-" + uuid.uuid4().hex[:16]
        values = {
            "user_id": user_id,
            "username": username,
            "display_name": display_name,
            "role": role,
            "password_hash": password_hash,
            "active": True,
            "created_at": now,
            "updated_at": now,
        }
        with self.db.write() as conn:
            conn.execute(insert(staff_users).values(**values))
        return StaffUser(user_id, username, display_name, role, password_hash, True)

    def set_password_hash(self, user_id: str, password_hash: str, now: datetime) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(staff_users)
                .where(staff_users.c.user_id == user_id)
                .values(password_hash=password_hash, updated_at=now)
            )

    def set_active(self, user_id: str, active: bool, now: datetime) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(staff_users)
                .where(staff_users.c.user_id == user_id)
                .values(active=active, updated_at=now)
            )

    # ------------------------------------------------------------------ token families

    def new_family(
        self,
        family_id: str,
        subject: str,
        role: str,
        token_hash: str,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        with self.db.write() as conn:
            conn.execute(
                insert(token_families).values(
                    family_id=family_id,
                    subject=subject,
                    role=role,
                    created_at=now,
                    last_used_at=now,
                    expires_at=expires_at,
                )
            )
            conn.execute(
                insert(refresh_tokens).values(
                    token_hash=token_hash,
                    family_id=family_id,
                    issued_at=now,
                    expires_at=expires_at,
                )
            )

    def refresh_row(self, token_hash: str) -> RefreshRow | None:
        j = refresh_tokens.join(
            token_families, refresh_tokens.c.family_id == token_families.c.family_id
        )
        q = select(
            refresh_tokens.c.token_hash,
            refresh_tokens.c.family_id,
            refresh_tokens.c.expires_at,
            refresh_tokens.c.used_at,
            token_families.c.subject,
            token_families.c.revoked_at,
            token_families.c.expires_at.label("family_expires_at"),
        ).select_from(j)
        with self.db.read() as conn:
            row = conn.execute(q.where(refresh_tokens.c.token_hash == token_hash)).first()
        if row is None:
            return None
        m = row._mapping
        return RefreshRow(
            token_hash=m["token_hash"],
            family_id=m["family_id"],
            expires_at=m["expires_at"],
            used_at=m["used_at"],
            subject=m["subject"],
            family_revoked_at=m["revoked_at"],
            family_expires_at=m["family_expires_at"],
        )

    def rotate(self, old_hash: str, new_hash: str, family_id: str, now: datetime) -> bool:
        """Mark `old_hash` used and store its successor, atomically. False when someone else
        used it first (the compare-and-set lost): the caller treats that as a reuse."""
        with self.db.write() as conn:
            won = conn.execute(
                update(refresh_tokens)
                .where(
                    and_(
                        refresh_tokens.c.token_hash == old_hash, refresh_tokens.c.used_at.is_(None)
                    )
                )
                .values(used_at=now)
            ).rowcount
            if won != 1:
                return False
            fam_exp = conn.execute(
                select(token_families.c.expires_at).where(token_families.c.family_id == family_id)
            ).scalar_one()
            conn.execute(
                insert(refresh_tokens).values(
                    token_hash=new_hash, family_id=family_id, issued_at=now, expires_at=fam_exp
                )
            )
            conn.execute(
                update(token_families)
                .where(token_families.c.family_id == family_id)
                .values(last_used_at=now)
            )
        return True

    def revoke_family(self, family_id: str, reason: str, now: datetime) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(token_families)
                .where(
                    and_(
                        token_families.c.family_id == family_id,
                        token_families.c.revoked_at.is_(None),
                    )
                )
                .values(revoked_at=now, revoked_reason=reason)
            )

    def family_revoked(self, family_id: str) -> bool:
        with self.db.read() as conn:
            at = conn.execute(
                select(token_families.c.revoked_at).where(token_families.c.family_id == family_id)
            ).first()
        return at is None or at[0] is not None

    # ------------------------------------------------------------------ revocation list

    def revoke_jti(self, jti: str, expires_at: datetime, reason: str, now: datetime) -> None:
        with self.db.write() as conn:
            exists = conn.execute(select(revoked_jti.c.jti).where(revoked_jti.c.jti == jti)).first()
            if exists is None:
                conn.execute(
                    insert(revoked_jti).values(
                        jti=jti, revoked_at=now, expires_at=expires_at, reason=reason
                    )
                )

    def claim_jti(self, jti: str, expires_at: datetime, reason: str, now: datetime) -> bool:
        """Record `jti` as spent; False when it already was (one-time links)."""
        with self.db.write() as conn:
            exists = conn.execute(select(revoked_jti.c.jti).where(revoked_jti.c.jti == jti)).first()
            if exists is not None:
                return False
            conn.execute(
                insert(revoked_jti).values(
                    jti=jti, revoked_at=now, expires_at=expires_at, reason=reason
                )
            )
        return True

    def revoke_subject(self, subject: str, before: datetime) -> None:
        with self.db.write() as conn:
            conn.execute(
                delete(subject_revocations).where(subject_revocations.c.subject == subject)
            )
            conn.execute(insert(subject_revocations).values(subject=subject, revoked_before=before))

    def revocations(self, now: datetime) -> tuple[set[str], set[str], dict[str, datetime]]:
        """(revoked jtis, revoked families, subject -> revoked_before), still relevant now."""
        with self.db.read() as conn:
            jtis = set(
                conn.execute(select(revoked_jti.c.jti).where(revoked_jti.c.expires_at > now))
                .scalars()
                .all()
            )
            fams = set(
                conn.execute(
                    select(token_families.c.family_id).where(
                        and_(
                            token_families.c.revoked_at.is_not(None),
                            token_families.c.expires_at > now,
                        )
                    )
                )
                .scalars()
                .all()
            )
            subs = {
                r.subject: r.revoked_before for r in conn.execute(select(subject_revocations)).all()
            }
        return jtis, fams, subs

    def prune(self, now: datetime, counter_age: timedelta = timedelta(days=2)) -> None:
        """Drop rows nothing can need any more: expired tokens and revocations, and throttle
        counters unlocked and quiet for `counter_age` (longer than any policy window)."""
        with self.db.write() as conn:
            conn.execute(
                delete(login_throttle).where(
                    and_(
                        login_throttle.c.last_failure_at < now - counter_age,
                        or_(
                            login_throttle.c.locked_until.is_(None),
                            login_throttle.c.locked_until < now,
                        ),
                    )
                )
            )
            conn.execute(delete(revoked_jti).where(revoked_jti.c.expires_at <= now))
            conn.execute(delete(refresh_tokens).where(refresh_tokens.c.expires_at <= now))
            gone = select(token_families.c.family_id).where(token_families.c.expires_at <= now)
            conn.execute(delete(refresh_tokens).where(refresh_tokens.c.family_id.in_(gone)))
            conn.execute(delete(token_families).where(token_families.c.expires_at <= now))

    # ------------------------------------------------------------------ throttle counters

    def counter(self, conn: Connection, scope: str, key: str) -> Counter | None:
        row = conn.execute(
            select(login_throttle).where(
                and_(login_throttle.c.scope == scope, login_throttle.c.key == key)
            )
        ).first()
        if row is None:
            return None
        m = row._mapping
        return Counter(m["failures"], m["window_start"], m["last_failure_at"], m["locked_until"])

    def put_counter(self, conn: Connection, scope: str, key: str, c: Counter) -> None:
        conn.execute(
            delete(login_throttle).where(
                and_(login_throttle.c.scope == scope, login_throttle.c.key == key)
            )
        )
        conn.execute(
            insert(login_throttle).values(
                scope=scope,
                key=key,
                failures=c.failures,
                window_start=c.window_start,
                last_failure_at=c.last_failure_at,
                locked_until=c.locked_until,
            )
        )

    def clear_counter(self, conn: Connection, scope: str, key: str) -> None:
        conn.execute(
            delete(login_throttle).where(
                and_(login_throttle.c.scope == scope, login_throttle.c.key == key)
            )
        )

    # ------------------------------------------------------------------ patients (read-only)

    def visits_for_phone(self, last4: str, birth: date, day: date) -> list[str]:
        """Today's visit ids of patients with these phone digits and birth date."""
        j = visits.join(patients, visits.c.patient_id == patients.c.patient_id)
        q = (
            select(visits.c.visit_id)
            .select_from(j)
            .where(
                and_(
                    patients.c.phone_last4 == last4,
                    patients.c.birth_date == birth,
                    visits.c.service_day == day,
                )
            )
        )
        with self.db.read() as conn:
            return list(conn.execute(q).scalars().all())

    def visit_matches(self, visit_id: str, last4: str, birth: date, day: date) -> bool:
        """True when the visit is today's and its patient has these digits and birth date."""
        j = visits.join(patients, visits.c.patient_id == patients.c.patient_id)
        q = (
            select(visits.c.visit_id)
            .select_from(j)
            .where(
                and_(
                    visits.c.visit_id == visit_id,
                    patients.c.phone_last4 == last4,
                    patients.c.birth_date == birth,
                    visits.c.service_day == day,
                )
            )
        )
        with self.db.read() as conn:
            return conn.execute(q).first() is not None
