"""The control-limit lifecycle: recalculate, set manually, change the subgroup mode.

Each verb is one transaction that writes a new ``control_limits`` version (previous + 1),
mirrors it on the characteristic (``ucl``, ``lcl``, ``stored_center_line``,
``stored_sigma``, ``limits_version``), drops the evaluator's state so that it rebuilds with
the new limits, and records a ``limits_update`` frame in the outbox. After commit the frame
is published and evaluation is enqueued, so samples stored while there were no limits are
judged as soon as limits exist (gap G-2).

Conventions (engine.md §17 C11): a new version never rewrites the samples or violations
judged under an older one; each sample keeps the ``z_score`` / effective limits of the
version it was evaluated with. Only a mode change rewrites them, as the reference does,
because it changes what the stored fields mean.

All statistics come from :mod:`openspc.spc`; this module only selects the baseline and
stores the result.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import groupby
from typing import Any

import numpy as np
import sqlalchemy as sa
import structlog

from openspc.errors import BadRequest
from openspc.extensions import db
from openspc.models import (
    Characteristic,
    ControlLimitsVersion,
    Measurement,
    Sample,
    User,
    Violation,
)
from openspc.models.sample import QUARANTINED, production_order
from openspc.services import outbox
from openspc.services.ownership import authorize_characteristic
from openspc.services.transaction import flush_or_conflict, transactional
from openspc.spc import (
    ChartType,
    ControlLimits,
    SigmaMethod,
    SPCError,
    SubgroupMode,
    compute_limits,
    limits_from_sigma,
    point_limits,
    standard_errors,
)
from openspc.spc.variables import whole_or_real

log = structlog.get_logger(__name__)

INVALID_CALCULATION = "Invalid input for limit calculation"
MODE_NEEDS_LIMITS = (
    "stored_sigma and stored_center_line must be set. Run recalculate-limits first."
)


@dataclass(frozen=True)
class BaselineFilter:
    """Which samples a calculation may use: inclusive timestamp range, then the last N."""

    start_date: datetime | None = None
    end_date: datetime | None = None
    last_n: int | None = None


@dataclass(frozen=True)
class Baseline:
    """The usable samples of a calculation, oldest first, with what each chart type needs.

    ``subgroups`` (the measurements of each sample) is loaded only when asked for;
    ``excluded_count`` counts the samples the range held but the calculation may not use.
    """

    sample_ids: list[int]
    means: np.ndarray
    counts: np.ndarray
    sizes: np.ndarray
    subgroups: list[list[float]] | None
    excluded_count: int


def characteristic_for(
    user: User, char_id: int, role: str, *, lock: bool = False
) -> Characteristic:
    """The characteristic after 404 and the ``role``-at-its-plant check (403).

    ``lock`` re-reads the row under the evaluator's own lock (``evaluation.lock_characteristic``),
    so limits never change under a running evaluation and two limit
    changes of one characteristic serialise (the version's unique constraint is the
    backstop). Imported here because the evaluator imports this module.
    """
    characteristic = authorize_characteristic(user, char_id, role)
    if lock:
        from openspc.services.evaluation import lock_characteristic

        characteristic = lock_characteristic(char_id)
    return characteristic


def limits_in_force(characteristic: Characteristic,
                    n: float | None = None) -> ControlLimits | None:
    """The characteristic's current limits as the engine's :class:`ControlLimits`, or None.

    One derivation for every reader (C9): center line = ``stored_center_line``, else the
    midpoint of UCL/LCL; process sigma = ``stored_sigma``, else (UCL − CL)/3 scaled back to
    one unit (√n for X̄ charts). The stored UCL/LCL stay the rule-1 limits even when they
    were set apart from sigma (set-limits, PATCH). ``n`` is the sample size an attribute
    chart is judged at (the np chart caps its UCL at n); variables charts use the nominal
    subgroup size. ``method`` and ``sample_count`` are not needed to judge points: they are
    kept on the version row, and here read as manual/0.
    """
    chart_type = ChartType(characteristic.chart_type)
    ucl, lcl = characteristic.ucl, characteristic.lcl
    have_limits = ucl is not None and lcl is not None
    center = characteristic.stored_center_line
    sigma = characteristic.stored_sigma
    if center is None:
        if not have_limits:
            return None
        center = (ucl + lcl) / 2.0
    size = whole_or_real(n or 1) if chart_type.is_attribute else characteristic.subgroup_size
    if sigma is None:
        if ucl is None:
            return None
        scale = 1.0 if chart_type in (ChartType.I_MR, ChartType.NP, ChartType.C) else size
        sigma = (ucl - center) / 3.0 * math.sqrt(scale)
    if chart_type.is_attribute:
        limits = ControlLimits(
            chart_type, center, math.inf, -math.inf, sigma, SigmaMethod.MANUAL, size, 0
        )
        upper, lower = point_limits(limits, [size])
        limits = replace(limits, ucl=float(upper[0]), lcl=float(lower[0]))
    else:
        limits = limits_from_sigma(chart_type, center, sigma, size)
    if have_limits:
        limits = replace(limits, ucl=ucl, lcl=lcl)
    return limits


def load_baseline(
    characteristic: Characteristic,
    window: BaselineFilter,
    *,
    exclude_ooc: bool = False,
    with_measurements: bool = False,
) -> Baseline:
    """The samples a limit or capability calculation may use, ordered by (timestamp, id).

    Excluded samples are never used (gap G-6). ``exclude_ooc`` also drops samples that carry
    a violation nobody has acknowledged: an acknowledged violation has been reviewed and its
    point kept on purpose, an open one is presumed to have an assignable cause. Pending
    samples (stored while there were no limits) are part of the baseline. ``last_n`` keeps
    the most recent N usable samples. Two queries at most: samples, then measurements.
    """
    in_range = _sample_range(characteristic.id, window)
    open_violation = (
        sa.exists()
        .where(Violation.sample_id == Sample.id, Violation.acknowledged.is_(False))
        .correlate(Sample)
        if exclude_ooc
        else sa.false()
    )
    rows = db.session.execute(
        sa.select(
            Sample.id,
            Sample.is_excluded,
            Sample.mean,
            Sample.defect_count,
            Sample.sample_size,
            open_violation.label("has_open_violation"),
        )
        .where(*in_range)
        .order_by(*production_order())
    ).all()
    usable = [row for row in rows if not row.is_excluded and not row.has_open_violation]
    excluded_count = len(rows) - len(usable)
    if window.last_n is not None:
        usable = usable[-window.last_n:]
    subgroups = None
    if with_measurements:
        values = _measurements(in_range)
        subgroups = [values.get(row.id, []) for row in usable]
    return Baseline(
        sample_ids=[row.id for row in usable],
        means=np.array([_number(row.mean) for row in usable], dtype=np.float64),
        counts=np.array([_number(row.defect_count) for row in usable], dtype=np.float64),
        sizes=np.array([row.sample_size or 1 for row in usable], dtype=np.float64),
        subgroups=subgroups,
        excluded_count=excluded_count,
    )


def baseline_limits(characteristic: Characteristic, baseline: Baseline) -> ControlLimits:
    """Limits of the characteristic's chart type from a baseline (the engine decides sigma:
    R̄/d2, S̄/c4 with undersized subgroups left out of sigma, MR̄/d2, binomial, Poisson)."""
    chart_type = ChartType(characteristic.chart_type)
    if chart_type.is_attribute:
        sizes = None if chart_type == ChartType.C else baseline.sizes
        return compute_limits(chart_type, counts=baseline.counts, sizes=sizes)
    if chart_type == ChartType.I_MR:
        return compute_limits(chart_type, subgroups=baseline.means)
    return compute_limits(
        chart_type, subgroups=baseline.subgroups, n=characteristic.subgroup_size
    )


def recalculate_limits(
    user: User,
    char_id: int,
    *,
    exclude_ooc: bool = False,
    min_samples: int = 25,
    window: BaselineFilter | None = None,
) -> dict[str, Any]:
    """``POST .../recalculate-limits``: new limits from the characteristic's own samples.

    400 "Invalid input for limit calculation: <reason>" when fewer than ``min_samples``
    samples are usable or the engine refuses the data (zero or undefined sigma, G-9).
    """
    result = _recalculate(user, char_id, exclude_ooc, min_samples, window or BaselineFilter())
    after_limits_change(char_id)
    return result


@transactional
def _recalculate(
    user: User, char_id: int, exclude_ooc: bool, min_samples: int, window: BaselineFilter
) -> dict[str, Any]:
    characteristic = characteristic_for(user, char_id, "engineer", lock=True)
    chart_type = ChartType(characteristic.chart_type)
    baseline = load_baseline(
        characteristic,
        window,
        exclude_ooc=exclude_ooc,
        with_measurements=chart_type in (ChartType.XBAR_R, ChartType.XBAR_S),
    )
    usable = len(baseline.sample_ids)
    if usable < min_samples:
        raise BadRequest(
            f"{INVALID_CALCULATION}: {usable} usable samples, min_samples is {min_samples}"
        )
    try:
        limits = baseline_limits(characteristic, baseline)
    except SPCError as error:
        raise BadRequest(f"{INVALID_CALCULATION}: {error}") from None
    before = _triple(characteristic.ucl, characteristic.lcl, _midpoint(characteristic))
    created = _store_version(characteristic, limits, user)
    return {
        "before": before,
        "after": _triple(limits.ucl, limits.lcl, limits.center_line),
        "calculation": {
            "method": limits.method.value,
            "sigma": limits.sigma,
            "sample_count": usable,
            "excluded_count": baseline.excluded_count,
            "calculated_at": created.isoformat(),
            "start_date": _iso(window.start_date),
            "end_date": _iso(window.end_date),
            "last_n": window.last_n,
        },
    }


def set_limits(
    user: User, char_id: int, *, ucl: float, lcl: float, center_line: float, sigma: float
) -> dict[str, Any]:
    """``POST .../set-limits``: manual limits (the body was validated: ucl > lcl, lcl ≤ CL ≤
    ucl, sigma > 0). ``sigma`` is the process sigma of one unit, as stored by recalculation;
    the secondary (R/S/MR) limits follow from it."""
    result = _set_limits(user, char_id, ucl, lcl, center_line, sigma)
    after_limits_change(char_id)
    return result


@transactional
def _set_limits(
    user: User, char_id: int, ucl: float, lcl: float, center_line: float, sigma: float
) -> dict[str, Any]:
    characteristic = characteristic_for(user, char_id, "engineer", lock=True)
    chart_type = ChartType(characteristic.chart_type)
    try:
        if chart_type.is_attribute:
            limits = ControlLimits(
                chart_type, center_line, ucl, lcl, sigma, SigmaMethod.MANUAL, 1, 0
            )
        else:
            limits = limits_from_sigma(
                chart_type, center_line, sigma, characteristic.subgroup_size
            )
    except SPCError as error:
        raise BadRequest(f"Invalid manual limits: {error}") from None
    before = _triple(characteristic.ucl, characteristic.lcl, characteristic.stored_center_line)
    created = _store_version(characteristic, replace(limits, ucl=ucl, lcl=lcl), user)
    return {
        "before": before,
        "after": _triple(ucl, lcl, center_line),
        "calculation": {
            "method": SigmaMethod.MANUAL.value,
            "sigma": sigma,
            "sample_count": 0,
            "excluded_count": 0,
            "calculated_at": created.isoformat(),
        },
    }


def change_mode(user: User, char_id: int, new_mode: str) -> dict[str, Any]:
    """``POST .../change-mode``: switch the subgroup mode and rewrite every sample's
    ``z_score`` / ``effective_ucl`` / ``effective_lcl`` for it in one transaction (a few
    bulk UPDATEs, one per distinct subgroup size, never a loop over rows).

    With limits in force the mode change is a new limits version (same numbers): points
    judged after it are classified differently, and the version says so.
    """
    result = _change_mode(user, char_id, SubgroupMode(new_mode))
    if result.pop("versioned"):
        after_limits_change(char_id)
    return result


@transactional
def _change_mode(user: User, char_id: int, new_mode: SubgroupMode) -> dict[str, Any]:
    characteristic = characteristic_for(user, char_id, "engineer", lock=True)
    previous_mode = characteristic.subgroup_mode
    sample_count = db.session.scalar(
        sa.select(sa.func.count()).select_from(Sample).where(Sample.char_id == char_id)
    )
    needs_parameters = new_mode != SubgroupMode.NOMINAL_TOLERANCE
    if needs_parameters and sample_count and (
        characteristic.stored_sigma is None or characteristic.stored_center_line is None
    ):
        raise BadRequest(MODE_NEEDS_LIMITS)
    try:
        limits = limits_in_force(characteristic)
    except SPCError as error:
        raise BadRequest(f"{MODE_NEEDS_LIMITS} ({error})") from None
    characteristic.subgroup_mode = new_mode.value
    _rewrite_point_fields(characteristic, limits, new_mode)
    versioned = limits is not None and characteristic.ucl is not None
    if versioned:
        current = _current_version(characteristic)
        if current is not None:
            limits = replace(
                limits, method=SigmaMethod(current.method), sample_count=current.sample_count or 0
            )
        _store_version(characteristic, limits, user)
    else:
        characteristic.eval_state = None
    return {
        "previous_mode": previous_mode,
        "new_mode": new_mode.value,
        "samples_migrated": sample_count,
        "characteristic": characteristic,
        "versioned": versioned,
    }


def _rewrite_point_fields(
    characteristic: Characteristic, limits: ControlLimits | None, mode: SubgroupMode
) -> None:
    """Set each sample's mode fields from ``limits``: STANDARDIZED → z_score only;
    VARIABLE_LIMITS → effective limits only; NOMINAL_TOLERANCE → nothing for variables
    charts, the per-point limits for attribute charts (their limits vary with the sample
    size in every mode but STANDARDIZED). One executemany UPDATE over the distinct sizes.
    """
    table = Sample.__table__
    chart_type = ChartType(characteristic.chart_type)
    standardized = mode == SubgroupMode.STANDARDIZED
    wants_limits = not standardized and (
        chart_type.is_attribute or mode == SubgroupMode.VARIABLE_LIMITS
    )
    owned = table.c.char_id == characteristic.id
    if limits is None or not (standardized or wants_limits):
        db.session.execute(
            sa.update(table)
            .where(owned)
            .values(z_score=None, effective_ucl=None, effective_lcl=None)
        )
        return
    if chart_type.is_attribute:
        size_column = sa.func.coalesce(table.c.sample_size, 1)
        value = table.c.defect_count
        if chart_type in (ChartType.P, ChartType.U):
            value = value * sa.bindparam("inv_size")
    else:
        size_column = table.c.actual_n
        value = table.c.mean
    sizes = db.session.scalars(sa.select(size_column).where(owned).distinct()).all()
    if not sizes:
        return
    statement = (
        sa.update(table)
        .where(owned, size_column == sa.bindparam("size"))
        .values(
            z_score=(value - limits.center_line) / sa.bindparam("se") if standardized else None,
            effective_ucl=sa.bindparam("point_ucl") if wants_limits else None,
            effective_lcl=sa.bindparam("point_lcl") if wants_limits else None,
        )
    )
    db.session.execute(statement, list(_size_parameters(limits, chart_type, sizes)))


def _size_parameters(
    limits: ControlLimits, chart_type: ChartType, sizes: Iterable[int]
) -> Iterable[dict[str, float]]:
    for size in sizes:
        at_size = replace(limits, n=int(size)) if chart_type == ChartType.NP else limits
        upper, lower = point_limits(at_size, [size])
        yield {
            "size": size,
            "inv_size": 1.0 / size,
            "se": float(standard_errors(at_size, [size])[0]),
            "point_ucl": float(upper[0]),
            "point_lcl": float(lower[0]),
        }


def _store_version(characteristic: Characteristic, limits: ControlLimits, user: User) -> datetime:
    """Write version previous + 1, mirror it on the characteristic, reset the evaluator's
    state and record the ``limits_update`` frame. Returns the version's creation time."""
    previous = db.session.scalar(
        sa.select(sa.func.max(ControlLimitsVersion.version)).where(
            ControlLimitsVersion.characteristic_id == characteristic.id
        )
    )
    secondary = limits.secondary
    row = ControlLimitsVersion(
        characteristic_id=characteristic.id,
        version=(previous or 0) + 1,
        method=limits.method.value,
        center_line=limits.center_line,
        ucl=limits.ucl,
        lcl=limits.lcl,
        sigma=limits.sigma,
        sample_count=limits.sample_count,
        secondary_chart=secondary.chart if secondary else None,
        secondary_center_line=secondary.center_line if secondary else None,
        secondary_ucl=secondary.ucl if secondary else None,
        secondary_lcl=secondary.lcl if secondary else None,
        created_by=user.username,
    )
    db.session.add(row)
    flush_or_conflict(
        f"The limits of characteristic {characteristic.id} changed concurrently; retry"
    )
    characteristic.ucl = limits.ucl
    characteristic.lcl = limits.lcl
    characteristic.stored_center_line = limits.center_line
    characteristic.stored_sigma = limits.sigma
    characteristic.limits_version = row.version
    characteristic.eval_state = None
    outbox.record(
        {
            "type": "limits_update",
            "characteristic_id": characteristic.id,
            "ucl": limits.ucl,
            "lcl": limits.lcl,
            "center_line": limits.center_line,
        },
        characteristic.id,
    )
    return row.created_at


