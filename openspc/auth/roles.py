"""Role checks: one decorator for "role at any plant", one function for "role at this plant".

Roles are ordered operator < supervisor < engineer < admin; an admin at any plant is admin
at every plant (as in the reference). Reads are plant-scoped too: reading a plant's data
needs at least operator there.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g

from openspc.auth.current import Caller, bearer_user
from openspc.errors import Forbidden
from openspc.models import User
from openspc.models.tenancy import ROLE_LEVELS

_ANY_PLANT_MESSAGES = {
    "admin": "Admin privileges required",
    "engineer": "Engineer or higher privileges required",
    "supervisor": "supervisor or higher privileges required",
    "operator": "operator or higher privileges required",
}

PASSWORD_CHANGE_REQUIRED = (
    "Password change required: change your password with POST /api/v1/auth/change-password"
)


def is_admin(user: User) -> bool:
    return any(r.role == "admin" for r in user.plant_roles)


def level_at(user: User, plant_id: int | None) -> int:
    """The user's effective role level at a plant (0 = none)."""
    if is_admin(user):
        return ROLE_LEVELS["admin"]
    if plant_id is None:
        return max((ROLE_LEVELS.get(r.role, 0) for r in user.plant_roles), default=0)
    return max(
        (ROLE_LEVELS.get(r.role, 0) for r in user.plant_roles if r.plant_id == plant_id),
        default=0,
    )


def has_role_anywhere(user: User, role: str) -> bool:
    need = ROLE_LEVELS[role]
    return any(ROLE_LEVELS.get(r.role, 0) >= need for r in user.plant_roles)


def check_plant_role(user: User, plant_id: int | None, role: str) -> None:
    """403 unless the user holds ``role`` (or higher) at ``plant_id``.

    A node or characteristic without a plant (the reference's legacy path) needs the role at
    any plant.
    """
    if plant_id is None:
        if not has_role_anywhere(user, role):
            raise Forbidden(_ANY_PLANT_MESSAGES[role])
        return
    if level_at(user, plant_id) < ROLE_LEVELS[role]:
        raise Forbidden(f"{role} or higher privileges required for this plant")


def readable_plant_ids(user: User) -> set[int] | None:
    """Plants whose data the user may read; None means every plant (admins)."""
    if is_admin(user):
        return None
    return {r.plant_id for r in user.plant_roles}


def login_required(view: Callable) -> Callable:
    """Any active user with a valid access token (401 otherwise)."""
    return require_role(None)(view)


def require_role(role: str | None, *, allow_password_change: bool = False) -> Callable:
    """Authenticate, then require ``role`` at any plant before the body is validated.

    A user who must change their password gets 403 everywhere except the auth routes
    (``allow_password_change``) unless OPENSPC_DEV_MODE is on.
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = bearer_user()
            enforce_password_change(user, allow_password_change)
            if role is not None and not has_role_anywhere(user, role):
                raise Forbidden(_ANY_PLANT_MESSAGES[role])
            g.current_user = user
            g.caller = Caller(user=user)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def enforce_password_change(user: User, allowed: bool = False) -> None:
    """403 while the user must change their password, unless allowed here or in dev mode."""
    from openspc import get_settings

    if user.must_change_password and not allowed and not get_settings().dev_mode:
        raise Forbidden(PASSWORD_CHANGE_REQUIRED)
