"""Password hashing with argon2id (argon2-cffi), rehashed at login when the cost changes."""

from __future__ import annotations

import contextlib

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Passwords:
    """Hash and verify staff passwords."""

    def __init__(self, *, time_cost: int = 3, memory_kib: int = 65536, parallelism: int = 2):
        self._ph = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        # Verified against when the user does not exist, so a miss costs as much as a hit
        # and the answer time does not tell which user names exist.
        self._dummy = self._ph.hash("not a password of anyone")

    def hash(self, password: str) -> str:
        """An argon2id hash (PHC string, salt included)."""
        return self._ph.hash(password)

    def verify(self, stored: str | None, password: str) -> tuple[bool, str | None]:
        """(matches, new hash when the stored one uses outdated parameters, else None)."""
        if stored is None:
            with contextlib.suppress(VerificationError):
                self._ph.verify(self._dummy, password + "\x00")
            return False, None
        try:
            self._ph.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, None
        if self._ph.check_needs_rehash(stored):
            return True, self._ph.hash(password)
        return True, None
