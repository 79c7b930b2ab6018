"""Login, refresh-token rotation and revocation, logout, password change.

Beyond the reference (ops.md §12 gap 2): every refresh token is recorded by its ``jti`` in a
family, the tokens rotated from one login. A refresh marks the presented token rotated with a
compare-and-set ``UPDATE ... WHERE rotated_at IS NULL``, which the database applies to one
row at a time across every process: of concurrent uses of one token exactly one rotates it.
The others are not thefts but the same client twice (two tabs, a reload during a request,
React's double effect, a retrying proxy, all within milliseconds), so a token rotated less
than ``OPENSPC_REFRESH_REUSE_SECONDS`` ago is answered with its family's live token again (the
same JWT, re-encoded from its stored claims, after a ``SELECT ... FOR UPDATE`` that waits for
a rotation in flight). A use after that interval is a stolen copy racing its owner: the
family is revoked, the user's access tokens end and a security event is logged.

Logout revokes the presented token's family, a password change every family; both end the
user's access tokens (``User.token_version``), which other devices renew from their own
refresh cookie.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cache

import sqlalchemy as sa
import structlog
from flask_jwt_extended import decode_token
from jwt import PyJWTError

from openspc import get_settings
from openspc.auth.passwords import hash_password, verify_password
from openspc.auth.tokens import RefreshClaims, issue_access_token
from openspc.errors import BadRequest, Unauthorized
from openspc.extensions import db
from openspc.models import RefreshToken, User
from openspc.models.types import utcnow
from openspc.services.transaction import transactional

log = structlog.get_logger("openspc.security")

INVALID_REFRESH = "Invalid or expired refresh token"
MAX_SUCCESSORS = 100
"""How far a reused token's chain of successors is followed to its live token."""


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


def rotate(refresh_token: str | None, client_address: str) -> Session:
    """Exchange a live refresh token for a new pair (see the module docstring)."""
    if not refresh_token:
        raise Unauthorized("No refresh token")
    claims = _refresh_claims(refresh_token, allow_expired=False)
    if claims is None:
        raise Unauthorized(INVALID_REFRESH)
    return _rotate(claims["jti"], int(claims["sub"]), client_address)


@transactional
def _rotate(jti: str, user_id: int, client_address: str) -> Session:
    now = utcnow()
    successor = RefreshClaims.new(user_id)
    # By primary key alone: given the user id too, MariaDB scanned the user's index with
    # next-key locks, and the winner's insert of the successor then deadlocked with the
    # waiting losers. A token of another user (a forged jti) rolls back below.
    rotated = db.session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.jti == jti, RefreshToken.rotated_at.is_(None),
               RefreshToken.revoked_at.is_(None))
        .values(rotated_at=now, replaced_by=successor.jti)
    ).rowcount == 1
    stored = _locked_token(jti)
    if stored is None or stored.user_id != user_id or stored.revoked_at is not None:
        raise Unauthorized(INVALID_REFRESH)
    user = db.session.get(User, user_id)
    if user is None or not user.is_active:
        raise Unauthorized("User not found or inactive")
    if rotated:
        _record(successor, stored.family_id)
        return Session(issue_access_token(user), successor.encode(), user)
    since_rotation = now - (stored.rotated_at or now)
    if since_rotation < timedelta(seconds=get_settings().refresh_reuse_seconds):
        live = _live_successor(stored)
        if live is None:
            raise Unauthorized(INVALID_REFRESH)
        return Session(issue_access_token(user), _claims_of(live).encode(), user)
    _revoke_family(stored.family_id)
    _end_access_tokens(user_id)
    log.warning("refresh_token_reuse", user_id=user_id, client_address=client_address,
                rotated_seconds_ago=round(since_rotation.total_seconds(), 1),
                action="session revoked: a rotated refresh token was presented again")
    db.session.commit()
    raise Unauthorized(INVALID_REFRESH)


@transactional
def logout(refresh_token: str | None) -> None:
    """End the session of the presented refresh token, if it is one of ours: its family and
    the user's access tokens. Logout never fails."""
    claims = _refresh_claims(refresh_token, allow_expired=True) if refresh_token else None
    if claims is None:
        return
    stored = db.session.get(RefreshToken, claims["jti"])
    if stored is None or stored.user_id != int(claims["sub"]):
        return
    if _revoke_family(stored.family_id):
        _end_access_tokens(stored.user_id)


@transactional
def change_password(user: User, current_password: str, new_password: str) -> Session:
    """Set a new password, clear ``must_change_password`` and end every session, the
    caller's access token included; the caller gets a new session (its refresh token renews
    the access token, as after any 401)."""
    if not verify_password(user.hashed_password, current_password):
        raise BadRequest("Current password is incorrect")
    if new_password == current_password:
        raise BadRequest("New password must be different from current password")
    user.hashed_password = hash_password(new_password)
    user.must_change_password = False
    end_all_sessions(user.id)
    return _open_session(user)


def end_all_sessions(user_id: int) -> None:
    """Revoke every refresh token of a user and end their access tokens, inside the caller's
    transaction."""
    db.session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    _end_access_tokens(user_id)


@transactional
def purge_expired_refresh_tokens() -> int:
    """Delete refresh tokens past their expiry: they can no longer be used, and a reuse of one
    is refused by its signature alone. Returns how many rows went."""
    result = db.session.execute(sa.delete(RefreshToken).where(RefreshToken.expires_at < utcnow()))
    return result.rowcount


def _revoke_family(family_id: str) -> int:
    """Revoke the live tokens of one login's family; how many there were."""
    return db.session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    ).rowcount


def _end_access_tokens(user_id: int) -> None:
    """Raise the user's token version: every access token issued before is refused. The
    ORM update also moves a loaded ``User``, so tokens issued next carry the new version."""
    db.session.execute(
        sa.update(User).where(User.id == user_id)
        .values(token_version=User.token_version + 1)
    )


def _locked_token(jti: str) -> RefreshToken | None:
    """The token row as committed now, locked for this transaction (a locking read, so
    MariaDB's repeatable read does not answer from an older snapshot)."""
    return db.session.execute(
        sa.select(RefreshToken).where(RefreshToken.jti == jti).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def _live_successor(token: RefreshToken) -> RefreshToken | None:
    """The token of the family that is not rotated yet, following ``replaced_by``."""
    for _ in range(MAX_SUCCESSORS):
        if token.replaced_by is None:
            return None
        token = _locked_token(token.replaced_by)
        if token is None or token.revoked_at is not None:
            return None
        if token.rotated_at is None:
            return token
    return None


def _claims_of(token: RefreshToken) -> RefreshClaims:
    return RefreshClaims(token.jti, token.user_id, token.issued_at, token.expires_at)


def _record(claims: RefreshClaims, family_id: str) -> None:
    db.session.add(RefreshToken(
        jti=claims.jti, user_id=claims.user_id, family_id=family_id,
        issued_at=claims.issued_at, expires_at=claims.expires_at,
    ))


def _open_session(user: User) -> Session:
    """Issue an access token and the first refresh token of a new family (flushed with the
    caller's work)."""
    claims = RefreshClaims.new(user.id)
    _record(claims, family_id=claims.jti)
    return Session(issue_access_token(user), claims.encode(), user)


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
