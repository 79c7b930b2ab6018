"""Control-chart constants computed from their normal-theory definitions (engine.md §17 C10).

The published tables carry 3-4 decimals; rounding them into the limits shifts UCL/LCL in
the 4th digit. We compute instead:

- d2(n) = E[R/σ] and d3(n) = SD[R/σ] by numerical integration of the range distribution of
  n standard normal values (Simpson's rule on a fine grid, accurate to ~1e-9);
- c4(n) = sqrt(2/(n-1)) · Γ(n/2) / Γ((n-1)/2) through ``math.lgamma``;

and derive A2, A3, B3, B4, D3, D4, E2 from them. The table for n = 2..25 is built once at
import (a few milliseconds) so lookups in hot paths are dictionary reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import SPCError

MIN_N = 2
MAX_N = 25

_GRID_HALF_WIDTH = 8.0
_GRID_STEP = 0.05


@dataclass(frozen=True)
class ChartConstants:
    """Constants for subgroup size ``n`` (for E2: moving ranges of span ``n``).

    Upper-case names follow the textbooks (D3 is the R-chart factor, d3 the SD of R/σ).
    """

    n: int
    d2: float
    d3: float
    c4: float
    A2: float
    A3: float
    B3: float
    B4: float
    D3: float
    D4: float
    E2: float


def _simpson_weights(size: int, step: float) -> np.ndarray:
    weights = np.ones(size)
    weights[1:-1:2] = 4.0
    weights[2:-1:2] = 2.0
    return weights * step / 3.0


def _range_moments(sizes: range) -> dict[int, tuple[float, float]]:
    """E[R] and SD[R] of the range R of n iid N(0,1) values, for every n in ``sizes``.

    The density of the range is f(w) = n(n-1) ∫ φ(x) φ(x+w) [Φ(x+w) - Φ(x)]^(n-2) dx for
    w ≥ 0; the moments are ∫ w f(w) dw and ∫ w² f(w) dw. Both integrals run over smooth
    integrands on a rectangle, so Simpson's rule converges fast.
    """
    points = int(round(2 * _GRID_HALF_WIDTH / _GRID_STEP)) + 1
    extended = -_GRID_HALF_WIDTH + _GRID_STEP * np.arange(2 * points - 1)
    cdf = 0.5 * (1.0 + np.array([math.erf(v / math.sqrt(2.0)) for v in extended]))
    pdf = np.exp(-0.5 * extended**2) / math.sqrt(2.0 * math.pi)
    window = np.lib.stride_tricks.sliding_window_view
    # Row i is x = grid[i]; column j is w = j·step, so x + w is extended[i + j].
    cdf_shifted = window(cdf, points)[:points]
    pdf_shifted = window(pdf, points)[:points]
    between = cdf_shifted - cdf[:points, None]
    pair = pdf[:points, None] * pdf_shifted
    weights = _simpson_weights(points, _GRID_STEP)
    widths = _GRID_STEP * np.arange(points)
    moments = {}
    for n in sizes:
        density = n * (n - 1) * (weights @ (pair * between ** (n - 2)))
        mean = float(weights @ (widths * density))
        second = float(weights @ (widths**2 * density))
        moments[n] = (mean, math.sqrt(second - mean * mean))
    return moments


def c4(n: int) -> float:
    """Bias factor of the sample standard deviation, E[s] = c4·σ, for any n ≥ 2."""
    if n < 2:
        raise SPCError(f"c4 is undefined for subgroup size {n}: need at least 2 values")
    return math.sqrt(2.0 / (n - 1)) * math.exp(math.lgamma(n / 2) - math.lgamma((n - 1) / 2))


def _build_table() -> dict[int, ChartConstants]:
    table = {}
    for n, (d2, d3) in _range_moments(range(MIN_N, MAX_N + 1)).items():
        c = c4(n)
        spread = 3.0 * math.sqrt(1.0 - c * c) / c
        table[n] = ChartConstants(
            n=n,
            d2=d2,
            d3=d3,
            c4=c,
            A2=3.0 / (d2 * math.sqrt(n)),
            A3=3.0 / (c * math.sqrt(n)),
            B3=max(0.0, 1.0 - spread),
            B4=1.0 + spread,
            D3=max(0.0, 1.0 - 3.0 * d3 / d2),
            D4=1.0 + 3.0 * d3 / d2,
            E2=3.0 / d2,
        )
    return table


_TABLE = _build_table()


def constants(n: int) -> ChartConstants:
    """All constants for subgroup size n (2..25); raises SPCError outside that range."""
    try:
        return _TABLE[int(n)]
    except KeyError:
        raise SPCError(
            f"no control-chart constants for subgroup size {n}: supported sizes are "
            f"{MIN_N}..{MAX_N}"
        ) from None


def d2(n: int) -> float:
    """E[R/σ] for subgroups of n values."""
    return constants(n).d2


def d3(n: int) -> float:
    """SD[R/σ] for subgroups of n values."""
    return constants(n).d3
