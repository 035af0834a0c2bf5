"""Auth errors: each is an `ApiError`, so central's one error middleware maps them."""

from __future__ import annotations

from central.api.errors import ApiError


class AuthError(ApiError):
    """Base of the auth errors."""

    status = 401
    reason = "not_authenticated"
    message_ko = "로그인이 필요합니다."
    message_en = "Please log in."


class NotAuthenticated(AuthError):
    """No token, or one that is not ours."""


class TokenExpired(AuthError):
    """The access token expired: refresh it."""

    reason = "token_expired"
    message_ko = "로그인 시간이 지났습니다."
    message_en = "The access token expired; refresh it."


class TokenRevoked(AuthError):
    """The token (or its login, or its user) was revoked."""

    reason = "token_revoked"
    message_ko = "로그아웃되었습니다. 다시 로그인해 주세요."
    message_en = "This login was ended; please log in again."


class BadCredentials(AuthError):
    """Wrong user name or password, or no patient visit matches (never says which)."""

    reason = "bad_credentials"
    message_ko = "입력한 정보가 맞지 않습니다."
    message_en = "The details you entered do not match."


class RefreshReused(AuthError):
    """A refresh token was used twice: the whole login is revoked."""

    reason = "refresh_reused"
    message_ko = "보안을 위해 로그아웃되었습니다. 다시 로그인해 주세요."
    message_en = "For your security this login was ended; please log in again."


class RefreshRace(AuthError):
    """Another tab refreshed this login a moment ago: retry with the new cookies."""

    status = 409
    reason = "refresh_race"
    message_ko = "잠시 후 다시 시도해 주세요."
    message_en = "Another tab just refreshed this login; retry."


class Throttled(AuthError):
    """Too many failed logins: wait."""

    status = 429
    reason = "throttled"
    message_ko = "로그인 시도가 너무 많습니다. 잠시 후 다시 시도해 주세요."
    message_en = "Too many failed attempts; try again later."

    def __init__(self, retry_after_s: float, scope: str) -> None:
        self.retry_after_s = max(1, int(retry_after_s + 0.999))
        self.scope = scope
        super().__init__(f"retry after {self.retry_after_s} s", "")


class CsrfRejected(AuthError):
    """A cookie-authenticated state change without the right Origin or CSRF token."""

    status = 403
    reason = "csrf_rejected"
    message_ko = "요청을 확인할 수 없습니다. 페이지를 새로 고쳐 주세요."
    message_en = "The request could not be verified; reload the page."


class RoleForbidden(AuthError):
    """The caller's role may not do this."""

    status = 403
    reason = "forbidden"
    message_ko = "이 작업을 할 권한이 없습니다."
    message_en = "Your role may not do this."
