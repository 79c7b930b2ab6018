"""The equipment tree: trees per plant, node create/update/delete, a node's characteristics.

The reference checks no plant role in this module; we do (a node's plant scopes everything
below it), so a node also inherits its parent's plant even on the legacy ``POST /hierarchy/``
path, which would otherwise let a child escape its parent's plant.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from openspc.auth.roles import check_plant_role
from openspc.errors import Conflict, NotFound, ValidationFailed
from openspc.extensions import db
from openspc.models import Characteristic, Hierarchy, User
from openspc.services.characteristics import describe
from openspc.services.ownership import get_plant_or_404, readable_clause
from openspc.services.transaction import transactional

INTEGRITY_ERROR = "Database integrity error: duplicate or invalid reference"


def tree(user: User, plant_id: int | None = None) -> list[dict[str, Any]]:
    """HierarchyTreeNode roots: of one plant, or of every plant ``user`` may read.

    Two queries (nodes, characteristic counts) whatever the size of the tree. A node whose
    parent is outside the selection is shown as a root rather than lost.
    """
    nodes = sa.select(Hierarchy.id, Hierarchy.parent_id, Hierarchy.name, Hierarchy.type)
    if plant_id is not None:
        nodes = nodes.where(Hierarchy.plant_id == plant_id)
    else:
        readable = readable_clause(user, Hierarchy.plant_id)
        if readable is not None:
            nodes = nodes.where(readable)
    rows = db.session.execute(nodes.order_by(Hierarchy.id)).all()
    counts = dict(db.session.execute(
        sa.select(Characteristic.hierarchy_id, sa.func.count())
        .where(Characteristic.hierarchy_id.in_(nodes.with_only_columns(Hierarchy.id)))
        .group_by(Characteristic.hierarchy_id)
    ).tuples().all())
    built = {
        row.id: {"id": row.id, "name": row.name, "type": row.type, "children": [],
                 "characteristic_count": counts.get(row.id, 0)}
        for row in rows
    }
    roots = []
    for row in rows:
        parent = built.get(row.parent_id) if row.parent_id is not None else None
        (parent["children"] if parent else roots).append(built[row.id])
    return roots


@transactional
def create_node(user: User, data: Mapping[str, Any], plant_id: int | None = None) -> Hierarchy:
    """Add a node under ``parent_id`` (or as a root) after checking engineer at its plant.

    The node takes its parent's plant when the parent has one, else ``plant_id`` (404 when that
    plant does not exist); the role check happens once the plant is known, after the 404s.
    """
    if plant_id is not None:
        get_plant_or_404(plant_id)
    parent_id = data.get("parent_id")
    if parent_id is not None:
        parent = db.session.get(Hierarchy, parent_id)
        if parent is None:
            raise NotFound(f"Parent hierarchy node {parent_id} not found")
        plant_id = parent.plant_id if parent.plant_id is not None else plant_id
    check_plant_role(user, plant_id, "engineer")
    node = Hierarchy(parent_id=parent_id, plant_id=plant_id, name=data["name"], type=data["type"])
    db.session.add(node)
    _flush()
    return node


@transactional
def update_node(node: Hierarchy, data: Mapping[str, Any]) -> Hierarchy:
    """Rename or retype a node; moving it (``parent_id``) is not an update the API offers."""
    for key in ("name", "type"):
        if key in data:
            setattr(node, key, data[key])
    _flush()
    return node


@transactional
def delete_node(node: Hierarchy) -> None:
    """Delete a leaf node (its characteristics cascade); a node with children is refused."""
    children = db.session.scalar(
        sa.select(sa.func.count()).select_from(Hierarchy).where(Hierarchy.parent_id == node.id)
    ) or 0
    if children:
        raise Conflict(f"Cannot delete hierarchy node {node.id}: has {children} child node(s)")
    db.session.delete(node)


def node_characteristics(node: Hierarchy, include_descendants: bool) -> list[dict[str, Any]]:
    """CharacteristicResponse payloads (counts filled) of a node, or of its whole subtree."""
    node_ids = _subtree_ids(node) if include_descendants else [node.id]
    characteristics = db.session.scalars(
        sa.select(Characteristic)
        .where(Characteristic.hierarchy_id.in_(node_ids))
        .order_by(Characteristic.id)
    ).all()
    return describe(characteristics, with_counts=True)


def _subtree_ids(node: Hierarchy) -> list[int]:
    """The node and all its descendants, from one read of the (id, parent) pairs."""
    children: dict[int, list[int]] = defaultdict(list)
    for node_id, parent_id in db.session.execute(
        sa.select(Hierarchy.id, Hierarchy.parent_id).where(Hierarchy.parent_id.is_not(None))
    ).tuples():
        children[parent_id].append(node_id)
    found, frontier = [node.id], [node.id]
    while frontier:
        frontier = [child for parent in frontier for child in children[parent]]
        found.extend(frontier)
    return found


def _flush() -> None:
    """Write now so that a constraint failure is the reference's 422 string detail."""
    try:
        db.session.flush()
    except IntegrityError:
        raise ValidationFailed(INTEGRITY_ERROR) from None
