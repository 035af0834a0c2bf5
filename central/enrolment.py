"""Station enrolment: one-time codes, the code exchange, broker credentials, revocation.

- An admin creates a code for a station (`nfc-hospital central station enrol --name ...
  --location NODE`). Only its SHA-256 is stored; it expires after `code_ttl_s` (15 minutes by
  default) and works once: the exchange marks it used with one conditional UPDATE, so two
  Pis racing with the same code cannot both win, on SQLite or PostgreSQL.
- The Pi posts the code to `POST /api/v1/enrol` (protocol.enrolment) and gets its station id,
  a random MQTT password (central keeps only Mosquitto's `$7$` hash of it) and the site key.
- Every enrolment and revocation rewrites the broker's password and ACL files when
  `broker_dir` is set, and SIGHUPs Mosquitto when `broker_pid_file` is set.

Tables live on their own MetaData (like central.auth.tables); migration 0003_enrolment
creates them.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import re
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import Counter
from pydantic import Field
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    MetaData,
    String,
    Table,
    insert,
    select,
    update,
)

from central.api.errors import ApiError, error_middleware
from central.api.registry import Call, Registry, metrics_middleware
from central.auth.http import actor_of
from central.broker_config import (
    BrokerConfigError,
    BrokerUser,
    mosquitto_hash,
    reload_broker,
    sign_station_csr,
    verify_mosquitto_hash,
    write_broker_config,
)
from central.clock import Clock, SystemClock
from central.config import ENV_PREFIX, CentralConfig, EnrolmentSettings
from central.store.db import Database
from central.store.schema import NAMING, UTCDateTime, stations
from protocol.base import ID_PATTERN, LocalizedText, Model
from protocol.config import add_config_arguments, config_from_args
from protocol.enrolment import (
    CODE_ALPHABET,
    CODE_GROUP_LEN,
    CODE_GROUPS,
    EnrolMqtt,
    EnrolRequest,
    EnrolResponse,
    LeaveRequest,
    LeaveResponse,
    normalize_code,
)
from protocol.ids import is_valid_id

log = logging.getLogger("central.enrolment")

enrolment_metadata = MetaData(naming_convention=NAMING)

enrolment_codes = Table(
    "enrolment_codes",
    enrolment_metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("station_id", String(64), nullable=False, index=True),
    Column("name", JSON, nullable=False),
    Column("node_id", String(64), nullable=True),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
    Column("used_by_host", String(253), nullable=True),
    # Withdrawn from the dashboard before use (migration 0005); expires_at is set to then too.
    Column("revoked_at", UTCDateTime, nullable=True),
)

# One row per station that ever enrolled; `revoked_at` set means the broker refuses it.
station_credentials = Table(
    "station_credentials",
    enrolment_metadata,
    Column("station_id", String(64), primary_key=True),
    Column("password_hash", String(255), nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)

ENROL_FAILURES = Counter(
    "nfch_central_enrolment_failures_total",
    "Enrolment code exchanges refused, by reason (unknown, expired, used).",
    ["reason"],
)
ENROLMENTS = Counter("nfch_central_enrolments_total", "Stations enrolled with a code.")


# ---------------------------------------------------------------------------------------------
# errors (mapped to HTTP by central.api.errors, as ApiError subclasses)


class EnrolmentError(ApiError):
    """Base of enrolment failures."""

    status = 400
    reason = "enrolment_failed"
    message_ko = "등록에 실패했습니다."
    message_en = "Enrolment failed."


class CodeInvalid(EnrolmentError):
    """The code is unknown, expired or already used."""

    status = 403
    reason = "enrolment_code_invalid"
    message_ko = "등록 코드가 맞지 않거나 만료되었거나 이미 사용되었습니다. 새 코드를 받으세요."
    message_en = (
        "The enrolment code is wrong, expired or already used; ask an admin for a new code."
    )


class StationUnknown(EnrolmentError):
    """No enrolled station has this id."""

    status = 404
    reason = "station_unknown"
    message_ko = "등록된 스테이션이 아닙니다."
    message_en = "No enrolled station has this id."


# ---------------------------------------------------------------------------------------------
# settings and the service


@dataclass(frozen=True, slots=True)
class IssuedCode:
    """A new enrolment code: shown once to the admin, stored only as a hash."""

    code: str
    station_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class CredentialRow:
    """A station's broker credential record."""

    station_id: str
    issued_at: datetime
    revoked_at: datetime | None


