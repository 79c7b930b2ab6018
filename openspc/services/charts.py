"""Chart reads: the chart-data of a characteristic and its capability indices.

Every plotted number comes from the engine (:mod:`openspc.spc`) applied to the limits in
force (:func:`openspc.services.limits.limits_in_force`), so the zones a chart shows are the
zones the rules use (engine.md §17 C9). Reads are plant-scoped: operator at the plant.
A chart costs three queries whatever its length: samples, their violations, and the
(id, timestamp) pairs of the days shown, for the display keys.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import numpy as np
import sqlalchemy as sa

from openspc.errors import BadRequest
from openspc.extensions import db
from openspc.models import Characteristic, Sample, User, Violation
from openspc.models.sample import QUARANTINED, production_order
from openspc.services.display_keys import display_keys
from openspc.services.limits import (
    BaselineFilter,
    baseline_limits,
    characteristic_for,
    limits_in_force,
    load_baseline,
)
from openspc.spc import (
    ChartType,
    ControlLimits,
    Points,
    SPCError,
    SubgroupMode,
    attribute_points,
    attribute_statistic,
    capability,
    moving_ranges,
    standard_errors,
    variables_points,
    zone_labels,
)
from openspc.spc.variables import nominal_size

ZONE_KEYS = ("plus_1_sigma", "plus_2_sigma", "plus_3_sigma")


def chart_data(
    user: User,
    char_id: int,
    *,
    limit: int = 100,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
) -> dict[str, Any]:
    """``GET .../chart-data`` (api.md §5 bullets, §X.1, §X.2).

    With a date range: the samples in it (excluded ones included), trimmed to the last
    ``limit``; otherwise the last ``limit`` non-excluded samples; oldest first either way.
    Without UCL/LCL the reference answers no points and null limits; so do we.
    """
    characteristic = characteristic_for(user, char_id, "operator")
    chart_type = ChartType(characteristic.chart_type)
    response = _chart_header(characteristic)
    if characteristic.ucl is None or characteristic.lcl is None:
        return response
    samples = _chart_samples(char_id, limit, start_date, end_date)
    try:
        limits = limits_in_force(characteristic, _nominal_size(chart_type, samples))
        points, means = _points(characteristic, limits, samples)
    except SPCError as error:
        raise BadRequest(f"Cannot plot characteristic {char_id}: {error}") from None
    response["control_limits"]["center_line"] = limits.center_line
    response["zone_boundaries"] = _zone_boundaries(limits)
    response["secondary"] = _secondary(limits)
    response["data_points"] = _data_points(characteristic, samples, points, means)
    return response


def capability_report(user: User, char_id: int, window: BaselineFilter) -> dict[str, Any]:
    """``GET .../capability`` (api.md §X.2): Cp, Cpk, Cpl, Cpu with the within-subgroup sigma
    the chart's own estimator gives on the selected samples (R̄/d2, S̄/c4, MR̄/d2), Pp, Ppk
    and Cpm with the standard deviation of all their individual measurements. Excluded
    samples are left out; an index whose spec limit is missing is null."""
    characteristic = characteristic_for(user, char_id, "operator")
    chart_type = ChartType(characteristic.chart_type)
    if chart_type.is_attribute:
        raise BadRequest(
            f"Capability indices need measurements: characteristic {char_id} has a "
            f"{chart_type.value} chart"
        )
    baseline = load_baseline(characteristic, window, with_measurements=True)
    values = [value for subgroup in baseline.subgroups for value in subgroup]
    try:
        within = baseline_limits(characteristic, baseline).sigma
        indices = capability(
            values,
            within,
            usl=characteristic.usl,
            lsl=characteristic.lsl,
            target=characteristic.target_value,
            sample_count=len(baseline.sample_ids),
        )
    except SPCError as error:
        raise BadRequest(f"Invalid input for capability calculation: {error}") from None
    return indices.to_dict()


def _chart_header(characteristic: Characteristic) -> dict[str, Any]:
    return {
        "characteristic_id": characteristic.id,
        "characteristic_name": characteristic.name,
        "data_points": [],
        "control_limits": {
            "center_line": None,
            "ucl": characteristic.ucl,
            "lcl": characteristic.lcl,
        },
        "spec_limits": {
            "usl": characteristic.usl,
            "lsl": characteristic.lsl,
            "target": characteristic.target_value,
        },
        "zone_boundaries": dict.fromkeys(
            [*ZONE_KEYS, *(key.replace("plus", "minus") for key in ZONE_KEYS)]
        ),
        "secondary": None,
        "subgroup_mode": characteristic.subgroup_mode,
        "nominal_subgroup_size": characteristic.subgroup_size,
        "decimal_precision": characteristic.decimal_precision,
        "stored_sigma": characteristic.stored_sigma,
    }


def _chart_samples(
    char_id: int, limit: int, start_date: datetime | None, end_date: datetime | None
) -> list[sa.Row]:
    query = sa.select(
        Sample.id,
        Sample.char_id,
        Sample.timestamp,
        Sample.mean,
        Sample.range_value,
        Sample.std_dev,
        Sample.is_excluded,
        Sample.actual_n,
        Sample.is_undersized,
        Sample.defect_count,
        Sample.sample_size,
    ).where(Sample.char_id == char_id, Sample.status != QUARANTINED)
    if start_date is None and end_date is None:
        query = query.where(Sample.is_excluded.is_(False))
    if start_date is not None:
        query = query.where(Sample.timestamp >= start_date)
    if end_date is not None:
        query = query.where(Sample.timestamp <= end_date)
    newest = query.order_by(*production_order(descending=True)).limit(limit)
    return list(reversed(db.session.execute(newest).all()))


def _nominal_size(chart_type: ChartType, samples: list[sa.Row]) -> float | None:
    """The sample size an attribute chart's zone lines are drawn at: the most frequent one."""
    if not chart_type.is_attribute or not samples:
        return None
    return nominal_size(np.array([row.sample_size or 1 for row in samples], dtype=np.float64))


