"""Argon2id password hashing (argon2-cffi's RFC 9106 low-memory profile, as the reference)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import Argon2Error, InvalidHashError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (Argon2Error, InvalidHashError):
        return False


def set_hasher_for_tests(hasher: PasswordHasher) -> None:
    """Tests use cheap parameters; production keeps the defaults above."""
    global _hasher
    _hasher = hasher
