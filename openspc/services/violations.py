"""Violation use cases: list, read, statistics, acknowledge (single and batch).

Acknowledging is a conditional UPDATE (``... WHERE acknowledged = false``), so two concurrent
acknowledgements of one violation cannot both succeed: the loser gets the 409. Each success
records an ``ack_update`` frame in the same transaction (single and batch alike, G-16).

Who acknowledged: ``ack_user`` keeps the free text of the body, for wire compatibility; the
authenticated caller is recorded next to it as ``acknowledged_by`` in the ``ack_update``
frame and in the ``violation_acknowledged`` audit log line (user id and username), so the
body's text can no longer hide who did it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
import structlog

from openspc.auth.roles import check_plant_role
from openspc.errors import ApiError, Conflict, NotFound
from openspc.extensions import db
from openspc.models import Characteristic, Hierarchy, Sample, User, Violation
from openspc.models.types import utcnow
from openspc.services import evaluation, outbox
from openspc.services.ownership import plant_of_characteristic, readable_clause
from openspc.services.transaction import transactional

log = structlog.get_logger(__name__)

REASON_CODES = [
    "Tool Change", "Raw Material Change", "Setup Adjustment", "Measurement Error",
    "Process Adjustment", "Environmental Factor", "Operator Error", "Equipment Malfunction",
    "False Alarm", "Under Investigation", "Other",
]


def _hierarchy_paths(node_ids: Iterable[int]) -> dict[int, str]:
    """``"A > B > C"`` (root to leaf) for each node, walking parents with a cache."""
    nodes: dict[int, Hierarchy] = {}

    def node(node_id: int) -> Hierarchy | None:
        if node_id not in nodes:
            found = db.session.get(Hierarchy, node_id)
            if found is None:
                return None
            nodes[node_id] = found
        return nodes[node_id]

    paths: dict[int, str] = {}
    for node_id in set(node_ids):
        names, current, seen = [], node(node_id), set()
        while current is not None and current.id not in seen:
            seen.add(current.id)
            names.append(current.name)
            current = node(current.parent_id) if current.parent_id is not None else None
        paths[node_id] = " > ".join(reversed(names))
    return paths


def describe(rows: list[tuple[Violation, Sample, Characteristic]],
             created_from_sample: bool) -> list[dict[str, Any]]:
    """ViolationResponse payloads with the characteristic and its hierarchy path filled.

    ``created_from_sample``: the list reports the sample's timestamp as ``created_at`` (as
    the reference); a single read reports the row's own ``created_at``.
    """
    paths = _hierarchy_paths(c.hierarchy_id for _, _, c in rows)
    return [
        {
            "id": v.id, "sample_id": v.sample_id, "rule_id": v.rule_id,
            "rule_name": v.rule_name or f"Rule {v.rule_id}", "severity": v.severity,
            "acknowledged": v.acknowledged,
            "requires_acknowledgement": v.requires_acknowledgement,
            "ack_user": v.ack_user, "ack_reason": v.ack_reason,
            "ack_timestamp": v.ack_timestamp,
            "created_at": s.timestamp if created_from_sample else v.created_at,
            "characteristic_id": c.id, "characteristic_name": c.name,
            "hierarchy_path": paths.get(c.hierarchy_id),
            "first_sample_id": v.first_sample_id, "last_sample_id": v.last_sample_id,
            "limits_version": v.limits_version,
        }
        for v, s, c in rows
    ]


def _joined() -> sa.Select:
    return (
        sa.select(Violation, Sample, Characteristic)
        .join(Sample, Sample.id == Violation.sample_id)
        .join(Characteristic, Characteristic.id == Sample.char_id)
        .join(Hierarchy, Hierarchy.id == Characteristic.hierarchy_id)
    )


def _filters(user: User, query: dict[str, Any]) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    columns = {
        "characteristic_id": Sample.char_id, "sample_id": Violation.sample_id,
        "acknowledged": Violation.acknowledged,
        "requires_acknowledgement": Violation.requires_acknowledgement,
        "severity": Violation.severity, "rule_id": Violation.rule_id,
    }
    for name, column in columns.items():
        if query.get(name) is not None:
            conditions.append(column == query[name])
    if query.get("start_date") is not None:
        conditions.append(Sample.timestamp >= query["start_date"])
    if query.get("end_date") is not None:
        conditions.append(Sample.timestamp <= query["end_date"])
    readable = readable_clause(user, Hierarchy.plant_id)
    if readable is not None:
        conditions.append(readable)
    return conditions


def list_violations(user: User, query: dict[str, Any]) -> dict[str, Any]:
    """``GET /violations``: filtered, newest id first, paginated (``per_page`` sets the
    limit, ``page`` the offset), limited to readable plants."""
    limit = query["per_page"] if query.get("per_page") is not None else query["limit"]
    offset = query["offset"]
    if query.get("page") is not None:
        offset = (query["page"] - 1) * limit
    conditions = _filters(user, query)
    total = db.session.scalar(
        sa.select(sa.func.count()).select_from(_joined().where(*conditions).subquery())
    )
    rows = db.session.execute(
        _joined().where(*conditions).order_by(Violation.id.desc())
        .offset(max(offset, 0)).limit(max(limit, 0))
    ).tuples().all()
    return {"items": describe(rows, created_from_sample=True), "total": total,
            "offset": offset, "limit": limit}


def _row(violation_id: int) -> tuple[Violation, Sample, Characteristic]:
    row = db.session.execute(_joined().where(Violation.id == violation_id)).tuples().first()
    if row is None:
        raise NotFound(f"Violation {violation_id} not found")
    return row


def get_violation(user: User, violation_id: int) -> dict[str, Any]:
    row = _row(violation_id)
    check_plant_role(user, plant_of_characteristic(row[2].id), "operator")
    return describe([row], created_from_sample=False)[0]


def violation_stats(user: User, query: dict[str, Any]) -> dict[str, Any]:
    """Counts over the violations matching the filters (dates on the sample timestamp)."""
    conditions = _filters(user, query)
    rows = db.session.execute(
        sa.select(Violation.rule_id, Violation.severity, Violation.acknowledged,
                  Violation.requires_acknowledgement, sa.func.count())
        .join(Sample, Sample.id == Violation.sample_id)
        .join(Characteristic, Characteristic.id == Sample.char_id)
        .join(Hierarchy, Hierarchy.id == Characteristic.hierarchy_id)
        .where(*conditions)
        .group_by(Violation.rule_id, Violation.severity, Violation.acknowledged,
                  Violation.requires_acknowledgement)
    ).all()
    stats: dict[str, Any] = {"total": 0, "unacknowledged": 0, "informational": 0,
                             "by_rule": {}, "by_severity": {}}
    for rule_id, severity, acknowledged, requires_ack, count in rows:
        stats["total"] += count
        if not acknowledged:
            stats["unacknowledged" if requires_ack else "informational"] += count
        stats["by_rule"][str(rule_id)] = stats["by_rule"].get(str(rule_id), 0) + count
        stats["by_severity"][severity] = stats["by_severity"].get(severity, 0) + count
    stats["by_rule"] = dict(sorted(stats["by_rule"].items(), key=lambda item: int(item[0])))
    return stats


def _acknowledge_one(user: User, violation_id: int, data: dict[str, Any]) -> None:
    """Acknowledge inside the caller's transaction: 404, 403 at the plant, 409 if done."""
    violation, sample, characteristic = _row(violation_id)
    check_plant_role(user, plant_of_characteristic(characteristic.id), "supervisor")
    now = utcnow()
    done = db.session.execute(
        sa.update(Violation.__table__)
        .where(Violation.__table__.c.id == violation_id,
               Violation.__table__.c.acknowledged.is_(False))
        .values(acknowledged=True, ack_user=data["user"], ack_reason=data["reason"],
                ack_timestamp=now)
    ).rowcount
    if not done:
        raise Conflict(f"Violation {violation_id} is already acknowledged")
    if data.get("exclude_sample"):
        locked = evaluation.lock_characteristic(characteristic.id)
        db.session.execute(
            sa.update(Sample.__table__).where(Sample.__table__.c.id == sample.id)
            .values(is_excluded=True)
        )
        locked.eval_state = None
    outbox.record({
        "type": "ack_update",
        "violation_id": violation_id,
        "characteristic_id": characteristic.id,
        "acknowledged": True,
        "ack_user": data["user"],
        "ack_reason": data["reason"],
        "acknowledged_by": user.username,
    }, None)
    log.info("violation_acknowledged", violation_id=violation_id, ack_user=data["user"],
             acknowledged_by=user.username, user_id=user.id)