def code_hash(code: str) -> str:
    """SHA-256 of the normalised code (codes carry ~57 bits and live minutes: no KDF needed)."""
    return hashlib.sha256(normalize_code(code).encode("ascii")).hexdigest()


def new_code() -> str:
    """A random code like `K7QM-3XWT-9NRA`."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_GROUPS * CODE_GROUP_LEN))
    return normalize_code(raw)


def broker_users(db: Database) -> list[BrokerUser]:
    """Every station allowed on the broker (enrolled, not revoked)."""
    with db.read() as conn:
        rows = conn.execute(
            select(station_credentials.c.station_id, station_credentials.c.password_hash)
            .where(station_credentials.c.revoked_at.is_(None))
            .order_by(station_credentials.c.station_id)
        )
        return [BrokerUser(r.station_id, r.password_hash) for r in rows]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "station"


class EnrolmentService:
    """Codes, exchanges and revocations over central's database (synchronous; one
    transaction per call)."""

    def __init__(
        self,
        db: Database,
        settings: EnrolmentSettings,
        site_key: bytes | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.site_key = site_key
        self.clock = clock or SystemClock()

    # -- admin side

    def create_code(
        self,
        name: str,
        location: str | None,
        *,
        station_id: str | None = None,
        name_en: str | None = None,
        created_by: str = "cli",
    ) -> IssuedCode:
        """A one-time code for a station (a new one, or `station_id` to replace its Pi)."""
        if location is not None and not is_valid_id(location):
            raise EnrolmentError(f"location {location!r} is not a valid map node id", "location")
        if station_id is not None and not is_valid_id(station_id):
            raise EnrolmentError(f"station id {station_id!r} is not a valid id", "station_id")
        label = LocalizedText(ko=name, en=name_en or name)
        code = new_code()
        now = self.clock.now()
        expires = now + timedelta(seconds=self.settings.code_ttl_s)

        def tx(conn: Connection) -> str:
            sid = station_id or self._free_station_id(conn, location or name)
            conn.execute(
                insert(enrolment_codes).values(
                    code_hash=code_hash(code),
                    station_id=sid,
                    name=label.model_dump(exclude_none=True),
                    node_id=location,
                    created_by=created_by,
                    created_at=now,
                    expires_at=expires,
                )
            )
            return sid

        sid = self.db.run_write(tx)
        log.info("enrolment.code_created station=%s expires=%s", sid, expires.isoformat())
        return IssuedCode(code, sid, expires)

    def _free_station_id(self, conn: Connection, base: str) -> str:
        stem = "st-" + _slug(base)
        taken = set(conn.execute(select(stations.c.station_id)).scalars())
        taken |= set(
            conn.execute(
                select(enrolment_codes.c.station_id).where(
                    enrolment_codes.c.used_at.is_(None),
                    enrolment_codes.c.expires_at > self.clock.now(),
                )
            ).scalars()
        )
        n = 1
        while f"{stem}-{n}" in taken:
            n += 1
        return f"{stem}-{n}"

    def revoke(self, station_id: str) -> None:
        """Revoke a station's broker login and disable it; raises StationUnknown."""
        now = self.clock.now()

        def tx(conn: Connection) -> int:
            n = conn.execute(
                update(station_credentials)
                .where(station_credentials.c.station_id == station_id)
                .values(revoked_at=now)
            ).rowcount
            conn.execute(
                update(stations).where(stations.c.station_id == station_id).values(enabled=False)
            )
            return int(n)

        if self.db.run_write(tx) == 0:
            raise StationUnknown(f"no enrolled station {station_id!r}", "station_id")
        log.info("enrolment.revoked station=%s", station_id)

    def leave(self, request: LeaveRequest) -> None:
        """A station revokes itself, proving who it is with its own broker password."""
        with self.db.read() as conn:
            row = conn.execute(
                select(station_credentials).where(
                    station_credentials.c.station_id == request.station_id,
                    station_credentials.c.revoked_at.is_(None),
                )
            ).first()
        if row is None or not verify_mosquitto_hash(request.password, row.password_hash):
            ENROL_FAILURES.labels(reason="leave_denied").inc()
            log.warning("enrolment.leave_denied station=%s", request.station_id)
            raise CodeInvalid("the station id and password do not match", "body.password")
        self.revoke(request.station_id)

    def credentials(self) -> list[CredentialRow]:
        """Every station credential, revoked or not."""
        with self.db.read() as conn:
            rows = conn.execute(select(station_credentials).order_by("station_id"))
            return [CredentialRow(r.station_id, r.issued_at, r.revoked_at) for r in rows]

    # -- the Pi's side

    def exchange(self, request: EnrolRequest) -> EnrolResponse:
        """Use a code once: create or update the station, issue a new broker password."""
        if self.site_key is None:
            raise EnrolmentError("central has no site key loaded; it cannot enrol stations")
        site_key = self.site_key
        h = code_hash(request.code)
        now = self.clock.now()
        client_cert = self._sign(request, h) if request.csr_pem else None
        password = secrets.token_urlsafe(24)
        hashed = mosquitto_hash(password)

        def tx(conn: Connection) -> Any:
            won = conn.execute(
                update(enrolment_codes)
                .where(
                    enrolment_codes.c.code_hash == h,
                    enrolment_codes.c.used_at.is_(None),
                    enrolment_codes.c.expires_at > now,
                )
                .values(used_at=now, used_by_host=request.hostname)
            ).rowcount
            row = conn.execute(select(enrolment_codes).where(enrolment_codes.c.code_hash == h))
            code = row.first()
            if won != 1 or code is None:
                return code  # the caller tells why from the row
            sid = code.station_id
            exists = conn.execute(
                select(stations.c.station_id).where(stations.c.station_id == sid)
            ).first()
            if exists:
                conn.execute(
                    update(stations)
                    .where(stations.c.station_id == sid)
                    .values(name=code.name, node_id=code.node_id, enabled=True)
                )
            else:
                conn.execute(
                    insert(stations).values(
                        station_id=sid, name=code.name, node_id=code.node_id, created_at=now
                    )
                )
            cred = {"password_hash": hashed, "issued_at": now, "revoked_at": None}
            if (
                conn.execute(
                    update(station_credentials)
                    .where(station_credentials.c.station_id == sid)
                    .values(**cred)
                ).rowcount
                == 0
            ):
                conn.execute(insert(station_credentials).values(station_id=sid, **cred))
            return (code,)

        result = self.db.run_write(tx)
        if not isinstance(result, tuple):
            reason = "unknown" if result is None else ("used" if result.used_at else "expired")
            ENROL_FAILURES.labels(reason=reason).inc()
            log.warning("enrolment.refused reason=%s host=%s", reason, request.hostname)
            raise CodeInvalid(f"the code is {reason}", "body.code")
        code = result[0]
        ENROLMENTS.inc()
        log.info("enrolment.exchanged station=%s host=%s", code.station_id, request.hostname)
        s = self.settings
        ca = s.ca_file.read_text(encoding="ascii") if s.ca_file else None
        return EnrolResponse(
            station_id=code.station_id,
            name=LocalizedText.model_validate(code.name),
            location_node=code.node_id,
            mqtt=EnrolMqtt(
                host=s.broker_host,
                port=s.broker_port,
                username=code.station_id,
                password=password,
                topic_root=s.topic_root,
                ca_pem=ca,
                client_cert_pem=client_cert,
            ),
            site_key_hex=site_key.hex(),
        )

    def _sign(self, request: EnrolRequest, h: str) -> str:
        """Sign the request's CSR for the code's station, before the code is used: a bad
        CSR must not burn the code."""
        s = self.settings
        if s.ca_file is None or s.ca_key_file is None:
            raise EnrolmentError(
                "central has no CA to sign client certificates (ca_file, ca_key_file)",
                "body.csr_pem",
            )
        with self.db.read() as conn:
            sid = conn.execute(
                select(enrolment_codes.c.station_id).where(enrolment_codes.c.code_hash == h)
            ).scalar()
        if sid is None:
            ENROL_FAILURES.labels(reason="unknown").inc()
            raise CodeInvalid("the code is unknown", "body.code")
        assert request.csr_pem is not None
        try:
            return sign_station_csr(s.ca_file, s.ca_key_file, request.csr_pem, sid)
        except BrokerConfigError as e:
            ENROL_FAILURES.labels(reason="bad_csr").inc()
            raise EnrolmentError(str(e), "body.csr_pem") from None

    # -- the broker

    def sync_broker_quietly(self) -> str | None:
        """`sync_broker` for the HTTP handlers: the database change is already committed, so a
        broker-file failure is logged and reported, never turned into a failed enrolment."""
        try:
            return self.sync_broker()
        except (OSError, BrokerConfigError, EnrolmentError) as e:
            log.error("enrolment.broker_sync_failed error=%s", e)
            return (
                f"the broker files could not be rewritten ({e}); run `nfc-hospital central "
                "broker-config` and reload Mosquitto"
            )

    def sync_broker(self) -> str | None:
        """Rewrite the broker files (when `broker_dir` is set) and reload Mosquitto."""
        s = self.settings
        if s.broker_dir is None:
            return None
        if s.central_password_file is None:
            raise EnrolmentError("broker_dir is set but central_password_file is not")
        from central.broker_config import central_user_from_file

        central, _ = central_user_from_file(s.central_password_file)
        # Only the password and ACL files: the listener config belongs to broker-config.
        files = write_broker_config(
            s.broker_dir, broker_users(self.db), central, topic_root=s.topic_root, conf=False
        )
        if not files.changed:
            return "broker files unchanged"
        line = reload_broker(s.broker_pid_file)
        log.info("enrolment.broker_synced changed=%d", len(files.changed))
        return line


