"""Talking to central over HTTP(S) with the standard library (nothing to install on the Pi)."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from protocol.enrolment import (
    ENROL_PATH,
    LEAVE_PATH,
    EnrolRequest,
    EnrolResponse,
    LeaveRequest,
    LeaveResponse,
)
from provisioning.errors import CentralUnreachable, EnrolRefused, UsageError


@dataclass(frozen=True, slots=True)
class ClockCheck:
    """Central's clock as seen from here: `offset_s` is local minus central."""

    central_time: datetime
    offset_s: float
    round_trip_s: float


def check_url(url: str) -> str:
    """`url` when it is http(s)://host...; raises UsageError otherwise."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(
            f"--central {url!r} is not an http:// or https:// URL",
            "give central's address, e.g. --central https://central.hospital.local:8080",
        )
    return url.rstrip("/")


def _context(ca_file: str | None) -> ssl.SSLContext | None:
    return ssl.create_default_context(cafile=ca_file) if ca_file else None


def _post(
    base: str, path: str, body: BaseModel, timeout: float, ca_file: str | None
) -> tuple[int, dict[str, Any]]:
    url = check_url(base) + path
    data = body.model_dump_json().encode()
    req = urllib.request.Request(  # noqa: S310 (check_url allows only http and https)
        url, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=_context(ca_file)) as resp:  # noqa: S310
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise CentralUnreachable(
            f"central at {base} did not answer ({reason})",
            "check the URL, the network cable or Wi-Fi, and that central is running",
        ) from None
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CentralUnreachable(
            f"{url} answered HTTP {status} with something that is not JSON",
            "check that --central points at the nfc-hospital central server",
        ) from None
    if not isinstance(doc, dict):
        raise CentralUnreachable(f"{url} answered a JSON {type(doc).__name__}", "check --central")
    return status, doc


def _error_text(doc: dict[str, Any]) -> str:
    err = doc.get("error") if isinstance(doc.get("error"), dict) else {}
    assert isinstance(err, dict)
    return " ".join(str(err.get(k, "")) for k in ("message_en", "detail")).strip() or str(doc)


def exchange_code(
    central: str,
    code: str,
    hostname: str | None,
    *,
    csr_pem: str | None = None,
    timeout: float = 15.0,
    ca_file: str | None = None,
) -> EnrolResponse:
    """Trade a one-time code for this station's identity and credentials."""
    status, doc = _post(
        central,
        ENROL_PATH,
        EnrolRequest(code=code, hostname=hostname, csr_pem=csr_pem),
        timeout,
        ca_file,
    )
    if status in (403, 422):
        raise EnrolRefused(
            f"central refused the enrolment code: {_error_text(doc)}",
            "ask an admin for a new code (`nfc-hospital central station enrol ...`); "
            "codes work once and expire after 15 minutes",
        )
    if status == 400:
        raise EnrolRefused(
            f"central could not enrol this station: {_error_text(doc)}",
            "fix what central names (the code was not used) and run provisioning again",
        )
    if status != 200:
        raise CentralUnreachable(
            f"central answered HTTP {status} to the enrolment: {_error_text(doc)}",
            "try again in a minute; if it persists, check central's log",
        )
    try:
        return EnrolResponse.model_validate(doc)
    except ValidationError as e:
        raise CentralUnreachable(
            f"central's enrolment answer is not valid: {e.errors(include_url=False)[0]['msg']}",
            "central and this Pi run different nfc-hospital versions; update them to match",
        ) from None


def leave(
    central: str, station_id: str, password: str, *, timeout: float = 15.0, ca_file: str | None
) -> LeaveResponse:
    """Ask central to revoke this station's credentials (proved by its own password)."""
    status, doc = _post(
        central,
        LEAVE_PATH,
        LeaveRequest(station_id=station_id, password=password),
        timeout,
        ca_file,
    )
    if status != 200:
        raise EnrolRefused(
            f"central did not revoke {station_id}: HTTP {status} {_error_text(doc)}",
            f"on central run: nfc-hospital central station revoke {station_id}",
        )
    return LeaveResponse.model_validate(doc)


def check_clock(central: str, *, timeout: float = 10.0, ca_file: str | None = None) -> ClockCheck:
    """Compare this machine's clock with the `Date` header of central's /healthz answer."""
    url = check_url(central) + "/healthz"
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=_context(ca_file)) as resp:  # noqa: S310
            date_header = resp.headers.get("Date")
    except urllib.error.HTTPError as e:
        date_header = e.headers.get("Date")
    except (urllib.error.URLError, OSError) as e:
        raise CentralUnreachable(
            f"central at {url} did not answer ({getattr(e, 'reason', e)})",
            "check the network and that central is running",
        ) from None
    rtt = time.monotonic() - t0
    local = datetime.now(UTC)
    if not date_header:
        raise CentralUnreachable(f"{url} sent no Date header", "check --central")
    theirs = parsedate_to_datetime(date_header)
    # The header has whole seconds and was stamped about half a round trip ago; on average
    # it was truncated by half a second.
    offset = (local - theirs).total_seconds() - rtt / 2 - 0.5
    return ClockCheck(theirs, offset, rtt)