def acknowledge(user: User, violation_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """``POST /violations/{id}/acknowledge``; the frame goes out after commit."""
    _acknowledge(user, violation_id, data)
    outbox.publish_soon()
    db.session.expire_all()
    return describe([_row(violation_id)], created_from_sample=False)[0]


@transactional
def _acknowledge(user: User, violation_id: int, data: dict[str, Any]) -> None:
    _acknowledge_one(user, violation_id, data)


def batch_acknowledge(user: User, data: dict[str, Any]) -> dict[str, Any]:
    """``POST /violations/batch-acknowledge``: each id on its own (a savepoint per item), all
    successes committed together, results in request order."""
    results = _batch(user, data)
    outbox.publish_soon()
    acknowledged = [r["violation_id"] for r in results if r["success"]]
    errors = {r["violation_id"]: r["error"] for r in results if not r["success"]}
    return {"total": len(results), "successful": len(acknowledged), "failed": len(errors),
            "results": results, "acknowledged": acknowledged, "errors": errors}


@transactional
def _batch(user: User, data: dict[str, Any]) -> list[dict[str, Any]]:
    results = []
    for violation_id in data["violation_ids"]:
        try:
            with db.session.begin_nested():
                _acknowledge_one(user, violation_id, data)
        except ApiError as error:
            results.append({"violation_id": violation_id, "success": False,
                            "error": str(error.detail)})
            continue
        results.append({"violation_id": violation_id, "success": True, "error": None})
    return results
