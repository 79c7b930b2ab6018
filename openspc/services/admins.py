"""The rule that keeps OpenSPC administrable: at least one active admin always remains.

Admins create plants and users; with none left, no one could again. Every change that can
take the admin role or the account away (deactivating or demoting a user, removing a role,
deleting a plant and the roles held there) checks, inside its own transaction and after its
writes are flushed, that an active user still holds the admin role somewhere; otherwise the
change is refused with 409 and rolled back.
"""

from __future__ import annotations

import sqlalchemy as sa

from openspc.errors import Conflict
from openspc.extensions import db
from openspc.models import User, UserPlantRole

LAST_ADMIN = "At least one active admin must remain"


def ensure_an_admin_remains() -> None:
    """Raise Conflict unless an active user still holds the admin role at some plant."""
    db.session.flush()
    remaining = db.session.execute(
        sa.select(UserPlantRole.id)
        .join(User, User.id == UserPlantRole.user_id)
        .where(UserPlantRole.role == "admin", User.is_active.is_(True))
        .limit(1)
    ).first()
    if remaining is None:
        raise Conflict(LAST_ADMIN)