# ---------------------------------------------------------------------------------------------
# HTTP


class CodeIn(Model):
    """An admin's request for a new enrolment code."""

    name: str = Field(min_length=1, max_length=100, description="Station name (Korean).")
    name_en: str | None = Field(default=None, max_length=100, description="English name.")
    location: str | None = Field(default=None, pattern=ID_PATTERN, description="Map node id.")
    station_id: str | None = Field(
        default=None, pattern=ID_PATTERN, description="Re-enrol this station (a replaced Pi)."
    )


class CodeOut(Model):
    """A new code, shown once."""

    code: str = Field(description="The one-time code to type on the Pi.")
    station_id: str = Field(description="The station it enrols.")
    expires_at: datetime = Field(description="When it stops working (UTC).")


class RevokedOut(Model):
    """A revoked station."""

    station_id: str = Field(description="The station revoked.")
    broker: str | None = Field(default=None, description="What happened to the broker files.")


SERVICE_KEY: web.AppKey[EnrolmentService] = web.AppKey("enrolment")


class EnrolmentOff(EnrolmentError):
    """Central runs without an `[enrolment]` section: it cannot tell stations their broker."""

    status = 503
    reason = "enrolment_off"
    message_ko = "이 서버에서는 스테이션 등록이 설정되지 않았습니다."
    message_en = "Station enrolment is not configured on this server ([enrolment] section)."