def version_limits_in_force(characteristic: Characteristic, user: User) -> bool:
    """Record limits edited in place (PATCH ucl/lcl) as a new version, inside the caller's
    transaction, so that violations judged under them name the limits they were judged with
    (C11). Returns whether a version was written; the caller then calls
    :func:`after_limits_change` once committed."""
    limits = limits_in_force(characteristic)
    if limits is None:
        return False
    _store_version(characteristic, limits, user)
    return True


def _current_version(characteristic: Characteristic) -> ControlLimitsVersion | None:
    """The version row of the limits in force (None when they were never versioned)."""
    return db.session.scalar(
        sa.select(ControlLimitsVersion).where(
            ControlLimitsVersion.characteristic_id == characteristic.id,
            ControlLimitsVersion.version == characteristic.limits_version,
        )
    )


def after_limits_change(char_id: int) -> None:
    """After commit: send the frame and evaluate what waited for limits.

    Both are best effort: a frame left unpublished is sent by the outbox sweeper, and a
    sample left pending by the pending-sample sweeper (``enqueue_evaluation`` never raises),
    so neither may fail a committed change. Imported here: the tasks import this module.
    """
    from openspc.tasks.evaluation import enqueue_evaluation

    outbox.publish_soon()
    enqueue_evaluation([char_id])


