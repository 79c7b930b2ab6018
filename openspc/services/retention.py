"""Retention policies (ops.md §7.1-7.2): per plant, per hierarchy node, per characteristic.

A characteristic keeps its samples as its own policy says, else as its nearest ancestor node
with a policy says, else as its plant's default; with none of them, forever. The set
operations are upserts keyed on (plant, scope, target); the plant's row is locked first so
that two concurrent first writes cannot both insert (the unique key cannot see it: its
``hierarchy_id``/``characteristic_id`` columns hold NULLs, which most databases count as
distinct).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from openspc.auth.roles import check_plant_role
from openspc.errors import BadRequest, NotFound
from openspc.extensions import db
from openspc.models import Characteristic, Hierarchy, Plant, PurgeHistory, RetentionPolicy, User
from openspc.models.types import utcnow
from openspc.services.ownership import (
    get_characteristic_or_404,
    get_node_or_404,
    get_plant_or_404,
    plant_of_characteristic,
)
from openspc.services.transaction import transactional

GLOBAL, HIERARCHY, CHARACTERISTIC = "global", "hierarchy", "characteristic"
FOREVER, SAMPLE_COUNT, TIME_DELTA = "forever", "sample_count", "time_delta"
UNIT_DAYS = {"days": 1, "weeks": 7, "months": 30, "years": 365}
"""The reference's approximations: a month is 30 days and a year 365 (ops.md §7.1)."""


@dataclass(frozen=True)
class EffectivePolicy:
    retention_type: str
    retention_value: int | None
    retention_unit: str | None
    source: str
    source_id: int | None
    source_name: str | None

    @property
    def keeps_everything(self) -> bool:
        return self.retention_type == FOREVER

    def age_limit(self) -> timedelta | None:
        """How old a sample may get under a ``time_delta`` policy (None otherwise)."""
        if self.retention_type != TIME_DELTA or self.retention_unit not in UNIT_DAYS:
            return None
        return timedelta(days=self.retention_value * UNIT_DAYS[self.retention_unit])


KEEP_FOREVER = EffectivePolicy(FOREVER, None, None, "default", None, None)


class PlantPolicies:
    """Every policy of one plant and its node tree, loaded once, to resolve many
    characteristics without a query each (the purge resolves a whole plant)."""

    def __init__(self, plant_id: int):
        rows = db.session.execute(
            sa.select(RetentionPolicy).where(RetentionPolicy.plant_id == plant_id)
        ).scalars().all()
        self.by_characteristic = {r.characteristic_id: r for r in rows if r.scope == CHARACTERISTIC}
        self.by_node = {r.hierarchy_id: r for r in rows if r.scope == HIERARCHY}
        self.default = next((r for r in rows if r.scope == GLOBAL), None)
        nodes = db.session.execute(
            sa.select(Hierarchy.id, Hierarchy.parent_id, Hierarchy.name)
            .where(Hierarchy.plant_id == plant_id)
        ).all()
        self.parent = {n.id: n.parent_id for n in nodes}
        self.node_name = {n.id: n.name for n in nodes}

    def resolve(self, characteristic_id: int, hierarchy_id: int) -> EffectivePolicy:
        own = self.by_characteristic.get(characteristic_id)
        if own is not None:
            return _effective(own, CHARACTERISTIC, characteristic_id, None)
        node_id: int | None = hierarchy_id
        seen: set[int] = set()
        while node_id is not None and node_id not in seen:
            seen.add(node_id)
            policy = self.by_node.get(node_id)
            if policy is not None:
                return _effective(policy, HIERARCHY, node_id, self.node_name.get(node_id))
            node_id = self.parent.get(node_id)
        if self.default is not None:
            return _effective(self.default, GLOBAL, self.default.plant_id, None)
        return KEEP_FOREVER


def _effective(policy: RetentionPolicy, source: str, source_id: int,
               source_name: str | None) -> EffectivePolicy:
    return EffectivePolicy(policy.retention_type, policy.retention_value, policy.retention_unit,
                           source, source_id, source_name)


def effective_policy(characteristic_id: int) -> EffectivePolicy:
    """``GET /characteristic/{id}/effective``; 404 for an unknown characteristic."""
    characteristic = get_characteristic_or_404(characteristic_id)
    plant_id = plant_of_characteristic(characteristic_id)
    if plant_id is None:
        return KEEP_FOREVER
    return PlantPolicies(plant_id).resolve(characteristic.id, characteristic.hierarchy_id)


def _find(plant_id: int, scope: str, hierarchy_id: int | None = None,
          characteristic_id: int | None = None) -> RetentionPolicy | None:
    return db.session.execute(
        sa.select(RetentionPolicy).where(
            RetentionPolicy.plant_id == plant_id,
            RetentionPolicy.scope == scope,
            _is(RetentionPolicy.hierarchy_id, hierarchy_id),
            _is(RetentionPolicy.characteristic_id, characteristic_id),
        )
    ).scalar_one_or_none()


def _is(column: sa.ColumnElement, value: int | None) -> sa.ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


def _lock_plant(plant_id: int) -> None:
    """Serialise the upserts of one plant (row lock; SQLite: the database's write lock)."""
    table = Plant.__table__
    if db.engine.dialect.name == "sqlite":
        db.session.execute(sa.update(table).where(table.c.id == plant_id).values(id=table.c.id))
        return
    db.session.execute(sa.select(table.c.id).where(table.c.id == plant_id).with_for_update())