def _points(
    characteristic: Characteristic, limits: ControlLimits, samples: list[sa.Row]
) -> tuple[Points, np.ndarray]:
    """The engine's points (value, CL, s, per-point limits) and the plotted statistic."""
    mode = SubgroupMode(characteristic.subgroup_mode)
    if limits.chart_type.is_attribute:
        counts = [row.defect_count for row in samples]
        sizes = [row.sample_size or 1 for row in samples]
        points = attribute_points(
            limits, counts, sizes, standardized=mode == SubgroupMode.STANDARDIZED
        )
        return points, attribute_statistic(limits.chart_type, counts, sizes)
    means = np.array([row.mean for row in samples], dtype=np.float64)
    sizes = [row.actual_n for row in samples]
    return variables_points(limits, means, sizes, mode), means


def _zone_boundaries(limits: ControlLimits) -> dict[str, float]:
    """CL ± k·s at the nominal size, s the standard error of the plotted statistic."""
    s = float(standard_errors(limits)[0])
    boundaries = {}
    for k, key in enumerate(ZONE_KEYS, start=1):
        boundaries[key] = limits.center_line + k * s
        boundaries[key.replace("plus", "minus")] = limits.center_line - k * s
    return boundaries


def _secondary(limits: ControlLimits) -> dict[str, Any] | None:
    if limits.secondary is None:
        return None
    return {
        "chart": limits.secondary.chart,
        "center_line": limits.secondary.center_line,
        "ucl": limits.secondary.ucl,
        "lcl": limits.secondary.lcl,
    }


def _violations_by_sample(samples: list[sa.Row]) -> dict[int, list[sa.Row]]:
    """One query for the violations of every sample shown."""
    if not samples:
        return {}
    rows = db.session.execute(
        sa.select(
            Violation.id,
            Violation.sample_id,
            Violation.rule_id,
            Violation.acknowledged,
            Violation.requires_acknowledgement,
        )
        .where(Violation.sample_id.in_([row.id for row in samples]))
        .order_by(Violation.id)
    ).all()
    grouped: dict[int, list[sa.Row]] = defaultdict(list)
    for row in rows:
        grouped[row.sample_id].append(row)
    return grouped


def _data_points(
    characteristic: Characteristic,
    samples: list[sa.Row],
    points: Points,
    means: np.ndarray,
) -> list[dict[str, Any]]:
    chart_type = ChartType(characteristic.chart_type)
    mode = SubgroupMode(characteristic.subgroup_mode)
    standardized = mode == SubgroupMode.STANDARDIZED
    per_point_limits = not standardized and (
        chart_type.is_attribute or mode == SubgroupMode.VARIABLE_LIMITS
    )
    zones = zone_labels(points)
    moving = [None, *moving_ranges(means).tolist()] if chart_type == ChartType.I_MR else None
    violations = _violations_by_sample(samples)
    keys = display_keys(samples)
    data = []
    for i, row in enumerate(samples):
        found = violations.get(row.id, [])
        z_score = float(points.value[i]) if standardized else None
        point = {
            "sample_id": row.id,
            "timestamp": row.timestamp.astimezone(UTC).isoformat(),
            "mean": float(means[i]),
            "range": row.range_value,
            "std_dev": row.std_dev,
            "excluded": row.is_excluded,
            "violation_ids": [v.id for v in found],
            "unacknowledged_violation_ids": [
                v.id for v in found if v.requires_acknowledgement and not v.acknowledged
            ],
            "violation_rules": sorted({v.rule_id for v in found}),
            "zone": str(zones[i]),
            "actual_n": row.actual_n,
            "is_undersized": row.is_undersized,
            "effective_ucl": float(points.ucl[i]) if per_point_limits else None,
            "effective_lcl": float(points.lcl[i]) if per_point_limits else None,
            "z_score": z_score,
            "display_value": z_score if standardized else float(means[i]),
            "display_key": keys.get(row.id, ""),
            "moving_range": moving[i] if moving is not None else None,
        }
        if chart_type.is_attribute:
            point.update(count=row.defect_count, sample_size=row.sample_size)
        data.append(point)
    return data
