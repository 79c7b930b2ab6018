"""Limits of the attribute charts p, np, c and u (engine.md §2.3, api.md §X.1).

``ControlLimits.sigma`` holds the per-unit sigma (sqrt(p̄(1-p̄)) for p, sqrt(ū) for u) so
that the standard error of a point of size n_i is sigma/√n_i, the same form as X̄; for np
and c the sigma is already that of the plotted count. LCLs are floored at 0, the p chart's
UCL is capped at 1 and the np chart's at n (a fraction or a count cannot exceed them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .charts import ChartType, ControlLimits, SigmaMethod, require_sigma
from .errors import SPCError
from .subgroups import check_finite
from .variables import nominal_size, whole_or_real

Counts = Sequence[float] | np.ndarray


def _as_counts(values: Counts | float, name: str, minimum: int,
               whole: bool = True) -> np.ndarray:
    """Finite values ≥ ``minimum``, whole unless ``whole`` is False (then > 0: the
    inspection units of a u chart are a positive real, an area, a length or a time)."""
    array = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if array.size == 0:
        raise SPCError(f"no {name} given")
    check_finite(array, name)
    below = array <= 0 if not whole else array < minimum
    if below.any():
        index = int(np.argmax(below))
        adjective = "negative" if minimum == 0 else "non-positive"
        raise SPCError(f"{adjective} {name[:-1]} at position {index}: {array[index]:g}")
    if whole and (array != np.floor(array)).any():
        index = int(np.argmax(array != np.floor(array)))
        raise SPCError(f"{name[:-1]} at position {index} is not a whole number: {array[index]:g}")
    return array


def validate_counts(
    counts: Counts, sizes: Counts | float | None, bounded: bool, whole_sizes: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Check counts (≥ 0, whole) and sizes (≥ 1, whole); ``bounded`` adds count ≤ size (p, np).

    Sizes may be a scalar (constant size) or one per sample; None means 1 (c chart).
    """
    counts = _as_counts(counts, "counts", 0)
    sizes = (np.ones_like(counts) if sizes is None
             else _as_counts(sizes, "sizes", 1, whole=whole_sizes))
    if sizes.size == 1 and counts.size > 1:
        sizes = np.full_like(counts, sizes[0])
    if sizes.size != counts.size:
        raise SPCError(f"{counts.size} counts but {sizes.size} sizes")
    if bounded and (counts > sizes).any():
        index = int(np.argmax(counts > sizes))
        raise SPCError(
            f"count > size at position {index}: {counts[index]:g} defectives in "
            f"{sizes[index]:g} units"
        )
    return counts, sizes


def attribute_statistic(
    chart_type: ChartType | str, counts: Counts, sizes: Counts | float | None = None
) -> np.ndarray:
    """The plotted value: p̂ = d/n (p), d (np), c (c), c/n (u)."""
    chart_type = ChartType(chart_type)
    counts, sizes = validate_counts(counts, sizes, chart_type in (ChartType.P, ChartType.NP),
                                    whole_sizes=chart_type != ChartType.U)
    if chart_type in (ChartType.P, ChartType.U):
        return counts / sizes
    if chart_type.is_attribute:
        return counts
    raise SPCError(f"{chart_type.value} is not an attribute chart")


def _limits(
    chart_type: ChartType, center: float, sigma: float, n: int, count: int, method: SigmaMethod
) -> ControlLimits:
    sigma = require_sigma(sigma, f"{chart_type.value} chart (center line {center:g})")
    scale = 1.0 if chart_type in (ChartType.NP, ChartType.C) else math.sqrt(n)
    cap = {ChartType.P: 1.0, ChartType.NP: float(n)}.get(chart_type, math.inf)
    return ControlLimits(
        chart_type=chart_type,
        center_line=center,
        ucl=min(cap, center + 3.0 * sigma / scale),
        lcl=max(0.0, center - 3.0 * sigma / scale),
        sigma=sigma,
        method=method,
        n=n,
        sample_count=count,
    )


def p_limits(counts: Counts, sizes: Counts | float, n: int | None = None) -> ControlLimits:
    """p chart: p̄ = Σd/Σn; ``n`` (default: most frequent size) sets the reported UCL/LCL."""
    counts, sizes = validate_counts(counts, sizes, bounded=True)
    p_bar = float(counts.sum() / sizes.sum())
    nominal = nominal_size(sizes.astype(np.int64)) if n is None else int(n)
    sigma = math.sqrt(p_bar * (1.0 - p_bar))
    return _limits(ChartType.P, p_bar, sigma, nominal, counts.size, SigmaMethod.BINOMIAL)


def np_limits(counts: Counts, sizes: Counts | float) -> ControlLimits:
    """np chart: needs one constant sample size n; CL = n·p̄, σ = sqrt(n·p̄(1-p̄))."""
    counts, sizes = validate_counts(counts, sizes, bounded=True)
    if (sizes != sizes[0]).any():
        index = int(np.argmax(sizes != sizes[0]))
        raise SPCError(
            f"np chart needs a constant sample size: sample {index} has {sizes[index]:g} "
            f"units, expected {sizes[0]:g}"
        )
    n = int(sizes[0])
    p_bar = float(counts.sum() / sizes.sum())
    sigma = math.sqrt(n * p_bar * (1.0 - p_bar))
    return _limits(ChartType.NP, n * p_bar, sigma, n, counts.size, SigmaMethod.BINOMIAL)


def c_limits(counts: Counts) -> ControlLimits:
    """c chart: c̄ = mean count per (constant) inspection unit, σ = sqrt(c̄)."""
    counts, _ = validate_counts(counts, None, bounded=False)
    c_bar = float(counts.mean())
    return _limits(ChartType.C, c_bar, math.sqrt(c_bar), 1, counts.size, SigmaMethod.POISSON)


def u_limits(counts: Counts, sizes: Counts | float, n: float | None = None) -> ControlLimits:
    """u chart: ū = Σc/Σn; ``n`` (default: most frequent size) sets the reported UCL/LCL."""
    counts, sizes = validate_counts(counts, sizes, bounded=False, whole_sizes=False)
    u_bar = float(counts.sum() / sizes.sum())
    nominal = nominal_size(sizes) if n is None else whole_or_real(n)
    return _limits(ChartType.U, u_bar, math.sqrt(u_bar), nominal, counts.size, SigmaMethod.POISSON)