def _service(call: Call) -> EnrolmentService:
    svc = call.request.app.get(SERVICE_KEY)
    if svc is None:
        raise EnrolmentOff("set [enrolment] broker_host in central's config", "config.enrolment")
    return svc


def enrolment_routes(registry: Registry) -> None:
    """Declare the enrolment routes on `registry`; the app needs `app[SERVICE_KEY]` set."""

    @registry.route(
        "POST",
        "/stations/enrolment-codes",
        body=CodeIn,
        response=CodeOut,
        summary="Create a one-time enrolment code",
        roles=("admin", "technician"),
        tags=("stations",),
        name="create_enrolment_code",
    )
    async def create_code(call: Call) -> CodeOut:
        """A code that enrols one station once, within `code_ttl_s`."""
        svc = _service(call)
        b: CodeIn = call.body
        issued = await asyncio.to_thread(
            svc.create_code,
            b.name,
            b.location,
            station_id=b.station_id,
            name_en=b.name_en,
            created_by=(actor_of(call.request) or "api")[:64],
        )
        return CodeOut(code=issued.code, station_id=issued.station_id, expires_at=issued.expires_at)

    @registry.route(
        "POST",
        "/enrol",
        body=EnrolRequest,
        response=EnrolResponse,
        summary="Exchange a one-time code for a station's identity and credentials",
        tags=("stations",),
        errors=(403,),
        name="enrol_station",
    )
    async def enrol(call: Call) -> EnrolResponse:
        """Open to anyone holding a valid code; the code is the credential."""
        svc = _service(call)
        response = await asyncio.to_thread(svc.exchange, call.body)
        await asyncio.to_thread(svc.sync_broker_quietly)
        return response

    @registry.route(
        "POST",
        "/enrol/leave",
        body=LeaveRequest,
        response=LeaveResponse,
        summary="A station decommissions itself (revokes its own credentials)",
        tags=("stations",),
        errors=(403,),
        name="station_leave",
    )
    async def leave(call: Call) -> LeaveResponse:
        """Open to a station that proves its identity with its own broker password."""
        svc = _service(call)
        await asyncio.to_thread(svc.leave, call.body)
        await asyncio.to_thread(svc.sync_broker_quietly)
        return LeaveResponse(station_id=call.body.station_id)

    @registry.route(
        "POST",
        "/stations/{station_id}/revoke",
        response=RevokedOut,
        summary="Revoke a station's broker credentials",
        roles=("admin", "technician"),
        tags=("stations",),
        errors=(404,),
        name="revoke_station",
    )
    async def revoke(call: Call) -> RevokedOut:
        """The station can no longer log in to the broker once it reloads its files."""
        svc = _service(call)
        sid = call.path["station_id"]
        await asyncio.to_thread(svc.revoke, sid)
        line = await asyncio.to_thread(svc.sync_broker_quietly)
        return RevokedOut(station_id=sid, broker=line)


