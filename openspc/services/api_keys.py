"""API keys: create, list, update, revoke, delete, and authenticate a presented key.

Departures from the reference (ops.md §3, §12): ``permissions`` and ``rate_limit_per_minute``
are settable and enforced, and a key scoped to a list of characteristics can only be minted
by someone who is engineer at the plants that own them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from openspc.auth.api_keys import find_valid_key, generate_api_key
from openspc.auth.roles import check_plant_role
from openspc.errors import Conflict, ValidationFailed
from openspc.extensions import db
from openspc.models import ApiKey, Characteristic, Hierarchy, User
from openspc.models.types import utcnow
from openspc.services.ownership import get_or_404
from openspc.services.transaction import transactional

ALL_CHARACTERISTICS = {"characteristics": "all"}


def list_api_keys() -> list[ApiKey]:
    """Every key, newest first (keys belong to no plant)."""
    query = sa.select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id)
    return list(db.session.execute(query).scalars())


def get_api_key(key_id: str) -> ApiKey:
    return get_or_404(ApiKey, key_id, "API key")


@transactional
def create_api_key(caller: User, *, name: str, expires_at: datetime | None = None,
                   rate_limit_per_minute: int = 60,
                   permissions: dict[str, Any] | None = None) -> tuple[ApiKey, str]:
    """Store a new key and return it with its plaintext, which is never shown again."""
    permissions = permissions or ALL_CHARACTERISTICS
    _check_permissions(caller, permissions)
    new_key = generate_api_key()
    api_key = ApiKey(
        name=name, key_hash=new_key.digest, key_prefix=new_key.prefix,
        expires_at=_aware(expires_at), rate_limit_per_minute=rate_limit_per_minute,
        permissions=permissions, is_active=True, created_at=utcnow(),
    )
    db.session.add(api_key)
    return api_key, new_key.plaintext


@transactional
def update_api_key(caller: User, key_id: str, changes: dict[str, Any]) -> ApiKey:
    """Apply the fields present in ``changes`` (name, is_active, rate limit, expiry, scope).

    ``is_active: false`` pauses a key and ``true`` resumes it, but never a revoked one: a
    revocation needs admin, so an engineer must not be able to undo it (409)."""
    api_key = get_api_key(key_id)
    _check_current_scope(caller, api_key)
    if changes.get("is_active") and api_key.revoked_at is not None:
        raise Conflict(f"API key {key_id} is revoked and cannot be re-enabled")
    if "permissions" in changes:
        _check_permissions(caller, changes["permissions"])
    if "expires_at" in changes:
        changes = {**changes, "expires_at": _aware(changes["expires_at"])}
    for field, value in changes.items():
        setattr(api_key, field, value)
    return api_key


@transactional
def revoke_api_key(key_id: str) -> ApiKey:
    """Deactivate the key for good (``revoked_at``); revoking again keeps the first time."""
    api_key = get_api_key(key_id)
    api_key.is_active = False
    api_key.revoked_at = api_key.revoked_at or utcnow()
    return api_key


@transactional
def delete_api_key(key_id: str) -> None:
    db.session.delete(get_api_key(key_id))


@transactional
def authenticate_api_key(presented: str) -> ApiKey | None:
    """The valid key matching ``presented`` with ``last_used_at`` stamped, else None."""
    api_key = find_valid_key(presented)
    if api_key is not None:
        api_key.last_used_at = utcnow()
    return api_key


def _check_permissions(caller: User, permissions: dict[str, Any]) -> None:
    """Each listed characteristic must exist (422 naming its index) and be the caller's to grant.

    Granting a characteristic needs engineer at its plant (403 otherwise), so an engineer of
    plant A cannot mint a key that writes into plant B. ``"all"`` stays open to any engineer,
    as in the reference, for compatibility.
    """
    scope = permissions["characteristics"]
    if scope == "all":
        return
    plant_of = _plants_of(scope)
    missing = [
        {"type": "value_error", "loc": ["body", "permissions", "characteristics", index],
         "msg": f"Value error, Characteristic {char_id} not found", "input": char_id}
        for index, char_id in enumerate(scope) if char_id not in plant_of
    ]
    if missing:
        raise ValidationFailed(missing)
    _require_engineer_at(caller, plant_of.values())


def _check_current_scope(caller: User, api_key: ApiKey) -> None:
    """Changing a key scoped to some plants' characteristics needs engineer at those plants."""
    scope = (api_key.permissions or {}).get("characteristics", "all")
    if scope != "all":
        _require_engineer_at(caller, _plants_of(scope).values())


def _plants_of(characteristic_ids: list[int]) -> dict[int, int | None]:
    rows = db.session.execute(
        sa.select(Characteristic.id, Hierarchy.plant_id)
        .join(Hierarchy, Characteristic.hierarchy_id == Hierarchy.id)
        .where(Characteristic.id.in_(characteristic_ids))
    ).all()
    return dict(rows)


def _require_engineer_at(caller: User, plant_ids) -> None:
    for plant_id in set(plant_ids):
        check_plant_role(caller, plant_id, "engineer")


def _aware(value: datetime | None) -> datetime | None:
    """Datetimes without an offset are UTC (api.md §0)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
