"""Plants (api.md §3).

Departure from the reference: reads are plant-scoped. ``list_plants`` returns only the plants
where the user holds a role (admins: all), and reading one plant needs a role there; the
reference showed every plant to every user (ops.md §12 gap 19).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from openspc.auth.roles import check_plant_role, readable_plant_ids
from openspc.errors import BadRequest
from openspc.extensions import db
from openspc.models import Plant, User, UserPlantRole
from openspc.services.admins import ensure_an_admin_remains
from openspc.services.ownership import get_plant_or_404
from openspc.services.transaction import flush_or_conflict, transactional

DUPLICATE_PLANT = "Plant with this name or code already exists"


def list_plants(user: User, active_only: bool = False) -> list[Plant]:
    """The plants the user may read, ordered by name."""
    query = sa.select(Plant).order_by(Plant.name)
    readable = readable_plant_ids(user)
    if readable is not None:
        query = query.where(Plant.id.in_(readable))
    if active_only:
        query = query.where(Plant.is_active.is_(True))
    return list(db.session.execute(query).scalars())


def read_plant(user: User, plant_id: int) -> Plant:
    """One plant, for a user with a role there (403 otherwise)."""
    plant = get_plant_or_404(plant_id)
    check_plant_role(user, plant.id, "operator")
    return plant


@transactional
def create_plant(name: str, code: str, is_active: bool = True,
                 settings: dict[str, Any] | None = None) -> Plant:
    """Create a plant; everyone who is admin at some plant becomes admin here too."""
    plant = Plant(name=name, code=code, is_active=is_active, settings=settings)
    db.session.add(plant)
    flush_or_conflict(DUPLICATE_PLANT)
    admins = db.session.execute(
        sa.select(UserPlantRole.user_id).where(UserPlantRole.role == "admin").distinct()
    ).scalars().all()
    db.session.add_all(
        [UserPlantRole(user_id=uid, plant_id=plant.id, role="admin") for uid in admins]
    )
    return plant


@transactional
def update_plant(plant_id: int, changes: dict[str, Any]) -> Plant:
    plant = get_plant_or_404(plant_id)
    for field, value in changes.items():
        setattr(plant, field, value)
    flush_or_conflict(DUPLICATE_PLANT)
    return plant


@transactional
def delete_plant(plant_id: int) -> None:
    """Delete a plant and, by cascade, everything under it (the roles held there too);
    never the Default plant, nor the last plant where an active admin holds the role."""
    plant = get_plant_or_404(plant_id)
    if plant.id == default_plant_id():
        raise BadRequest("Cannot delete the Default plant")
    db.session.delete(plant)
    ensure_an_admin_remains()


def default_plant_id() -> int:
    """The Default plant is the first plant, created by the initial migration. Its code and
    name may be changed, so it is known by its identity: being undeletable, it keeps the
    lowest id."""
    return db.session.execute(sa.select(sa.func.min(Plant.id))).scalar_one()
