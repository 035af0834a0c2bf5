"""Admin routes: service-day settings changed at runtime, and the list of station enrolment
codes (never their secret) with the revocation of a pending one.

Service-day settings (`GET/PUT /api/v1/admin/settings`, admin only) are kept in
`service_settings` and win over central.toml; every change is written to
`service_settings_audit` (who, when, before, after, from which day). What can change while
central runs, and how it applies:

- `missed_requeue_after`, `no_show_after_calls`: the next missed call uses them.
- `lease_block_size`, `lease_low_water`, `lease_days_ahead`: the next block cut for a station
  or for central; stations get the new low-water mark with the next `directory/config`
  (republished at once).
- `day_starts_at`: from the first service day that has not begun under the new rule (the
  running day is never cut short or stretched backwards), see `ShiftedServiceDay`.
- The time zone cannot change while central runs (every stored service day depends on it):
  it is shown read-only; change `site.timezone` in central.toml and restart.

Other central workers on the same database follow within `RuntimeSettings.check_s`.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import Field, ValidationError
from sqlalchemy import Connection, insert, select, update

from central.api.errors import InvalidInput, NotFound, from_validation
from central.api.registry import Call, Registry
from central.auth.http import actor_of
from central.clock import ServiceDay
from central.config import QueueSettings, SiteSettings
from central.engine import Engine
from central.engine.leases import LeaseSettings
from central.enrolment import enrolment_codes
from central.store.db import Database
from central.store.schema import directory_versions, service_settings, service_settings_audit
from protocol.base import LocalizedText, Model

log = logging.getLogger("central.admin")

NUMBER_KEYS = (
    "missed_requeue_after",
    "no_show_after_calls",
    "lease_block_size",
    "lease_low_water",
    "lease_days_ahead",
)
DAY_START = "day_starts_at"
HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
HISTORY = 50


# ---------------------------------------------------------------------------------------------
# the service day when its start time changes


class ShiftedServiceDay(ServiceDay):
    """Service days that start at `previous` before `from_day` and at `value` from it on.

    `from_day` is chosen so that its new start is still ahead (see `first_day_under`), so the
    day running when the change was made keeps its number and days never go backwards.
    """

    def __init__(self, timezone: str, previous: str, value: str, from_day: date) -> None:
        self._before = ServiceDay(timezone, previous)
        self.from_day = from_day
        super().__init__(timezone, value)
        self._switch = ServiceDay.start_of(self, from_day)

    def of(self, at: datetime) -> date:
        if at >= self._switch:
            return super().of(at)
        return min(self._before.of(at), self.from_day - timedelta(days=1))

    def start_of(self, day: date) -> datetime:
        if day >= self.from_day:
            return super().start_of(day)
        return self._before.start_of(day)


def first_day_under(timezone: str, value: str, today: date, now: datetime) -> date:
    """The first service day after `today` whose start under the new rule is still ahead."""
    new = ServiceDay(timezone, value)
    day = today + timedelta(days=1)
    while new.start_of(day) <= now:
        day += timedelta(days=1)
    return day


# ---------------------------------------------------------------------------------------------
# storage


@dataclass(frozen=True, slots=True)
class DayStart:
    """A stored day start: `value` from `from_day` on, `previous` before it."""

    value: str
    previous: str
    from_day: date

    def in_force(self, day: date) -> str:
        return self.value if day >= self.from_day else self.previous

    def as_json(self) -> dict[str, str]:
        return {
            "value": self.value,
            "previous": self.previous,
            "from_day": self.from_day.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Stored:
    """The settings rows: numbers by key, the day start, and who changed each last."""

    numbers: dict[str, int] = field(default_factory=dict)
    day_start: DayStart | None = None
    changed: dict[str, tuple[str, datetime]] = field(default_factory=dict)


def load_stored(db: Database) -> Stored:
    """Every stored setting (rows of unknown keys are ignored)."""
    numbers: dict[str, int] = {}
    day_start: DayStart | None = None
    changed: dict[str, tuple[str, datetime]] = {}
    with db.read() as conn:
        for r in conn.execute(select(service_settings)):
            if r.key in NUMBER_KEYS and isinstance(r.value, int):
                numbers[r.key] = r.value
            elif r.key == DAY_START and isinstance(r.value, dict):
                v = r.value
                day_start = DayStart(v["value"], v["previous"], date.fromisoformat(v["from_day"]))
            else:
                continue
            changed[r.key] = (r.updated_by, r.updated_at)
    return Stored(numbers, day_start, changed)


def _put(conn: Connection, key: str, value: Any, actor: str, now: datetime) -> None:
    n = conn.execute(
        update(service_settings)
        .where(service_settings.c.key == key)
        .values(value=value, updated_by=actor, updated_at=now)
    ).rowcount
    if not n:
        conn.execute(
            insert(service_settings).values(key=key, value=value, updated_by=actor, updated_at=now)
        )


# ---------------------------------------------------------------------------------------------
# the runtime settings of one engine


class SettingsInvalid(InvalidInput):
    """A settings change that cannot be applied."""

    reason = "settings_invalid"
    message_ko = "설정 값이 올바르지 않습니다. 아무것도 바뀌지 않았습니다."
    message_en = "A setting is not valid; nothing was changed."


@dataclass(frozen=True, slots=True)
class Change:
    """One audited change."""

    key: str
    before: Any
    after: Any
    effective_day: date


class RuntimeSettings:
    """The config file's queue rules and day start, overlaid with the stored settings, applied
    to the engine (thread-safe; one per engine, see `runtime_for`)."""

    check_s = 10.0

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.base_site: SiteSettings = engine.site
        self.base_queue: QueueSettings = engine.queue
        self.stored = Stored()
        self._applied_for: tuple[Stored, date] | None = None

    # -- reading

    def queue(self, stored: Stored | None = None) -> QueueSettings:
        s = stored or self.stored
        return self.base_queue.model_copy(update=s.numbers)

    def day_start(self, day: date, stored: Stored | None = None) -> str:
        s = stored or self.stored
        return s.day_start.in_force(day) if s.day_start else self.base_site.day_starts_at

    # -- applying

    def refresh(self) -> bool:
        """Read the stored settings and apply them when they (or the service day) changed;
        True when something was applied."""
        stored = load_stored(self.engine.db)
        return self.apply(stored)

    def apply(self, stored: Stored) -> bool:
        e = self.engine
        tz = self.base_site.timezone
        ds = stored.day_start
        days = (
            ShiftedServiceDay(tz, ds.previous, ds.value, ds.from_day)
            if ds is not None and ds.previous != ds.value
            else ServiceDay(tz, ds.value if ds else self.base_site.day_starts_at)
        )
        today = days.of(e.clock.now())
        if self._applied_for == (stored, today):
            return False
        q = self.queue(stored)
        # Plain attribute swaps: an operation in flight finishes under the old rules, the next
        # one reads the new ones.
        e.queue = q
        e.lease_settings = LeaseSettings(
            block_size=q.lease_block_size,
            low_water=q.lease_low_water,
            days_ahead=q.lease_days_ahead,
        )
        e.days = days
        e.site = self.base_site.model_copy(update={"day_starts_at": self.day_start(today, stored)})
        self.stored = stored
        self._applied_for = (stored, today)
        log.info(
            "admin.settings_applied day=%s day_starts_at=%s numbers=%s",
            today,
            e.site.day_starts_at,
            {k: getattr(q, k) for k in NUMBER_KEYS},
        )
        return True

    async def run(self) -> None:
        """Follow changes made by other workers (and the day a new day start takes effect)."""
        while True:
            await asyncio.sleep(self.check_s)
            try:
                await asyncio.to_thread(self.refresh)
            except Exception:
                log.exception("admin.settings_refresh_failed")

    # -- changing

    def change(self, body: SettingsIn, actor: str) -> list[Change]:
        """Validate every requested change (SettingsInvalid: nothing written), then store and
        audit them in one transaction, then apply. Unchanged values are not audited."""
        if body.timezone is not None and body.timezone != self.base_site.timezone:
            raise SettingsInvalid(
                "the time zone cannot change while central runs: set site.timezone in "
                "central.toml and restart central",
                "body.timezone",
            )
        current = load_stored(self.engine.db)
        self.apply(current)
        now = self.engine.clock.now()
        today = self.engine.service_day(now)
        old_q = self.queue(current)
        wanted = {k: getattr(body, k) for k in NUMBER_KEYS if getattr(body, k) is not None}
        try:
            new_q = QueueSettings.model_validate({**old_q.model_dump(), **wanted})
        except ValidationError as e:
            raise SettingsInvalid(*_first(from_validation(e, "body"))) from None
        if new_q.lease_low_water >= new_q.lease_block_size:
            where = "lease_low_water" if "lease_low_water" in wanted else "lease_block_size"
            raise SettingsInvalid(
                f"lease_low_water ({new_q.lease_low_water}) must be smaller than "
                f"lease_block_size ({new_q.lease_block_size})",
                f"body.{where}",
            )
        changes = [
            Change(k, getattr(old_q, k), v, today)
            for k, v in wanted.items()
            if getattr(old_q, k) != v
        ]
        new_day_start: DayStart | None = None
        if body.day_starts_at is not None:
            in_force = self.day_start(today, current)
            pending = current.day_start.value if current.day_start else in_force
            if body.day_starts_at != pending:
                if body.day_starts_at == in_force:  # withdraw a change not yet in force
                    new_day_start = DayStart(in_force, in_force, today)
                else:
                    frm = first_day_under(self.base_site.timezone, body.day_starts_at, today, now)
                    new_day_start = DayStart(body.day_starts_at, in_force, frm)
                changes.append(
                    Change(DAY_START, pending, body.day_starts_at, new_day_start.from_day)
                )
        if not changes:
            return []

        def tx(conn: Connection) -> None:
            for c in changes:
                value = new_day_start.as_json() if c.key == DAY_START and new_day_start else c.after
                _put(conn, c.key, value, actor, now)
                conn.execute(
                    insert(service_settings_audit).values(
                        at=now,
                        actor=actor,
                        key=c.key,
                        before=c.before,
                        after=c.after,
                        effective_day=c.effective_day,
                    )
                )
            # Stations read lease_low_water and day_starts_at from directory/config.
            conn.execute(
                update(directory_versions)
                .where(directory_versions.c.kind == "config")
                .values(version=directory_versions.c.version + 1, changed_at=now)
            )

        self.engine.db.run_write(tx)
        for c in changes:
            log.info(
                "admin.setting_changed key=%s before=%s after=%s from=%s actor=%s",
                c.key,
                c.before,
                c.after,
                c.effective_day,
                actor,
            )
        self.refresh()
        return changes

    def history(self, limit: int = HISTORY) -> list[SettingChangeOut]:
        with self.engine.db.read() as conn:
            rows = conn.execute(
                select(service_settings_audit)
                .order_by(service_settings_audit.c.id.desc())
                .limit(limit)
            ).all()
        return [
            SettingChangeOut(
                at=r.at,
                actor=r.actor,
                key=r.key,
                before=r.before,
                after=r.after,
                effective_day=r.effective_day,
            )
            for r in rows
        ]

    def document(self) -> SettingsOut:
        stored = load_stored(self.engine.db)
        self.apply(stored)
        today = self.engine.service_day()
        q = self.queue(stored)
        bounds = _bounds()
        out: list[SettingOut] = []
        ds = stored.day_start
        by, at = stored.changed.get(DAY_START, (None, None))
        out.append(
            SettingOut(
                key=DAY_START,
                value=self.day_start(today, stored),
                config_value=self.base_site.day_starts_at,
                source="admin" if ds is not None else "config",
                pending_value=ds.value if ds is not None and ds.from_day > today else None,
                pending_from=ds.from_day if ds is not None and ds.from_day > today else None,
                updated_by=by,
                updated_at=at,
            )
        )
        for k in NUMBER_KEYS:
            by, at = stored.changed.get(k, (None, None))
            lo, hi = bounds[k]
            out.append(
                SettingOut(
                    key=k,
                    value=getattr(q, k),
                    config_value=getattr(self.base_queue, k),
                    source="admin" if k in stored.numbers else "config",
                    minimum=lo,
                    maximum=hi,
                    updated_by=by,
                    updated_at=at,
                )
            )
        return SettingsOut(
            service_day=today,
            timezone=self.base_site.timezone,
            timezone_note=LocalizedText(
                ko="시간대는 운영 중에 바꿀 수 없습니다. central.toml의 site.timezone을 "
                "고친 뒤 central을 다시 시작하세요.",
                en="The time zone cannot change while central runs: edit site.timezone "
                "in central.toml and restart central.",
            ),
            settings=out,
            changes=self.history(),
        )


def _first(e: InvalidInput) -> tuple[str, str]:
    return e.detail, e.where


def _bounds() -> dict[str, tuple[int | None, int | None]]:
    props = QueueSettings.model_json_schema()["properties"]
    return {k: (props[k].get("minimum"), props[k].get("maximum")) for k in NUMBER_KEYS}


_RUNTIME: weakref.WeakKeyDictionary[Engine, RuntimeSettings] = weakref.WeakKeyDictionary()


def runtime_for(engine: Engine) -> RuntimeSettings:
    """The runtime settings of `engine` (made on first use from its config settings)."""
    rt = _RUNTIME.get(engine)
    if rt is None:
        rt = _RUNTIME[engine] = RuntimeSettings(engine)
    return rt


# ---------------------------------------------------------------------------------------------
# models


class SettingsIn(Model):
    """Settings to change (omit a key to leave it); all or nothing."""

    day_starts_at: str | None = Field(
        default=None,
        pattern=HHMM,
        description="Local time (HH:MM) the service day turns; applies from the first service "
        "day that has not begun under the new time.",
    )
    missed_requeue_after: int | None = Field(
        default=None, ge=0, le=100, description="A missed call goes back after N others."
    )
    no_show_after_calls: int | None = Field(
        default=None, ge=1, le=20, description="Missed after K calls: a no-show."
    )
    lease_block_size: int | None = Field(
        default=None, ge=1, le=1000, description="Ticket numbers per leased block."
    )
    lease_low_water: int | None = Field(
        default=None,
        ge=0,
        le=1000,
        description="New block when fewer are left (smaller than lease_block_size).",
    )
    lease_days_ahead: int | None = Field(
        default=None, ge=0, le=3, description="Also lease blocks for this many coming days."
    )
    timezone: str | None = Field(
        default=None,
        max_length=64,
        description="Read-only: accepted only when unchanged (a restart changes it).",
    )


class SettingOut(Model):
    """One setting as in force now."""

    key: str = Field(description="Setting name.")
    value: int | str = Field(description="Value in force now.")
    config_value: int | str = Field(description="Value in central.toml (or its default).")
    source: Literal["config", "admin"] = Field(description="Where the value comes from.")
    minimum: int | None = Field(default=None, description="Smallest allowed.")
    maximum: int | None = Field(default=None, description="Largest allowed.")
    pending_value: str | None = Field(default=None, description="A day start not yet in force.")
    pending_from: date | None = Field(default=None, description="The service day it starts.")
    updated_by: str | None = Field(default=None, description="Who changed it last.")
    updated_at: datetime | None = Field(default=None, description="When.")


class SettingChangeOut(Model):
    """One audited change."""

    at: datetime = Field(description="When (UTC).")
    actor: str = Field(description="Who.")
    key: str = Field(description="Which setting.")
    before: int | str | None = Field(description="Value before.")
    after: int | str = Field(description="Value after.")
    effective_day: date | None = Field(description="First service day under the new value.")


class SettingsOut(Model):
    """Service-day settings, the read-only time zone, and the latest changes."""

    service_day: date = Field(description="Today's service day.")
    timezone: str = Field(description="IANA time zone (read-only while central runs).")
    timezone_note: LocalizedText = Field(description="Why it is read-only.")
    settings: list[SettingOut] = Field(description="Every setting that can change at runtime.")
    changes: list[SettingChangeOut] = Field(description=f"The latest {HISTORY} changes.")


CodeStatus = Literal["pending", "used", "expired", "revoked"]


class CodeRowOut(Model):
    """An enrolment code, without its secret (only its hash is stored anyway)."""

    station_id: str = Field(description="The station it enrols.")
    name: LocalizedText = Field(description="Station name.")
    node_id: str | None = Field(description="Map node where it stands.")
    status: CodeStatus = Field(description="pending, used, expired or revoked.")
    created_by: str = Field(description="Who made it.")
    created_at: datetime = Field(description="When.")
    expires_at: datetime = Field(description="When it stops (stopped) working.")
    used_at: datetime | None = Field(description="When a Pi used it.")
    used_by_host: str | None = Field(description="Host name of the Pi that used it.")
    revoked_at: datetime | None = Field(description="When it was withdrawn.")


class CodesOut(Model):
    """Enrolment codes of the last `days` days, newest first."""

    codes: list[CodeRowOut] = Field(description="Codes, newest first.")


class CodesQuery(Model):
    """Which codes."""

    days: int = Field(default=7, ge=1, le=90, description="Codes made in the last N days.")


def code_status(r: Any, now: datetime) -> CodeStatus:
    if r.revoked_at is not None:
        return "revoked"
    if r.used_at is not None:
        return "used"
    return "expired" if r.expires_at <= now else "pending"


def list_codes(db: Database, now: datetime, days: int = 7, limit: int = 500) -> list[CodeRowOut]:
    since = now - timedelta(days=days)
    c = enrolment_codes.c
    q = (
        select(
            c.station_id,
            c.name,
            c.node_id,
            c.created_by,
            c.created_at,
            c.expires_at,
            c.used_at,
            c.used_by_host,
            c.revoked_at,
        )
        .where(c.created_at >= since)
        .order_by(c.created_at.desc(), c.station_id)
        .limit(limit)
    )
    with db.read() as conn:
        return [
            CodeRowOut(
                station_id=r.station_id,
                name=LocalizedText.model_validate(r.name),
                node_id=r.node_id,
                status=code_status(r, now),
                created_by=r.created_by,
                created_at=r.created_at,
                expires_at=r.expires_at,
                used_at=r.used_at,
                used_by_host=r.used_by_host,
                revoked_at=r.revoked_at,
            )
            for r in conn.execute(q)
        ]


def revoke_pending_codes(db: Database, station_id: str, now: datetime) -> int:
    """Withdraw every pending code of `station_id` (one conditional UPDATE: a Pi using the
    code at this instant either wins before it or is refused after it). Returns how many."""
    c = enrolment_codes.c

    def tx(conn: Connection) -> int:
        return int(
            conn.execute(
                update(enrolment_codes)
                .where(
                    c.station_id == station_id,
                    c.used_at.is_(None),
                    c.revoked_at.is_(None),
                    c.expires_at > now,
                )
                .values(revoked_at=now, expires_at=now)
            ).rowcount
        )

    return db.run_write(tx)


# ---------------------------------------------------------------------------------------------
# routes


class Republisher(Protocol):
    """What a settings change needs of the change publisher."""

    def mark_all(self) -> Awaitable[None]: ...


def admin_routes(
    registry: Registry,
    engine_of: Callable[[Call], Engine],
    publisher_of: Callable[[Call], Republisher | None],
) -> None:
    """Declare the admin routes on `registry`."""

    @registry.route(
        "GET",
        "/admin/settings",
        response=SettingsOut,
        summary="Service-day settings in force, and the latest changes",
        roles=("admin",),
        tags=("admin",),
        name="get_settings",
    )
    async def get_settings(call: Call) -> SettingsOut:
        """The values in force (config file overlaid with admin changes)."""
        rt = runtime_for(engine_of(call))
        return await asyncio.to_thread(rt.document)

    @registry.route(
        "PUT",
        "/admin/settings",
        body=SettingsIn,
        response=SettingsOut,
        summary="Change service-day settings (audited; all or nothing)",
        roles=("admin",),
        tags=("admin",),
        errors=(422,),
        name="put_settings",
    )
    async def put_settings(call: Call) -> SettingsOut:
        """Applies at once (a new day start: from the next service day that has not begun);
        stations get the new `directory/config` at once."""
        engine = engine_of(call)
        rt = runtime_for(engine)
        actor = (actor_of(call.request) or "api")[:64]
        changes = await asyncio.to_thread(rt.change, call.body, actor)
        publisher = publisher_of(call)
        if changes and publisher is not None:
            await publisher.mark_all()  # config (low-water, day start) and leases
        return await asyncio.to_thread(rt.document)

    @registry.route(
        "GET",
        "/stations/enrolment-codes",
        query=CodesQuery,
        response=CodesOut,
        summary="Enrolment codes (never the code itself): pending, used, expired, revoked",
        roles=("admin", "technician"),
        tags=("stations",),
        name="list_enrolment_codes",
    )
    async def get_codes(call: Call) -> CodesOut:
        """Codes made in the last `days` days, newest first."""
        engine = engine_of(call)
        rows = await asyncio.to_thread(list_codes, engine.db, engine.clock.now(), call.query.days)
        return CodesOut(codes=rows)

    @registry.route(
        "POST",
        "/stations/enrolment-codes/{station_id}/revoke",
        response=CodesOut,
        summary="Withdraw a station's pending enrolment codes",
        roles=("admin", "technician"),
        tags=("stations",),
        errors=(404,),
        name="revoke_enrolment_codes",
    )
    async def revoke_codes(call: Call) -> CodesOut:
        """The codes stop working at once; used and expired ones are left as they are."""
        engine = engine_of(call)
        sid = call.path["station_id"]
        now = engine.clock.now()
        n = await asyncio.to_thread(revoke_pending_codes, engine.db, sid, now)
        if n == 0:
            raise NotFound(f"station {sid!r} has no pending enrolment code", "path.station_id")
        log.info(
            "admin.enrolment_codes_revoked station=%s n=%d actor=%s",
            sid,
            n,
            actor_of(call.request),
        )
        rows = await asyncio.to_thread(list_codes, engine.db, now)
        return CodesOut(codes=rows)
