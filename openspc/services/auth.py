"""Login, refresh-token rotation and revocation, logout, password change.

Beyond the reference (ops.md §12 gap 2): every refresh token is recorded by its ``jti``;
rotation revokes the presented one, and presenting an already revoked token (a stolen copy
racing its owner) revokes every refresh token of that user. Logout and password change
revoke too, so a copied cookie stops working.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

import sqlalchemy as sa
from flask_jwt_extended import create_refresh_token, decode_token
from jwt import PyJWTError

from openspc import get_settings
from openspc.auth.passwords import hash_password, verify_password
from openspc.auth.tokens import issue_access_token
from openspc.errors import BadRequest, Unauthorized
from openspc.extensions import db
from openspc.models import RefreshToken, User
from openspc.models.types import utcnow
from openspc.services.transaction import transactional

INVALID_REFRESH = "Invalid or expired refresh token"


@dataclass(frozen=True)
class Session:
    """What login and refresh hand back: a new access token and a new refresh token."""

    access_token: str
    refresh_token: str
    user: User


@transactional
def login(username: str, password: str) -> Session:
    """401 for an unknown user, a wrong password or an inactive user alike."""
    user = db.session.execute(sa.select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        verify_password(_decoy_hash(), password)  # same cost whether or not the user exists
        raise Unauthorized("Invalid username or password")
    if not verify_password(user.hashed_password, password) or not user.is_active:
        raise Unauthorized("Invalid username or password")
    return _open_session(user)


def must_change_password(user: User) -> bool:
    """Reported at login; always false in dev mode (api.md §1)."""
    return user.must_change_password and not get_settings().dev_mode


def rotate(refresh_token: str | None) -> Session:
    """Exchange a live refresh token for a new pair; the presented one is revoked.

    The revocation is a conditional UPDATE, so of two concurrent uses of one token exactly
    one wins; the other counts as reuse and revokes the user's whole family of tokens.
    """
    if not refresh_token:
        raise Unauthorized("No refresh token")
    claims = _refresh_claims(refresh_token, allow_expired=False)
    if claims is None:
        raise Unauthorized(INVALID_REFRESH)
    return _rotate(claims["jti"], int(claims["sub"]))


@transactional
def _rotate(jti: str, user_id: int) -> Session:
    stored = db.session.get(RefreshToken, jti)
    if stored is None or stored.user_id != user_id:
        raise Unauthorized(INVALID_REFRESH)
    revoked = db.session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.jti == jti, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    if revoked.rowcount != 1:
        revoke_all_refresh_tokens(user_id)
        db.session.commit()
        raise Unauthorized(INVALID_REFRESH)
    user = db.session.get(User, user_id)
    if user is None or not user.is_active:
        raise Unauthorized("User not found or inactive")
    return _open_session(user)


@transactional
def logout(refresh_token: str | None) -> None:
    """Revoke the presented refresh token, if it is one of ours; logout never fails."""
    claims = _refresh_claims(refresh_token, allow_expired=True) if refresh_token else None
    if claims is None:
        return
    db.session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.jti == claims["jti"], RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


@transactional
def change_password(user: User, current_password: str, new_password: str) -> None:
    """Set a new password, clear ``must_change_password`` and end every other session."""
    if not verify_password(user.hashed_password, current_password):
        raise BadRequest("Current password is incorrect")
    if new_password == current_password:
        raise BadRequest("New password must be different from current password")
    user.hashed_password = hash_password(new_password)
    user.must_change_password = False
    revoke_all_refresh_tokens(user.id)


def revoke_all_refresh_tokens(user_id: int) -> None:
    """Revoke every live refresh token of a user, inside the caller's transaction."""
    db.session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


@transactional
def purge_expired_refresh_tokens() -> int:
    """Delete refresh tokens past their expiry: they can no longer be used, and a reuse of one
    is refused by its signature alone. Returns how many rows went."""
    result = db.session.execute(sa.delete(RefreshToken).where(RefreshToken.expires_at < utcnow()))
    return result.rowcount


def _open_session(user: User) -> Session:
    """Issue an access token and a recorded refresh token (flushed with the caller's work)."""
    refresh_token = create_refresh_token(identity=str(user.id))
    claims = decode_token(refresh_token)
    db.session.add(RefreshToken(
        jti=claims["jti"], user_id=user.id, issued_at=utcnow(),
        expires_at=datetime.fromtimestamp(claims["exp"], UTC),
    ))
    return Session(access_token=issue_access_token(user), refresh_token=refresh_token, user=user)


def _refresh_claims(token: str, *, allow_expired: bool) -> dict | None:
    try:
        claims = decode_token(token, allow_expired=allow_expired)
    except (PyJWTError, ValueError, KeyError):
        return None
    if claims.get("type") != "refresh" or "jti" not in claims:
        return None
    if not str(claims.get("sub", "")).isdigit():
        return None
    return claims


@cache
def _decoy_hash() -> str:
    return hash_password("decoy password for unknown users")