def build_enrolment_app(service: EnrolmentService) -> web.Application:
    """A stand-alone aiohttp app with only the enrolment routes (tests, or a separate port)."""
    registry = Registry("/api/v1")
    enrolment_routes(registry)
    app = web.Application(middlewares=[metrics_middleware, error_middleware])
    app[SERVICE_KEY] = service
    registry.install(app, 64 * 1024)
    return app


# ---------------------------------------------------------------------------------------------
# command line: `nfc-hospital central station enrol|revoke|list`


def main(argv: Sequence[str], prog: str = "nfc-hospital central station") -> int:
    """Create enrolment codes, list and revoke stations."""
    parser = argparse.ArgumentParser(prog=prog, description="Enrol, list and revoke stations.")
    add_config_arguments(parser, ENV_PREFIX)
    parser.add_argument("--database", metavar="URL", help="central's database (else --config's)")
    parser.add_argument("--broker-host", default="127.0.0.1", help="broker host for stations")
    parser.add_argument("--broker-dir", type=Path, help="rewrite broker files here on revoke")
    parser.add_argument("--central-password-file", type=Path, help="central's broker password")
    parser.add_argument("--pid-file", type=Path, help="Mosquitto's PID file (SIGHUP on revoke)")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    p_enrol = sub.add_parser("enrol", help="create a one-time enrolment code")
    p_enrol.add_argument("--name", required=True, help="station name (Korean)")
    p_enrol.add_argument("--name-en", help="station name in English")
    p_enrol.add_argument("--location", metavar="NODE", help="map node where it stands")
    p_enrol.add_argument("--station-id", help="re-enrol this station (replaced Pi)")
    p_enrol.add_argument("--ttl", type=int, default=900, metavar="SECONDS", help="code lifetime")
    p_revoke = sub.add_parser("revoke", help="revoke a station's broker login")
    p_revoke.add_argument("station_id")
    sub.add_parser("list", help="list enrolled stations")
    args = parser.parse_args(list(argv))
    config = config_from_args(CentralConfig, args, ENV_PREFIX, prog)
    db = Database(args.database or config.database.url)
    try:
        db.migrate()
        settings = EnrolmentSettings(
            broker_host=args.broker_host,
            code_ttl_s=getattr(args, "ttl", 900),
            broker_dir=args.broker_dir,
            broker_pid_file=args.pid_file,
            central_password_file=args.central_password_file,
        )
        svc = EnrolmentService(db, settings)
        if args.cmd == "enrol":
            issued = svc.create_code(
                args.name, args.location, station_id=args.station_id, name_en=args.name_en
            )
            print(f"station:  {issued.station_id}")
            print(f"code:     {issued.code}")
            print(f"expires:  {issued.expires_at.isoformat(timespec='seconds')}")
            print(f"On the Pi: sudo nfc-hospital provision --central URL --code {issued.code}")
        elif args.cmd == "revoke":
            svc.revoke(args.station_id)
            print(f"revoked {args.station_id}")
            print(svc.sync_broker() or "now run `nfc-hospital central broker-config` and reload")
        else:
            for c in svc.credentials():
                state = f"revoked {c.revoked_at:%Y-%m-%d %H:%M}" if c.revoked_at else "active"
                print(f"{c.station_id}\tissued {c.issued_at:%Y-%m-%d %H:%M}\t{state}")
    except EnrolmentError as e:
        print(f"{prog}: {e.message_en} {e.detail}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    return 0
