"""Users and their per-plant roles (api.md §2).

Deactivating a user, or an admin setting someone's password, revokes that user's refresh
tokens, so the change takes effect at once instead of when a copied cookie expires.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from openspc.auth.passwords import hash_password
from openspc.errors import BadRequest, NotFound
from openspc.extensions import db
from openspc.models import User, UserPlantRole
from openspc.services.admins import ensure_an_admin_remains
from openspc.services.auth import end_all_sessions
from openspc.services.ownership import get_or_404, get_plant_or_404
from openspc.services.transaction import flush_or_conflict, transactional

DUPLICATE_USER = "User with this username or email already exists"
LIST_LIMIT = 100


def list_users(search: str | None = None, active_only: bool = False) -> list[User]:
    """At most 100 users ordered by username; ``search`` matches username or email, any case."""
    query = sa.select(User).order_by(User.username).limit(LIST_LIMIT)
    if search:
        pattern = f"%{search.lower()}%"
        query = query.where(sa.or_(
            sa.func.lower(User.username).like(pattern), sa.func.lower(User.email).like(pattern)
        ))
    if active_only:
        query = query.where(User.is_active.is_(True))
    return list(db.session.execute(query).scalars())


def get_user(user_id: int) -> User:
    return get_or_404(User, user_id, "User")


@transactional
def create_user(username: str, password: str, email: str | None = None) -> User:
    user = User(username=username, email=email, hashed_password=hash_password(password))
    db.session.add(user)
    flush_or_conflict(DUPLICATE_USER)
    return user


@transactional
def update_user(user_id: int, changes: dict[str, Any]) -> User:
    """Apply the keys present; a new password is hashed and ends the user's sessions."""
    user = get_user(user_id)
    for field, value in changes.items():
        if field == "password":
            user.hashed_password = hash_password(value)
        else:
            setattr(user, field, value)
    flush_or_conflict(DUPLICATE_USER)
    if changes.get("is_active") is False:
        ensure_an_admin_remains()
    if "password" in changes or changes.get("is_active") is False:
        end_all_sessions(user.id)
    return user


@transactional
def deactivate_user(caller: User, user_id: int) -> None:
    """Soft delete (``is_active=false``); an admin cannot lock themselves out."""
    if user_id == caller.id:
        raise BadRequest("Cannot deactivate your own account")
    user = get_user(user_id)
    user.is_active = False
    ensure_an_admin_remains()
    end_all_sessions(user.id)


@transactional
def delete_user(caller: User, user_id: int) -> None:
    """Delete a deactivated user and their roles (deactivate first, as the reference)."""
    if user_id == caller.id:
        raise BadRequest("Cannot delete your own account")
    user = get_user(user_id)
    if user.is_active:
        raise BadRequest("Cannot delete an active user")
    db.session.delete(user)


@transactional
def assign_role(user_id: int, plant_id: int, role: str) -> User:
    """Give the user ``role`` at the plant, replacing the role they had there."""
    user = get_user(user_id)
    get_plant_or_404(plant_id)
    existing = next((r for r in user.plant_roles if r.plant_id == plant_id), None)
    if existing is None:
        user.plant_roles.append(UserPlantRole(plant_id=plant_id, role=role))
    else:
        existing.role = role
    ensure_an_admin_remains()
    db.session.refresh(user)
    return user


@transactional
def remove_role(caller: User, user_id: int, plant_id: int) -> None:
    assignment = db.session.execute(
        sa.select(UserPlantRole).where(
            UserPlantRole.user_id == user_id, UserPlantRole.plant_id == plant_id
        )
    ).scalar_one_or_none()
    if assignment is None:
        raise NotFound(f"No role assignment found for user {user_id} at plant {plant_id}")
    if user_id == caller.id and assignment.role == "admin":
        raise BadRequest("Cannot remove your own admin role")
    db.session.delete(assignment)
    ensure_an_admin_remains()
