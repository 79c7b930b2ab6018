"""Limits of the variables charts X̄-R, X̄-S and I-MR with their R, S and MR charts.

Sigma is chosen by chart type, not by subgroup size (so X̄-S works for n ≤ 10). With
variable subgroup sizes every subgroup is scaled by the constant of its own size
(σ̂ = mean of R_i/d2(n_i) or s_i/c4(n_i), each term unbiased), and subgroups of one value,
which carry no within-subgroup information, are left out of sigma (gap G-7). With equal
sizes this is exactly R̄/d2(n) and S̄/c4(n). The center line is the grand mean of all
individual values (Σ n_i·x̄_i / Σ n_i), which equals X̿ when sizes are equal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .charts import (
    ChartType,
    ControlLimits,
    SecondaryLimits,
    SigmaMethod,
    require_finite,
    require_sigma,
)
from .constants import c4, constants
from .errors import SPCError
from .subgroups import SubgroupStats, check_finite, subgroup_stats

Subgroups = Sequence[Sequence[float]] | np.ndarray


def nominal_size(sizes: np.ndarray) -> float:
    """The most frequent subgroup size (the largest one on ties): an int when whole, as every
    size is but the inspection units of a u chart, which may be fractional."""
    values, counts = np.unique(sizes, return_counts=True)
    return whole_or_real(values[counts == counts.max()].max())


def whole_or_real(size: float) -> float:
    """A size as an int when it is whole (the common case, kept exact on the wire)."""
    size = float(size)
    return int(size) if size.is_integer() else size


def _within_subgroups(stats: SubgroupStats) -> np.ndarray:
    usable = stats.sizes >= 2
    if not usable.any():
        raise SPCError("sigma is undefined: no subgroup has 2 or more measurements")
    return usable


def sigma_r_bar(stats: SubgroupStats) -> float:
    """σ̂ = mean(R_i / d2(n_i)) over subgroups with n_i ≥ 2 (= R̄/d2(n) for equal sizes)."""
    usable = _within_subgroups(stats)
    sizes = stats.sizes[usable]
    d2_by_size = np.array([0.0, 0.0] + [constants(n).d2 for n in range(2, sizes.max() + 1)])
    return float(np.mean(stats.ranges[usable] / d2_by_size[sizes]))


def sigma_s_bar(stats: SubgroupStats) -> float:
    """σ̂ = mean(s_i / c4(n_i)) over subgroups with n_i ≥ 2 (= S̄/c4(n) for equal sizes)."""
    usable = _within_subgroups(stats)
    sizes = stats.sizes[usable]
    c4_by_size = np.array([1.0, 1.0] + [c4(n) for n in range(2, sizes.max() + 1)])
    return float(np.mean(stats.std_devs[usable] / c4_by_size[sizes]))


def sigma_pooled(stats: SubgroupStats) -> float:
    """σ_p = sqrt(Σ(n_i-1)s_i² / Σ(n_i-1)); subgroups of one value weigh zero by design."""
    usable = _within_subgroups(stats)
    dof = stats.sizes[usable] - 1
    return float(math.sqrt(np.sum(dof * stats.std_devs[usable] ** 2) / np.sum(dof)))


def moving_ranges(values: np.ndarray) -> np.ndarray:
    """|x_j - x_(j-1)|, span 2: the MR chart's points (one fewer than the values)."""
    return np.abs(np.diff(np.asarray(values, dtype=np.float64)))


