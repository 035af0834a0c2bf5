"""Signed tokens (JWT, HS256): staff access tokens, phone-page tokens and one-time links.

Each kind has its own audience, so a phone-page token is never accepted as a staff token
and a link is never a session. Expiry is checked against the injected clock (tests move
time), with no leeway.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from central.auth.errors import NotAuthenticated, TokenExpired

ISSUER = "nfc-hospital"
AUD_STAFF = "nfch-staff"
AUD_PATIENT = "nfch-patient"
AUD_LINK = "nfch-patient-link"


def derive_key(site_key: bytes, purpose: str) -> bytes:
    """A key for one purpose, derived from the site secret (HMAC-SHA256)."""
    return hmac.new(site_key, b"nfch/" + purpose.encode(), hashlib.sha256).digest()


def refresh_token() -> str:
    """A new opaque refresh token (256 random bits)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the database keeps of a refresh token: its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class StaffClaims:
    """A verified staff access token."""

    sub: str
    """The staff user's id."""
    username: str
    name: str
    role: str
    jti: str
    fam: str
    """The login (refresh-token family) it belongs to."""
    iat: datetime
    exp: datetime


@dataclass(frozen=True, slots=True)
class PatientClaims:
    """A verified phone-page token: read-only, one visit."""

    visit_id: str
    jti: str
    iat: datetime
    exp: datetime
    auth_time: datetime
    """When the patient logged in (renewals keep it; the session ends patient_max_s after)."""


@dataclass(frozen=True, slots=True)
class LinkClaims:
    """A verified one-time phone-page link."""

    visit_id: str
    jti: str
    exp: datetime


def _ts(dt: datetime) -> int:
    return int(dt.timestamp())


def _dt(value: object) -> datetime:
    if not isinstance(value, int | float):
        raise NotAuthenticated("token time claim is not a number")
    return datetime.fromtimestamp(value, UTC)


