"""Per-point plotting data: the value, center line, standard error and limits of each point.

The rule evaluators take only :class:`Points`, so one zone derivation (CL ± k·s of the
limits in force, engine.md §17 C9) serves every chart type and subgroup mode: fixed limits
(NOMINAL_TOLERANCE), per-point limits (VARIABLE_LIMITS, attribute charts with varying
sizes) and z-scores (STANDARDIZED).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .attributes import attribute_statistic, validate_counts
from .charts import ChartType, ControlLimits, SubgroupMode
from .errors import SPCError
from .subgroups import check_finite

Array = Sequence[float] | np.ndarray


@dataclass(frozen=True)
class Points:
    """Arrays of equal length: plotted ``value``, ``center`` line, standard error ``s`` of the
    plotted statistic, and the ``ucl``/``lcl`` used by rule 1."""

    value: np.ndarray
    center: np.ndarray
    s: np.ndarray
    ucl: np.ndarray
    lcl: np.ndarray

    def __len__(self) -> int:
        return int(self.value.size)

    def __getitem__(self, window: slice) -> Points:
        """A contiguous run of points (views, already validated)."""
        return Points(
            self.value[window],
            self.center[window],
            self.s[window],
            self.ucl[window],
            self.lcl[window],
        )

    @classmethod
    def build(
        cls,
        value: Array,
        center: Array | float,
        s: Array | float,
        ucl: Array | float | None = None,
        lcl: Array | float | None = None,
    ) -> Points:
        """Broadcast scalars, default the limits to center ± 3s, and validate."""
        value = np.asarray(value, dtype=np.float64).ravel()
        shape = value.shape
        center = np.broadcast_to(np.asarray(center, dtype=np.float64), shape)
        s = np.broadcast_to(np.asarray(s, dtype=np.float64), shape)
        ucl = center + 3.0 * s if ucl is None else np.broadcast_to(np.asarray(ucl, float), shape)
        lcl = center - 3.0 * s if lcl is None else np.broadcast_to(np.asarray(lcl, float), shape)
        points = cls(value, center, s, ucl, lcl)
        points.validate()
        return points

    def validate(self) -> None:
        """Values and limits must be finite and every standard error positive (G-9)."""
        for name in ("value", "center", "s", "ucl", "lcl"):
            check_finite(getattr(self, name), f"points.{name}")
        if (self.s <= 0).any():
            raise SPCError(
                f"zero sigma at point {int(np.argmax(self.s <= 0))}: zones are undefined"
            )


def _sizes(limits: ControlLimits, sizes: Array | float | None, count: int) -> np.ndarray:
    if sizes is None:
        return np.full(count, float(limits.n))
    sizes = np.asarray(sizes, dtype=np.float64)
    sizes = np.full(count, float(sizes)) if sizes.ndim == 0 else sizes.ravel()
    check_finite(sizes, "sizes")
    if (sizes <= 0).any():
        raise SPCError(f"non-positive size at position {int(np.argmax(sizes <= 0))}")
    return sizes


def standard_errors(
    limits: ControlLimits, sizes: Array | float | None = None, count: int = 1
) -> np.ndarray:
    """s_i of the plotted statistic: σ/√n_i (X̄, p, u), σ (I, np, c)."""
    if limits.chart_type in (ChartType.I_MR, ChartType.NP, ChartType.C):
        length = count if sizes is None else np.size(sizes)
        return np.full(length, limits.sigma)
    sizes = _sizes(limits, sizes, count)
    return limits.sigma / np.sqrt(sizes)


def point_limits(
    limits: ControlLimits, sizes: Array | float | None = None, count: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """(UCL_i, LCL_i) = CL ± 3·s_i, LCL floored at 0 and UCL capped at 1 (p) or n (np) for
    attribute charts. This is VARIABLE_LIMITS for X̄ and the normal case for p and u."""
    s = standard_errors(limits, sizes, count)
    ucl = limits.center_line + 3.0 * s
    lcl = limits.center_line - 3.0 * s
    if limits.chart_type.is_attribute:
        lcl = np.maximum(lcl, 0.0)
        if limits.chart_type == ChartType.P:
            ucl = np.minimum(ucl, 1.0)
        elif limits.chart_type == ChartType.NP:
            ucl = np.minimum(ucl, float(limits.n))
    return ucl, lcl


def z_scores(
    limits: ControlLimits, values: Array, sizes: Array | float | None = None
) -> np.ndarray:
    """z_i = (value_i - CL)/s_i, the STANDARDIZED plotted value."""
    values = np.asarray(values, dtype=np.float64).ravel()
    check_finite(values, "values")
    return (values - limits.center_line) / standard_errors(limits, sizes, values.size)


def variables_points(
    limits: ControlLimits,
    means: Array,
    sizes: Array | float | None = None,
    mode: SubgroupMode | str = SubgroupMode.NOMINAL_TOLERANCE,
) -> Points:
    """Points of an X̄ or I chart in one of the three subgroup modes of engine.md §5.2.

    NOMINAL_TOLERANCE plots x̄_i against the fixed limits of the nominal n (``sizes`` ignored);
    VARIABLE_LIMITS plots x̄_i against CL ± 3σ/√n_i; STANDARDIZED plots z_i against 0 ± 3.
    """
    if limits.chart_type.is_attribute:
        raise SPCError(f"variables_points needs a variables chart, not {limits.chart_type.value}")
    means = np.asarray(means, dtype=np.float64).ravel()
    mode = SubgroupMode(mode)
    if mode == SubgroupMode.STANDARDIZED:
        return Points.build(z_scores(limits, means, sizes), 0.0, 1.0, 3.0, -3.0)
    if mode == SubgroupMode.VARIABLE_LIMITS:
        s = standard_errors(limits, sizes, means.size)
        ucl, lcl = point_limits(limits, sizes, means.size)
        return Points.build(means, limits.center_line, s, ucl, lcl)
    s = standard_errors(limits, None, means.size)
    return Points.build(means, limits.center_line, s, limits.ucl, limits.lcl)


def attribute_points(
    limits: ControlLimits,
    counts: Array,
    sizes: Array | float | None = None,
    standardized: bool = False,
) -> Points:
    """Points of a p/np/c/u chart with per-point limits (or z-scores against ±3)."""
    if not limits.chart_type.is_attribute:
        raise SPCError(f"attribute_points needs an attribute chart, not {limits.chart_type}")
    if sizes is None and limits.chart_type == ChartType.NP:
        sizes = float(limits.n)
    counts, sizes = validate_counts(counts, sizes, limits.chart_type in (ChartType.P, ChartType.NP),
                                    whole_sizes=limits.chart_type != ChartType.U)
    if limits.chart_type == ChartType.NP and (sizes != limits.n).any():
        index = int(np.argmax(sizes != limits.n))
        raise SPCError(
            f"np chart needs a constant sample size: sample {index} has {sizes[index]:g} units, "
            f"expected {limits.n}"
        )
    values = attribute_statistic(limits.chart_type, counts, sizes)
    if standardized:
        return Points.build(z_scores(limits, values, sizes), 0.0, 1.0, 3.0, -3.0)
    s = standard_errors(limits, sizes, values.size)
    ucl, lcl = point_limits(limits, sizes, values.size)
    return Points.build(values, limits.center_line, s, ucl, lcl)


def secondary_points(limits: ControlLimits, statistic: Array) -> Points:
    """Points of the R, S or MR chart (ranges, standard deviations or moving ranges)."""
    secondary = limits.secondary
    if secondary is None:
        raise SPCError(f"{limits.chart_type.value} chart has no secondary chart")
    return Points.build(
        statistic, secondary.center_line, secondary.sigma, secondary.ucl, secondary.lcl
    )
