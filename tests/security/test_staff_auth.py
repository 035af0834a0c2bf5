"""Staff API access (issue #10, security) against a real central (engine, API, auth, pages on
SQLite, HTTP on 127.0.0.1): every staff route refuses a missing, malformed, forged, expired,
tampered or revoked token and a patient's token; every role is refused every route and
page API its role does not allow (nurse -> admin, technician -> names); technicians' own
answers carry no full name, birth date or phone digits; staff and phone logins are
throttled under brute force, also when the attacker sends X-Forwarded-For.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest

from central.api.routes import REGISTRY
from central.auth.tokens import TokenSigner, derive_key
from tests.support.web_central import PASSWORDS, WebCentral, web_central

# Role-limited page APIs outside the registry: (method, path, roles allowed).
PAGE_APIS: list[tuple[str, str, set[str]]] = [
    ("GET", "/staff/api/users", {"admin"}),
    ("POST", "/staff/api/users", {"admin"}),
    ("POST", "/staff/api/users/u-x/disable", {"admin"}),
    ("GET", "/staff/api/search?q=1", {"nurse", "reception", "admin"}),
    ("GET", "/staff/api/analytics", {"nurse", "reception", "admin"}),
]


PW = {**PASSWORDS, "recep1": "recep-password-1"}


@pytest.fixture
async def central(tmp_path: Path) -> AsyncIterator[WebCentral]:
    async with web_central(tmp_path, patients=12) as c:
        c.auth.add_user("recep1", "최접수", "reception", PW["recep1"])
        yield c


def staff_routes(c: WebCentral) -> list[tuple[str, str, set[str]]]:
    """Every route that needs a staff role, with its path parameters filled in."""
    visit = c.engine.visits(limit=1)[0].visit_id
    out = []
    for route in REGISTRY.routes:
        if not route.roles:
            continue
        path = route.path.replace("{visit_id}", visit).replace("{room_id}", "lab-1")
        path = re.sub(r"\{[a-z_]+\}", "x-1", path)
        out.append((route.method, path, set(route.roles)))
    assert len(out) >= 20
    return [*out, *PAGE_APIS]


def token_of(c: WebCentral, user: str) -> str:
    return c.auth.login(user, PW[user], "127.0.0.1").access_token


async def call(
    s: aiohttp.ClientSession, method: str, path: str, token: str | None, **kw: Any
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with s.request(method, path, headers=headers, json={}, **kw) as r:
        text = await r.text()
        try:
            body = json.loads(text)
        except ValueError:
            body = text
        return r.status, body


def _b64(d: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


def bad_tokens(c: WebCentral) -> dict[str, str | None]:
    """Tokens that must open nothing."""
    good = c.auth.login("admin1", PW["admin1"], "127.0.0.1")
    claims = good.claims
    now = c.auth.now()
    expired, _ = c.auth.signer.issue_staff(
        sub=claims.sub,
        username=claims.username,
        name=claims.name,
        role="admin",
        fam=claims.fam,
        now=now - timedelta(hours=2),
        ttl_s=60,
    )
    forged, _ = TokenSigner(derive_key(b"another-site-key-0123456789abcdef", "jwt")).issue_staff(
        sub=claims.sub,
        username=claims.username,
        name=claims.name,
        role="admin",
        fam=claims.fam,
        now=now,
        ttl_s=300,
    )
    _header, payload, _sig = good.access_token.split(".")
    decoded = jwt.decode(good.access_token, options={"verify_signature": False})
    none_alg = _b64({"alg": "none", "typ": "JWT"}) + "." + payload + "."
    nurse = c.auth.login("nurse1", PW["nurse1"], "127.0.0.1").access_token
    n_header, _n_payload, n_sig = nurse.split(".")
    raised = jwt.decode(nurse, options={"verify_signature": False})
    tampered = n_header + "." + _b64({**raised, "role": "admin"}) + "." + n_sig
    visit = c.engine.visits(limit=1)[0].visit_id
    link, _ = c.auth.make_link(visit)
    patient = c.auth.redeem_link(link)
    assert decoded["role"] == "admin"
    return {
        "none": None,
        "empty": "",
        "garbage": "abc.def.ghi",
        "expired": expired,
        "forged_key": forged,
        "alg_none": none_alg,
        "role_tampered": tampered,
        "patient_token": patient.token,
    }


async def test_no_bad_token_opens_any_staff_route(central: WebCentral) -> None:
    routes = staff_routes(central)
    tokens = bad_tokens(central)
    async with aiohttp.ClientSession(base_url=central.base) as s:
        for kind, token in tokens.items():
            for method, path, _roles in routes:
                status, body = await call(s, method, path, token)
                assert status == 401, (kind, method, path, status, body)
                assert isinstance(body, dict), (kind, path, body)
                assert body["error"]["reason"], (kind, path, body)
        # The same routes open with a good admin token (the refusals are about the token).
        good = token_of(central, "admin1")
        status, _ = await call(s, "GET", "/api/v1/stations", good)
        assert status == 200


async def test_revoked_tokens_are_refused(central: WebCentral) -> None:
    async with aiohttp.ClientSession(base_url=central.base) as s:
        # One access token put on the revocation list.
        session = central.auth.login("admin1", PW["admin1"], "127.0.0.1")
        assert (await call(s, "GET", "/api/v1/stations", session.access_token))[0] == 200
        central.auth.revoke_access(session.claims.jti, session.claims.exp, "test")
        assert (await call(s, "GET", "/api/v1/stations", session.access_token))[0] == 401
        # Logout ends the access token and the refresh token.
        session = central.auth.login("nurse1", PW["nurse1"], "127.0.0.1")
        assert (await call(s, "GET", "/api/v1/visits", session.access_token))[0] == 200
        central.auth.logout(session.refresh_token, session.claims)
        assert (await call(s, "GET", "/api/v1/visits", session.access_token))[0] == 401
        # An admin ends a user's sessions; then disables the user.
        tech = central.auth.login("tech1", PW["tech1"], "127.0.0.1")
        assert (await call(s, "GET", "/api/v1/stations", tech.access_token))[0] == 200
        central.auth.revoke_user_tokens(tech.claims.sub)
        assert (await call(s, "GET", "/api/v1/stations", tech.access_token))[0] == 401
        tech = central.auth.login("tech1", PW["tech1"], "127.0.0.1")
        central.auth.disable_user(tech.claims.sub)
        assert (await call(s, "GET", "/api/v1/stations", tech.access_token))[0] == 401
        r = await s.post(
            "/auth/login",
            json={"username": "tech1", "password": PW["tech1"]},
            headers={"Origin": central.base},
        )
        assert r.status == 401


@pytest.mark.parametrize("user", ["nurse1", "recep1", "tech1"])
async def test_no_role_escalation(central: WebCentral, user: str) -> None:
    role = {"nurse1": "nurse", "recep1": "reception", "tech1": "technician"}[user]
    token = token_of(central, user)
    refused = 0
    async with aiohttp.ClientSession(base_url=central.base) as s:
        for method, path, roles in staff_routes(central):
            if role in roles:
                continue
            status, body = await call(s, method, path, token)
            assert status == 403, (user, method, path, status, body)
            assert body["error"]["reason"], body
            refused += 1
        # A nurse cannot make an admin, nor disable one.
        if role != "admin":
            r = await s.post(
                "/staff/api/users",
                json={"username": "evil", "name": "x", "role": "admin", "password": "p" * 16},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status == 403
    assert refused >= (3 if role != "technician" else 8), refused
    assert central.auth.store.user_by_name("evil") is None


async def test_technicians_read_no_names_or_birth_dates(central: WebCentral) -> None:
    """What a technician may read (fleet, events, dead letters, rooms, queues) carries no
    full name, birth date or phone digits of any patient."""
    data = central.sample.data
    for v in data.visits[:6]:
        assert v.visit_id is not None
        central.engine.check_in(v.visit_id, actor="reception")
    token = token_of(central, "tech1")
    secrets = [p.name for p in data.patients]
    secrets += [p.birth_date.isoformat() for p in data.patients if p.birth_date]
    secrets += [p.birth_date.strftime("%Y%m%d") for p in data.patients if p.birth_date]
    async with aiohttp.ClientSession(base_url=central.base) as s:
        rooms = {v.steps[0].room_id for v in data.visits[:6]}
        paths = ["/api/v1/stations", "/api/v1/events", "/api/v1/dead-letters", "/api/v1/rooms"]
        paths += [f"/api/v1/rooms/{r}/queue" for r in sorted(rooms)]
        for path in paths:
            async with s.get(path, headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 200, (path, r.status)
                text = await r.text()
            leaked = [x for x in secrets if x in text]
            assert not leaked, (path, leaked[:3])


async def test_staff_login_brute_force_is_throttled(central: WebCentral) -> None:
    async with aiohttp.ClientSession(base_url=central.base) as s:
        statuses = []
        for i in range(30):
            r = await s.post(
                "/auth/login",
                json={"username": "nurse1", "password": f"guess-{i}"},
                # Spoofed proxy headers from an untrusted client change nothing.
                headers={"Origin": central.base, "X-Forwarded-For": f"10.0.{i}.1"},
            )
            statuses.append(r.status)
        assert 200 not in statuses
        evaluated = statuses.count(401)
        assert evaluated <= 6, statuses
        first = statuses.index(429)
        assert all(x == 429 for x in statuses[first:]), statuses
        assert int(r.headers["Retry-After"]) >= 1


async def test_phone_login_brute_force_is_throttled(central: WebCentral) -> None:
    patient = next(p for p in central.sample.data.patients if p.phone_last4 and p.birth_date)
    assert patient.birth_date is not None
    birth = patient.birth_date.strftime("%Y%m%d")
    async with aiohttp.ClientSession(base_url=central.base) as s:
        statuses = []
        guesses = [f"{i:04d}" for i in range(41) if f"{i:04d}" != patient.phone_last4][:40]
        for i, guess in enumerate(guesses):
            r = await s.post(
                "/p/login",
                json={"last4": guess, "birth": birth},
                headers={"Origin": central.base, "X-Forwarded-For": f"10.1.{i}.1"},
            )
            statuses.append(r.status)
        assert 200 not in statuses
        assert statuses.count(401) <= 4, statuses
        assert statuses[-1] == 429
        assert int(r.headers["Retry-After"]) >= 30
        # The right answer, now, from the locked address: still refused.
        r = await s.post(
            "/p/login",
            json={"last4": patient.phone_last4, "birth": birth},
            headers={"Origin": central.base},
        )
        assert r.status == 429