@transactional
def _upsert(plant_id: int, scope: str, data: Mapping[str, Any], hierarchy_id: int | None = None,
            characteristic_id: int | None = None) -> RetentionPolicy:
    _lock_plant(plant_id)
    policy = _find(plant_id, scope, hierarchy_id, characteristic_id)
    if policy is None:
        policy = RetentionPolicy(plant_id=plant_id, scope=scope, hierarchy_id=hierarchy_id,
                                 characteristic_id=characteristic_id)
        db.session.add(policy)
    policy.retention_type = data["retention_type"]
    policy.retention_value = data.get("retention_value")
    policy.retention_unit = data.get("retention_unit")
    policy.updated_at = utcnow()
    db.session.flush()
    return policy


@transactional
def _delete(policy: RetentionPolicy | None, missing: str) -> None:
    if policy is None:
        raise NotFound(missing)
    db.session.delete(policy)


def _owning_plant(plant_id: int | None, label: str) -> int:
    if plant_id is None:
        raise BadRequest(f"{label} belongs to no plant: its retention follows no plant policy")
    return plant_id


# -- plant default ---------------------------------------------------------------------------

def get_default(plant_id: int) -> RetentionPolicy | None:
    return _find(plant_id, GLOBAL)


def set_default(user: User, plant_id: int, data: Mapping[str, Any]) -> RetentionPolicy:
    get_plant_or_404(plant_id)
    check_plant_role(user, plant_id, "engineer")
    return _upsert(plant_id, GLOBAL, data)


# -- hierarchy node --------------------------------------------------------------------------

def get_node_policy(node_id: int) -> tuple[Hierarchy, RetentionPolicy | None]:
    node = get_node_or_404(node_id)
    if node.plant_id is None:
        return node, None
    return node, _find(node.plant_id, HIERARCHY, hierarchy_id=node_id)


def set_node_policy(user: User, node_id: int, data: Mapping[str, Any]) -> RetentionPolicy:
    node = get_node_or_404(node_id)
    check_plant_role(user, node.plant_id, "engineer")
    plant_id = _owning_plant(node.plant_id, f"Hierarchy node {node_id}")
    return _upsert(plant_id, HIERARCHY, data, hierarchy_id=node_id)


def delete_node_policy(user: User, node_id: int) -> None:
    node, policy = get_node_policy(node_id)
    check_plant_role(user, node.plant_id, "engineer")
    _delete(policy, f"No retention override for hierarchy node {node_id}")


# -- characteristic --------------------------------------------------------------------------

def get_characteristic_policy(characteristic_id: int) -> tuple[int | None, RetentionPolicy | None]:
    get_characteristic_or_404(characteristic_id)
    plant_id = plant_of_characteristic(characteristic_id)
    if plant_id is None:
        return None, None
    return plant_id, _find(plant_id, CHARACTERISTIC, characteristic_id=characteristic_id)


def set_characteristic_policy(user: User, characteristic_id: int,
                              data: Mapping[str, Any]) -> RetentionPolicy:
    get_characteristic_or_404(characteristic_id)
    plant_id = plant_of_characteristic(characteristic_id)
    check_plant_role(user, plant_id, "engineer")
    plant_id = _owning_plant(plant_id, f"Characteristic {characteristic_id}")
    return _upsert(plant_id, CHARACTERISTIC, data, characteristic_id=characteristic_id)


def delete_characteristic_policy(user: User, characteristic_id: int) -> None:
    plant_id, policy = get_characteristic_policy(characteristic_id)
    check_plant_role(user, plant_id, "engineer")
    _delete(policy, f"No retention override for characteristic {characteristic_id}")


# -- plant-wide reads ------------------------------------------------------------------------

def list_overrides(plant_id: int) -> list[dict[str, Any]]:
    """The plant's node and characteristic policies with the names of what they cover."""
    rows = db.session.execute(
        sa.select(RetentionPolicy, Hierarchy.name, Characteristic.name)
        .outerjoin(Hierarchy, Hierarchy.id == RetentionPolicy.hierarchy_id)
        .outerjoin(Characteristic, Characteristic.id == RetentionPolicy.characteristic_id)
        .where(RetentionPolicy.plant_id == plant_id, RetentionPolicy.scope != GLOBAL)
        .order_by(RetentionPolicy.scope.desc(), RetentionPolicy.id)
    ).all()
    return [
        {
            "id": p.id, "scope": p.scope, "hierarchy_id": p.hierarchy_id,
            "characteristic_id": p.characteristic_id, "hierarchy_name": node_name,
            "characteristic_name": characteristic_name, "retention_type": p.retention_type,
            "retention_value": p.retention_value, "retention_unit": p.retention_unit,
            "updated_at": p.updated_at,
        }
        for p, node_name, characteristic_name in rows
    ]


def recent_runs(plant_id: int, limit: int) -> list[PurgeHistory]:
    return list(db.session.execute(
        sa.select(PurgeHistory).where(PurgeHistory.plant_id == plant_id)
        .order_by(PurgeHistory.started_at.desc(), PurgeHistory.id.desc()).limit(limit)
    ).scalars())


def next_purge(plant_id: int, interval_hours: float) -> dict[str, Any]:
    """When the plant's next scheduled run is due: its last run's end (else start) plus the
    interval; None when it never ran."""
    runs = recent_runs(plant_id, 1)
    last = runs[0] if runs else None
    next_run_at = None
    if last is not None:
        next_run_at = (last.completed_at or last.started_at) + timedelta(hours=interval_hours)
    return {"next_run_at": next_run_at, "interval_hours": float(interval_hours), "last_run": last}


def plant_characteristics(plant_id: int) -> Iterable[tuple[int, int, str]]:
    """(id, hierarchy id, name) of every characteristic under the plant's nodes."""
    return db.session.execute(
        sa.select(Characteristic.id, Characteristic.hierarchy_id, Characteristic.name)
        .join(Hierarchy, Hierarchy.id == Characteristic.hierarchy_id)
        .where(Hierarchy.plant_id == plant_id).order_by(Characteristic.id)
    ).all()
