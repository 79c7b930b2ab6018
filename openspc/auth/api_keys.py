"""API key format, hashing and verification.

A key is ``openspc_`` + an 8-character urlsafe lookup id + ``token_urlsafe(32)``. The first
16 characters (``openspc_`` + lookup id) are stored in ``key_prefix``, so verification reads
the one row with that prefix and checks one hash. The reference stored only the constant
``openspc_`` as prefix and bcrypt-checked every active key in turn (ops.md §12 gap 5).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from openspc.extensions import db
from openspc.models import ApiKey
from openspc.models.types import utcnow

KEY_SCHEME = "openspc_"
PREFIX_LENGTH = len(KEY_SCHEME) + 8


@dataclass(frozen=True)
class NewKey:
    """A freshly generated key: ``plaintext`` is shown once, the rest is stored."""

    plaintext: str
    prefix: str
    digest: str


def generate_api_key() -> NewKey:
    """A new random key with its lookup prefix and digest."""
    lookup_id = secrets.token_urlsafe(6)  # 6 bytes -> exactly 8 urlsafe characters
    plaintext = KEY_SCHEME + lookup_id + secrets.token_urlsafe(32)
    return NewKey(plaintext=plaintext, prefix=plaintext[:PREFIX_LENGTH], digest=digest(plaintext))


def digest(key: str) -> str:
    """SHA-256 hex of the whole key.

    A slow hash (bcrypt, argon2) protects low-entropy secrets such as passwords against
    guessing once the hashes leak. An API key carries 256 random bits: nobody can enumerate
    that space whatever the hash speed, so a fast hash loses nothing and keeps every
    authenticated request cheap.
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def find_valid_key(key: str, now: datetime | None = None) -> ApiKey | None:
    """The active, unexpired key row matching ``key``, else None.

    Rows sharing the prefix (a 48-bit collision, practically never) are each compared in
    constant time.
    """
    if not key.startswith(KEY_SCHEME) or len(key) <= PREFIX_LENGTH:
        return None
    wanted = digest(key)
    now = now or utcnow()
    candidates = db.session.execute(
        sa.select(ApiKey).where(ApiKey.key_prefix == key[:PREFIX_LENGTH])
    ).scalars()
    for row in candidates:
        if not hmac.compare_digest(row.key_hash, wanted):
            continue
        if (not row.is_active or row.revoked_at is not None
                or (row.expires_at is not None and row.expires_at <= now)):
            return None
        return row
    return None


def allows_characteristic(api_key: ApiKey, characteristic_id: int) -> bool:
    """Whether the key's ``permissions`` cover a characteristic (``"all"`` or a list of ids)."""
    scope = (api_key.permissions or {}).get("characteristics", "all")
    return scope == "all" or (isinstance(scope, list) and characteristic_id in scope)
