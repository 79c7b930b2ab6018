"""Characteristic definitions: create (with its rules), update, delete, and the list with counts.

Counts and the ``in_control`` filter are aggregate queries over the whole page (lists go up to
1000 rows), never one query per characteristic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from openspc.errors import Conflict, field_error
from openspc.extensions import db
from openspc.models import Characteristic, DataSource, Hierarchy, Sample, User, Violation
from openspc.services.evaluation import lock_characteristic
from openspc.services.limits import after_limits_change, version_limits_in_force
from openspc.services.ownership import readable_clause
from openspc.services.rules import apply_preset
from openspc.services.transaction import transactional
from openspc.spc import ChartType

CHART_TYPES = tuple(c.value for c in ChartType)
SUBGROUP_MODES = ("STANDARDIZED", "VARIABLE_LIMITS", "NOMINAL_TOLERANCE")

# Fields whose change invalidates the evaluator's rolling state (limits, zones, plotted value).
_EVALUATION_FIELDS = frozenset({"ucl", "lcl", "subgroup_mode", "chart_type"})


def default_chart_type(subgroup_size: int) -> str:
    """The chart the reference plots for a subgroup size: 1 → i_mr, 2..10 → xbar_r, else xbar_s."""
    if subgroup_size <= 1:
        return ChartType.I_MR.value
    return ChartType.XBAR_R.value if subgroup_size <= 10 else ChartType.XBAR_S.value


def is_attribute(chart_type: str) -> bool:
    return ChartType(chart_type).is_attribute


def chart_type_problem(chart_type: str, subgroup_size: int) -> str | None:
    """Why ``chart_type`` cannot plot subgroups of ``subgroup_size`` (None when it can)."""
    if chart_type in (ChartType.XBAR_R, ChartType.XBAR_S) and subgroup_size < 2:
        return f"chart_type {chart_type} needs subgroup_size >= 2, got {subgroup_size}"
    if chart_type == ChartType.I_MR and subgroup_size != 1:
        return f"chart_type i_mr needs subgroup_size 1, got {subgroup_size}"
    return None


@transactional
def create_characteristic(data: Mapping[str, Any]) -> Characteristic:
    """Store a characteristic and its rules 1..8 (``rule_preset``, default Nelson).

    Attribute charts (p, np, c, u) count defects instead of measuring, so the measurement-count
    settings do not apply: they are stored as subgroup_size 1, min_measurements 1 and no
    warn_below_count. The caller has resolved the node and checked the role at its plant.
    """
    values = dict(data)
    preset = values.pop("rule_preset", None) or "nelson"
    chart_type = values.pop("chart_type", None) or default_chart_type(values["subgroup_size"])
    if is_attribute(chart_type):
        values.update(subgroup_size=1, min_measurements=1, warn_below_count=None)
    characteristic = Characteristic(chart_type=chart_type, **values)
    characteristic.rules = []
    apply_preset(characteristic, "nelson" if preset == "custom" else preset)
    db.session.add(characteristic)
    db.session.flush()
    return characteristic


def update_characteristic(
    user: User, characteristic: Characteristic, data: Mapping[str, Any]
) -> Characteristic:
    """Apply the keys present in ``data`` (explicit null clears a nullable field).

    A new ``chart_type`` must suit the stored subgroup size (422 naming the field) and can only
    change while the characteristic has no samples (409). ``rule_preset`` rewrites the rules.
    A change to the limits, the mode or the chart type drops the evaluator's state so that it
    rebuilds with the new definition; new UCL/LCL become a limits version of their own.
    """
    characteristic, limits_changed = _update_characteristic(user, characteristic, data)
    if limits_changed:
        after_limits_change(characteristic.id)
    return characteristic


@transactional
def _update_characteristic(
    user: User, characteristic: Characteristic, data: Mapping[str, Any]
) -> tuple[Characteristic, bool]:
    characteristic = lock_characteristic(characteristic.id)
    characteristic = lock_characteristic(characteristic.id)
    values = dict(data)
    preset = values.pop("rule_preset", None)
    chart_type = values.pop("chart_type", None)
    if chart_type is not None and chart_type != characteristic.chart_type:
        _change_chart_type(characteristic, chart_type)
    changed = {key for key, value in values.items() if getattr(characteristic, key) != value}
    for key, value in values.items():
        setattr(characteristic, key, value)
    if changed & _EVALUATION_FIELDS:
        characteristic.eval_state = None
    if preset is not None:
        apply_preset(characteristic, preset)
    limits_changed = bool(changed & {"ucl", "lcl"}) and version_limits_in_force(
        characteristic, user
    )
    return characteristic, limits_changed


def _change_chart_type(characteristic: Characteristic, chart_type: str) -> None:
    size = 1 if is_attribute(chart_type) else characteristic.subgroup_size
    problem = chart_type_problem(chart_type, size)
    if problem:
        raise field_error(["body", "chart_type"], f"Value error, {problem}", chart_type)
    if sample_count(characteristic.id):
        raise Conflict("chart_type cannot change once samples exist")
    characteristic.chart_type = chart_type
    characteristic.subgroup_size = size
    characteristic.eval_state = None


@transactional
def delete_characteristic(characteristic: Characteristic) -> None:
    """Delete a characteristic without samples; its rules, config and annotations cascade."""
    count = sample_count(characteristic.id)
    if count:
        raise Conflict(
            f"Cannot delete characteristic {characteristic.id} with {count} existing samples"
        )
    db.session.delete(characteristic)


def sample_count(char_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Sample).where(Sample.char_id == char_id)
    ) or 0


def list_characteristics(user: User, filters: Mapping[str, Any]) -> dict[str, Any]:
    """``GET /characteristics/``: a page of the characteristics ``user`` may read, counts filled.

    ``limit``/``offset`` follow api.md §0 "Pagination" (``per_page``/``page`` win when given).
    """
    limit = filters.get("per_page") or filters["limit"]
    offset = (filters["page"] - 1) * limit if filters.get("page") else filters["offset"]
    query = _filtered(user, filters)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    page = db.session.scalars(
        query.order_by(Characteristic.id).offset(offset).limit(limit)
    ).all()
    return {
        "items": describe(page, with_counts=True), "total": total, "offset": offset,
        "limit": limit,
    }


def _filtered(user: User, filters: Mapping[str, Any]) -> sa.Select:
    query = sa.select(Characteristic).join(Hierarchy, Hierarchy.id == Characteristic.hierarchy_id)
    readable = readable_clause(user, Hierarchy.plant_id)
    if readable is not None:
        query = query.where(readable)
    if filters.get("hierarchy_id") is not None:
        query = query.where(Characteristic.hierarchy_id == filters["hierarchy_id"])
    if filters.get("plant_id") is not None:
        query = query.where(Hierarchy.plant_id == filters["plant_id"])
    if filters.get("provider_type") is not None:
        query = query.where(_provider_clause(filters["provider_type"]))
    if filters.get("in_control") is not None:
        out = Characteristic.id.in_(out_of_control_ids())
        query = query.where(sa.not_(out) if filters["in_control"] else out)
    return query


def _provider_clause(provider_type: str) -> sa.ColumnElement[bool]:
    """MANUAL = no data source; TAG or MQTT = an mqtt source; else the lower-cased type."""
    sources = sa.select(DataSource.characteristic_id)
    kind = provider_type.upper()
    if kind == "MANUAL":
        return Characteristic.id.not_in(sources)
    source_type = "mqtt" if kind in ("TAG", "MQTT") else provider_type.lower()
    return Characteristic.id.in_(sources.where(DataSource.type == source_type))


def out_of_control_ids() -> sa.Select:
    """Characteristics whose latest non-excluded sample (highest id) has an unacknowledged
    violation, as one subquery."""
    latest = (
        sa.select(Sample.char_id, sa.func.max(Sample.id).label("sample_id"))
        .where(Sample.is_excluded.is_(False))
        .group_by(Sample.char_id)
        .subquery()
    )
    return (
        sa.select(latest.c.char_id)
        .join(Violation, Violation.sample_id == latest.c.sample_id)
        .where(Violation.acknowledged.is_(False))
    )


def describe(
    characteristics: Sequence[Characteristic], *, with_counts: bool
) -> list[dict[str, Any]]:
    """The CharacteristicResponse payloads: columns, ``data_source`` and, for lists, counts.

    At most three queries, whatever the number of characteristics.
    """
    ids = [c.id for c in characteristics]
    sources = _data_sources(ids)
    counts = _counts(ids) if with_counts else {}
    payloads = []
    for characteristic in characteristics:
        payload = {column.key: getattr(characteristic, column.key)
                   for column in Characteristic.__table__.columns}
        payload["data_source"] = sources.get(characteristic.id)
        samples, unacknowledged = counts.get(characteristic.id, (0, 0))
        payload["sample_count"] = samples if with_counts else None
        payload["unacknowledged_violations"] = unacknowledged if with_counts else None
        payloads.append(payload)
    return payloads


def describe_one(characteristic: Characteristic) -> dict[str, Any]:
    """One CharacteristicResponse payload, counts null (single-object routes)."""
    return describe([characteristic], with_counts=False)[0]


def _data_sources(ids: list[int]) -> dict[int, DataSource]:
    if not ids:
        return {}
    rows = db.session.scalars(sa.select(DataSource).where(DataSource.characteristic_id.in_(ids)))
    return {row.characteristic_id: row for row in rows}


def _counts(ids: list[int]) -> dict[int, tuple[int, int]]:
    """Per characteristic: (all samples, unacknowledged violations), two grouped queries."""
    if not ids:
        return {}
    samples = dict(db.session.execute(
        sa.select(Sample.char_id, sa.func.count())
        .where(Sample.char_id.in_(ids))
        .group_by(Sample.char_id)
    ).tuples().all())
    unacknowledged = dict(db.session.execute(
        sa.select(Sample.char_id, sa.func.count(Violation.id))
        .join(Violation, Violation.sample_id == Sample.id)
        .where(Sample.char_id.in_(ids), Violation.acknowledged.is_(False))
        .group_by(Sample.char_id)
    ).tuples().all())
    return {i: (samples.get(i, 0), unacknowledged.get(i, 0)) for i in ids}
