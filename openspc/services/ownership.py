"""Which plant owns a node or a characteristic, and the lookups (get or 404) the services need.

A plant is the tenant boundary: a characteristic reaches its plant through
``characteristic.hierarchy_id -> hierarchy.plant_id`` (data-model.md). A node stored without a
plant (the reference's legacy ``POST /hierarchy/`` path) yields ``None``, which the role check
treats as "the role at any plant".
"""

from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa

from openspc.auth.roles import check_plant_role, readable_plant_ids
from openspc.errors import NotFound
from openspc.extensions import db
from openspc.models import Characteristic, Hierarchy, Plant, User

Row = TypeVar("Row")


def get_or_404(model: type[Row], key: Any, label: str) -> Row:
    """The row of ``model`` with primary key ``key``; 404 "``label`` ``key`` not found"."""
    row = db.session.get(model, key)
    if row is None:
        raise NotFound(f"{label} {key} not found")
    return row


def get_characteristic_or_404(char_id: int) -> Characteristic:
    return get_or_404(Characteristic, char_id, "Characteristic")


def get_node_or_404(node_id: int) -> Hierarchy:
    return get_or_404(Hierarchy, node_id, "Hierarchy node")


def get_plant_or_404(plant_id: int) -> Plant:
    return get_or_404(Plant, plant_id, "Plant")


def plant_of_characteristic(char_id: int) -> int | None:
    """The owning plant's id (one join, no ORM load); 404 when the characteristic is unknown."""
    row = db.session.execute(
        sa.select(Hierarchy.plant_id)
        .select_from(Characteristic)
        .join(Hierarchy, Hierarchy.id == Characteristic.hierarchy_id)
        .where(Characteristic.id == char_id)
    ).first()
    if row is None:
        raise NotFound(f"Characteristic {char_id} not found")
    return row.plant_id


def plant_of_hierarchy(node_id: int) -> int | None:
    """The node's plant; 404 when the node is unknown."""
    return get_node_or_404(node_id).plant_id


def authorize_characteristic(user: User, char_id: int, role: str) -> Characteristic:
    """The characteristic, after 404 and the ``role``-at-its-plant check (403)."""
    characteristic = get_characteristic_or_404(char_id)
    check_plant_role(user, plant_of_characteristic(char_id), role)
    return characteristic


def authorize_node(user: User, node_id: int, role: str) -> Hierarchy:
    """The node, after 404 and the ``role``-at-its-plant check (403)."""
    node = get_node_or_404(node_id)
    check_plant_role(user, node.plant_id, role)
    return node


def readable_clause(user: User, plant_column: sa.ColumnElement) -> sa.ColumnElement[bool] | None:
    """A WHERE clause limiting ``plant_column`` to the plants ``user`` may read; None = all.

    Any role at a plant grants reading it; plant-less (legacy) rows are readable by anyone who
    holds a role somewhere, as ``check_plant_role`` treats them.
    """
    plant_ids = readable_plant_ids(user)
    if plant_ids is None:
        return None
    if not plant_ids:
        return sa.false()
    return sa.or_(plant_column.in_(plant_ids), plant_column.is_(None))