def limits_from_sigma(
    chart_type: ChartType | str,
    center_line: float,
    sigma: float,
    n: int = 1,
    method: SigmaMethod | str = SigmaMethod.MANUAL,
    sample_count: int = 0,
) -> ControlLimits:
    """Limits of a variables chart (and its R/S/MR chart) from a center line and process σ.

    This is the single place that turns σ into limits: X̄ limits CL ± 3σ/√n, R chart
    d2σ, (d2 ± 3d3)σ; S chart c4σ, (c4 ± 3·sqrt(1-c4²))σ; MR chart as R with n = 2. Also
    used for manual limits (``method="manual"``).
    """
    chart_type = ChartType(chart_type)
    if chart_type.is_attribute:
        raise SPCError(f"limits_from_sigma is for variables charts, not {chart_type.value}")
    center_line = require_finite(center_line, "center line")
    sigma = require_sigma(require_finite(sigma, "sigma"), f"{chart_type.value} limits")
    n = int(n)
    if chart_type == ChartType.I_MR and n != 1:
        raise SPCError(f"i_mr needs subgroup size 1, got {n}")
    if chart_type != ChartType.I_MR and n < 2:
        raise SPCError(f"{chart_type.value} needs subgroup size ≥ 2, got {n}")
    half_width = 3.0 * sigma / math.sqrt(n)
    if chart_type == ChartType.XBAR_S:
        k = constants(n)
        spread = sigma * math.sqrt(1.0 - k.c4**2)
        secondary = SecondaryLimits(
            "s",
            k.c4 * sigma,
            k.c4 * sigma + 3 * spread,
            max(0.0, k.c4 * sigma - 3 * spread),
            spread,
        )
    else:
        k = constants(2 if chart_type == ChartType.I_MR else n)
        secondary = SecondaryLimits(
            "mr" if chart_type == ChartType.I_MR else "r",
            k.d2 * sigma,
            (k.d2 + 3 * k.d3) * sigma,
            max(0.0, (k.d2 - 3 * k.d3) * sigma),
            k.d3 * sigma,
        )
    return ControlLimits(
        chart_type=chart_type,
        center_line=center_line,
        ucl=center_line + half_width,
        lcl=center_line - half_width,
        sigma=sigma,
        method=SigmaMethod(method),
        n=n,
        sample_count=int(sample_count),
        secondary=secondary,
    )


def _xbar_limits(
    chart_type: ChartType, subgroups: Subgroups, n: int | None, method: SigmaMethod
) -> ControlLimits:
    stats = subgroup_stats(subgroups)
    estimators = {
        SigmaMethod.R_BAR_D2: sigma_r_bar,
        SigmaMethod.S_BAR_C4: sigma_s_bar,
        SigmaMethod.POOLED: sigma_pooled,
    }
    if method not in estimators:
        raise SPCError(f"sigma method {method.value} does not apply to {chart_type.value}")
    nominal = nominal_size(stats.sizes) if n is None else int(n)
    center = float(np.sum(stats.means * stats.sizes) / np.sum(stats.sizes))
    sigma = estimators[method](stats)
    return limits_from_sigma(chart_type, center, sigma, nominal, method, stats.count)


def xbar_r_limits(
    subgroups: Subgroups,
    n: int | None = None,
    sigma_method: SigmaMethod | str = SigmaMethod.R_BAR_D2,
) -> ControlLimits:
    """X̄-R limits; ``n`` is the nominal subgroup size (default: the most frequent size)."""
    return _xbar_limits(ChartType.XBAR_R, subgroups, n, SigmaMethod(sigma_method))


def xbar_s_limits(
    subgroups: Subgroups,
    n: int | None = None,
    sigma_method: SigmaMethod | str = SigmaMethod.S_BAR_C4,
) -> ControlLimits:
    """X̄-S limits; ``n`` is the nominal subgroup size (default: the most frequent size)."""
    return _xbar_limits(ChartType.XBAR_S, subgroups, n, SigmaMethod(sigma_method))


def imr_limits(values: Sequence[float] | np.ndarray) -> ControlLimits:
    """I-MR limits: CL = mean, σ = MR̄/d2(2) over the chronological sequence."""
    values = np.asarray(values, dtype=np.float64).ravel()
    check_finite(values, "individual values")
    if values.size < 2:
        raise SPCError("sigma is undefined: i_mr needs at least 2 values for a moving range")
    sigma = float(np.mean(moving_ranges(values))) / constants(2).d2
    return limits_from_sigma(
        ChartType.I_MR, float(np.mean(values)), sigma, 1, SigmaMethod.MOVING_RANGE, values.size
    )
