"""One entry point for every chart type, used by the recalculate-limits service."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .attributes import Counts, c_limits, np_limits, p_limits, u_limits
from .charts import ChartType, ControlLimits, SigmaMethod
from .errors import SPCError
from .subgroups import subgroup_stats
from .variables import Subgroups, imr_limits, xbar_r_limits, xbar_s_limits


def _keep(items, excluded: np.ndarray | None):
    """Drop excluded samples; scalars (a constant size) pass through."""
    if items is None or excluded is None or np.ndim(items) == 0:
        return items
    if len(items) != excluded.size:
        raise SPCError(f"{excluded.size} exclusion flags for {len(items)} samples")
    if isinstance(items, np.ndarray):
        return items[~excluded]
    return [item for item, drop in zip(items, excluded, strict=True) if not drop]


def compute_limits(
    chart_type: ChartType | str,
    *,
    subgroups: Subgroups | None = None,
    counts: Counts | None = None,
    sizes: Counts | float | None = None,
    n: int | None = None,
    sigma_method: SigmaMethod | str | None = None,
    excluded: Sequence[bool] | np.ndarray | None = None,
) -> ControlLimits:
    """Limits for ``chart_type`` from a baseline.

    Variables charts take ``subgroups`` (for ``i_mr`` one value per subgroup, or a flat
    sequence of values); attribute charts take ``counts`` and ``sizes``. ``n`` is the
    nominal subgroup/sample size. ``excluded`` marks samples to leave out (gap G-6: an
    excluded sample never enters a baseline). ``sigma_method`` overrides the chart's
    default estimator (``pooled`` for X̄ charts).
    """
    chart_type = ChartType(chart_type)
    mask = None if excluded is None else np.asarray(excluded, dtype=bool)
    if chart_type.is_attribute:
        if counts is None:
            raise SPCError(f"{chart_type.value} chart needs counts")
        counts, sizes = _keep(counts, mask), _keep(sizes, mask)
        if chart_type == ChartType.C:
            return c_limits(counts)
        if sizes is None:
            raise SPCError(f"{chart_type.value} chart needs sample sizes")
        if chart_type == ChartType.NP:
            return np_limits(counts, sizes)
        if chart_type == ChartType.P:
            return p_limits(counts, sizes, n)
        return u_limits(counts, sizes, n)
    if subgroups is None:
        raise SPCError(f"{chart_type.value} chart needs subgroups")
    subgroups = _keep(subgroups, mask)
    if chart_type == ChartType.I_MR:
        if sigma_method not in (None, SigmaMethod.MOVING_RANGE):
            raise SPCError(f"sigma method {sigma_method} does not apply to i_mr")
        return imr_limits(_individuals(subgroups))
    if chart_type == ChartType.XBAR_R:
        return xbar_r_limits(subgroups, n, sigma_method or SigmaMethod.R_BAR_D2)
    return xbar_s_limits(subgroups, n, sigma_method or SigmaMethod.S_BAR_C4)


def _individuals(subgroups: Subgroups) -> np.ndarray:
    """I-MR values from a flat sequence or from subgroups of exactly one value each."""
    if isinstance(subgroups, np.ndarray) and subgroups.ndim == 1:
        return subgroups
    if isinstance(subgroups, np.ndarray) or any(
        isinstance(item, Sequence | np.ndarray) for item in subgroups
    ):
        stats = subgroup_stats(subgroups)
        if (stats.sizes != 1).any():
            index = int(np.argmax(stats.sizes != 1))
            raise SPCError(
                f"too many measurements: i_mr takes one value per sample, sample {index} "
                f"has {int(stats.sizes[index])}"
            )
        return stats.values
    return np.asarray(subgroups, dtype=np.float64)