def _sample_range(char_id: int, window: BaselineFilter) -> list[sa.ColumnElement[bool]]:
    clauses = [Sample.char_id == char_id, Sample.status != QUARANTINED]
    if window.start_date is not None:
        clauses.append(Sample.timestamp >= window.start_date)
    if window.end_date is not None:
        clauses.append(Sample.timestamp <= window.end_date)
    return clauses


def _measurements(in_range: list[sa.ColumnElement[bool]]) -> dict[int, list[float]]:
    rows = db.session.execute(
        sa.select(Measurement.sample_id, Measurement.value)
        .join(Sample, Sample.id == Measurement.sample_id)
        .where(*in_range)
        .order_by(Measurement.sample_id, Measurement.id)
    ).all()
    return {
        sample_id: [row.value for row in group]
        for sample_id, group in groupby(rows, key=lambda row: row.sample_id)
    }


def _triple(ucl: float | None, lcl: float | None, center_line: float | None) -> dict[str, Any]:
    return {"ucl": ucl, "lcl": lcl, "center_line": center_line}


def _midpoint(characteristic: Characteristic) -> float | None:
    """The reference's ``before.center_line``: (UCL+LCL)/2 when both exist (a limit of 0
    counts, gap G-21), else null."""
    if characteristic.ucl is None or characteristic.lcl is None:
        return None
    return (characteristic.ucl + characteristic.lcl) / 2.0


def _number(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
