"""Auth settings (the `[auth]` section of central's config)."""

from __future__ import annotations

from pydantic import Field

from protocol.base import Model


class ThrottlePolicy(Model):
    """Failures allowed before a lock, and how the lock grows (doubling up to a cap)."""

    free_failures: int = Field(ge=1, le=1000, description="Failures allowed before any lock.")
    base_lock_s: float = Field(gt=0, le=86400, description="First lock after the free failures.")
    max_lock_s: float = Field(gt=0, le=86400, description="The lock never grows beyond this.")
    window_s: float = Field(
        gt=0, le=86400, description="Failures older than this (since the last one) are forgotten."
    )


class AuthConfig(Model):
    """Tokens, cookies and login throttling for staff and patients."""

    access_ttl_s: int = Field(
        default=600, ge=1, le=900, description="Staff access-token lifetime (at most 15 min)."
    )
    refresh_ttl_s: int = Field(
        default=12 * 3600,
        ge=60,
        le=7 * 86400,
        description="Absolute lifetime of a login (refresh-token family); a shift by default.",
    )
    refresh_reuse_grace_s: float = Field(
        default=5.0,
        ge=0,
        le=30,
        description="A refresh token presented again within this time of its first use is a "
        "race between two tabs: answered 409 without issuing anything, not treated as theft.",
    )
    revocation_cache_s: float = Field(
        default=30.0,
        ge=0,
        le=60,
        description="How long a worker trusts its cached revocation list (at most 60 s).",
    )
    patient_ttl_s: int = Field(
        default=1800,
        ge=1,
        le=3600,
        description="Phone-page token lifetime; the page renews it while the visit is active.",
    )
    patient_max_s: int = Field(
        default=12 * 3600,
        ge=60,
        le=86400,
        description="A phone-page session ends this long after its login, renewals or not.",
    )
    patient_link_ttl_s: int = Field(
        default=600, ge=10, le=3600, description="Lifetime of a one-time phone-page link."
    )
    cookie_secure: bool = Field(
        default=True,
        description="Mark cookies Secure. Browsers keep Secure cookies on http://127.0.0.1 and "
        "http://localhost (secure contexts); turn off only for plain-http hosts under test.",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Origins (scheme://host[:port]) allowed to send state changes and open "
        "WebSockets; empty means the origin the request was addressed to (no proxy).",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Addresses of reverse proxies in front of central. Only from these is "
        "X-Forwarded-For believed (its last address not in this list is the client); "
        "without it every client behind a proxy shares the proxy's login throttle.",
    )
    device_cookie_days: int = Field(
        default=90,
        ge=1,
        le=400,
        description="A browser that logged in as a user before is exempt from that user's "
        "account-wide lock for this long (attackers cannot lock a nurse out of her own PC).",
    )
    password_time_cost: int = Field(default=3, ge=1, le=20, description="argon2id passes.")
    password_memory_kib: int = Field(
        default=65536, ge=8, le=4 * 1024 * 1024, description="argon2id memory in KiB."
    )
    password_parallelism: int = Field(default=2, ge=1, le=16, description="argon2id lanes.")
    staff_account_address: ThrottlePolicy = Field(
        default_factory=lambda: ThrottlePolicy(
            free_failures=5, base_lock_s=2, max_lock_s=900, window_s=3600
        ),
        description="One account from one address: the real guessing limit.",
    )
    staff_address: ThrottlePolicy = Field(
        default_factory=lambda: ThrottlePolicy(
            free_failures=30, base_lock_s=10, max_lock_s=1800, window_s=3600
        ),
        description="One address, any account (password spraying).",
    )
    staff_account: ThrottlePolicy = Field(
        default_factory=lambda: ThrottlePolicy(
            free_failures=50, base_lock_s=5, max_lock_s=60, window_s=900
        ),
        description="One account, any address: soft (short locks, never over a minute) and "
        "skipped for browsers with the user's device cookie.",
    )
    phone_address: ThrottlePolicy = Field(
        default_factory=lambda: ThrottlePolicy(
            free_failures=3, base_lock_s=60, max_lock_s=6 * 3600, window_s=86400
        ),
        description="Phone login from one address.",
    )
    phone_visit: ThrottlePolicy = Field(
        default_factory=lambda: ThrottlePolicy(
            free_failures=5, base_lock_s=300, max_lock_s=6 * 3600, window_s=86400
        ),
        description="Phone login aimed at one visit (the QR page), any address.",
    )
    phone_global: ThrottlePolicy = Field(
        default_factory=lambda: ThrottlePolicy(
            free_failures=100, base_lock_s=30, max_lock_s=600, window_s=600
        ),
        description="Phone-login failures from everywhere (a botnet): a short pause for all.",
    )