class TokenSigner:
    """Issues and verifies the three kinds of tokens with one HS256 key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the token key must be at least 32 bytes")
        self._key = key

    def _encode(self, claims: dict[str, object]) -> str:
        return jwt.encode(claims, self._key, algorithm="HS256")

    def _decode(self, token: str, audience: str, now: datetime) -> dict[str, object]:
        try:
            claims: dict[str, object] = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                audience=audience,
                issuer=ISSUER,
                # Times are checked below against central's clock (injected; tests move it),
                # not against PyJWT's time.time().
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["exp", "iat", "jti", "aud", "iss"],
                },
            )
        except jwt.PyJWTError as e:
            raise NotAuthenticated(f"token rejected: {e}") from None
        if _dt(claims["exp"]) <= now:
            raise TokenExpired("token expired")
        if _dt(claims["iat"]) > now + timedelta(seconds=60):
            raise NotAuthenticated("token issued in the future")
        return claims

    # ------------------------------------------------------------------ staff

    def issue_staff(
        self, *, sub: str, username: str, name: str, role: str, fam: str, now: datetime, ttl_s: int
    ) -> tuple[str, StaffClaims]:
        """A staff access token."""
        claims = StaffClaims(
            sub=sub,
            username=username,
            name=name,
            role=role,
            jti=str(uuid.uuid4()),
            fam=fam,
            iat=now,
            exp=(now + timedelta(seconds=ttl_s)).replace(microsecond=0),
        )
        token = self._encode(
            {
                "iss": ISSUER,
                "aud": AUD_STAFF,
                "sub": sub,
                "usr": username,
                "name": name,
                "role": role,
                "jti": claims.jti,
                "fam": fam,
                # Fractional: "revoked before T" must not void a login made just after T.
                "iat": claims.iat.timestamp(),
                "exp": _ts(claims.exp),
            }
        )
        return token, claims

    def verify_staff(self, token: str, now: datetime) -> StaffClaims:
        """Verify a staff access token (raises NotAuthenticated / TokenExpired)."""
        c = self._decode(token, AUD_STAFF, now)
        try:
            return StaffClaims(
                sub=str(c["sub"]),
                username=str(c["usr"]),
                name=str(c["name"]),
                role=str(c["role"]),
                jti=str(c["jti"]),
                fam=str(c["fam"]),
                iat=_dt(c["iat"]),
                exp=_dt(c["exp"]),
            )
        except KeyError as e:
            raise NotAuthenticated(f"token lacks {e}") from None

    # ------------------------------------------------------------------ patients

    def issue_patient(
        self, *, visit_id: str, now: datetime, exp: datetime, auth_time: datetime
    ) -> tuple[str, PatientClaims]:
        """A read-only phone-page token for one visit."""
        claims = PatientClaims(
            visit_id=visit_id,
            jti=str(uuid.uuid4()),
            iat=now,
            exp=exp.replace(microsecond=0),
            auth_time=auth_time.replace(microsecond=0),
        )
        token = self._encode(
            {
                "iss": ISSUER,
                "aud": AUD_PATIENT,
                "sub": "visit:" + visit_id,
                "vid": visit_id,
                "scope": "visit:read",
                "jti": claims.jti,
                "iat": claims.iat.timestamp(),
                "exp": _ts(claims.exp),
                "auth_time": _ts(claims.auth_time),
            }
        )
        return token, claims

    def verify_patient(self, token: str, now: datetime) -> PatientClaims:
        """Verify a phone-page token."""
        c = self._decode(token, AUD_PATIENT, now)
        if c.get("scope") != "visit:read":
            raise NotAuthenticated("token scope is not visit:read")
        try:
            return PatientClaims(
                visit_id=str(c["vid"]),
                jti=str(c["jti"]),
                iat=_dt(c["iat"]),
                exp=_dt(c["exp"]),
                auth_time=_dt(c["auth_time"]),
            )
        except KeyError as e:
            raise NotAuthenticated(f"token lacks {e}") from None

    def issue_link(self, *, visit_id: str, now: datetime, ttl_s: int) -> tuple[str, LinkClaims]:
        """A one-time link token that opens one visit's phone page."""
        claims = LinkClaims(
            visit_id=visit_id,
            jti=str(uuid.uuid4()),
            exp=(now + timedelta(seconds=ttl_s)).replace(microsecond=0),
        )
        token = self._encode(
            {
                "iss": ISSUER,
                "aud": AUD_LINK,
                "vid": visit_id,
                "jti": claims.jti,
                "iat": _ts(now),
                "exp": _ts(claims.exp),
            }
        )
        return token, claims

    def verify_link(self, token: str, now: datetime) -> LinkClaims:
        """Verify a one-time link token (the caller makes it one-time)."""
        c = self._decode(token, AUD_LINK, now)
        try:
            return LinkClaims(visit_id=str(c["vid"]), jti=str(c["jti"]), exp=_dt(c["exp"]))
        except KeyError as e:
            raise NotAuthenticated(f"token lacks {e}") from None

    # ------------------------------------------------------------------ CSRF

    def csrf_for(self, family_id: str) -> str:
        """The CSRF token of a login: bound to it, so a planted cookie is useless."""
        return hmac.new(self._key, b"csrf|" + family_id.encode(), hashlib.sha256).hexdigest()[:40]

    def device_cookie(self, username: str, now: datetime, days: int) -> str:
        """A signed 'this browser logged in as username before' marker."""
        exp = _ts(now + timedelta(days=days))
        body = f"{username}|{exp}"
        mac = hmac.new(self._key, b"device|" + body.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{body}|{mac}"

    def device_ok(self, value: str | None, username: str, now: datetime) -> bool:
        """True when `value` is a device cookie of `username` that has not expired."""
        if not value or value.count("|") != 2:
            return False
        name, exp, mac = value.split("|")
        want = hmac.new(
            self._key, b"device|" + f"{name}|{exp}".encode(), hashlib.sha256
        ).hexdigest()[:32]
        if not hmac.compare_digest(mac, want) or name != username:
            return False
        return exp.isdigit() and int(exp) > _ts(now)
