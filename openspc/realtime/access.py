"""Who may open a realtime connection and which characteristics they may follow.

The token is checked like the REST routes (signature, expiry, ``type == "access"``, the user
exists and is active, the token's version is the user's, so a token ended by logout or a
password change opens no socket), which is stricter than the reference's socket.
Subscriptions are plant-scoped like every read: operator or higher at the characteristic's
plant, admin anywhere = everywhere. Each check releases its database session at once,
because a socket lives much longer than a request and must not hold a pooled connection.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from openspc.auth.current import verified_access_token
from openspc.auth.roles import has_role_anywhere, readable_plant_ids
from openspc.extensions import db
from openspc.models import Characteristic, Hierarchy, User

AUTH_REQUIRED = "Authentication required"
AUTH_INVALID = "Invalid or expired token"
AUTH_CLOSE_CODE = 4001
AUTH_CLOSE_REASON = "Authentication failed"


class AuthenticationFailed(Exception):
    """The socket's token is missing or unacceptable; ``message`` is the R.1 error text."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    @property
    def frame(self) -> dict[str, str]:
        return {"type": "error", "message": self.message}


def authenticate(token: str | None) -> int:
    """The id of the active user owning access ``token``; raises ``AuthenticationFailed``."""
    if not token:
        raise AuthenticationFailed(AUTH_REQUIRED)
    access = verified_access_token(token)
    if access is None:
        raise AuthenticationFailed(AUTH_INVALID)
    try:
        user = db.session.get(User, access.user_id)
        if user is None or not user.is_active or user.token_version != access.version:
            raise AuthenticationFailed(AUTH_INVALID)
    finally:
        db.session.remove()
    return access.user_id


def readable_characteristic_ids(user_id: int, characteristic_ids: Iterable[int]) -> set[int]:
    """The subset of ``characteristic_ids`` that exist and that the user may read now."""
    wanted = set(characteristic_ids)
    if not wanted:
        return set()
    try:
        user = db.session.get(User, user_id)
        if user is None or not user.is_active:
            return set()
        rows = db.session.execute(
            sa.select(Characteristic.id, Hierarchy.plant_id)
            .join(Hierarchy, Characteristic.hierarchy_id == Hierarchy.id)
            .where(Characteristic.id.in_(wanted))
        ).all()
        plants = readable_plant_ids(user)
        anywhere = has_role_anywhere(user, "operator")
        return {
            char_id for char_id, plant_id in rows
            if plants is None or plant_id in plants or (plant_id is None and anywhere)
        }
    finally:
        db.session.remove()
