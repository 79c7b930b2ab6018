"""Chart vocabulary shared by every module: chart types, sigma methods, subgroup modes and
the :class:`ControlLimits` result.

One ``ControlLimits`` shape serves variables and attribute charts so that storage, the API
and the rule evaluators never branch on the chart family to read a center line or a sigma.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from .errors import SPCError


class ChartType(StrEnum):
    """Chart types of api.md §X.1."""

    XBAR_R = "xbar_r"
    XBAR_S = "xbar_s"
    I_MR = "i_mr"
    P = "p"
    NP = "np"
    C = "c"
    U = "u"

    @property
    def is_attribute(self) -> bool:
        return self in (ChartType.P, ChartType.NP, ChartType.C, ChartType.U)


class SigmaMethod(StrEnum):
    """How sigma was obtained (stored with the limits as ``method``)."""

    MOVING_RANGE = "moving_range"
    R_BAR_D2 = "r_bar_d2"
    S_BAR_C4 = "s_bar_c4"
    POOLED = "pooled"
    MANUAL = "manual"
    BINOMIAL = "binomial"
    POISSON = "poisson"


class SubgroupMode(StrEnum):
    """How variable subgroup sizes are plotted (engine.md §5.2)."""

    NOMINAL_TOLERANCE = "NOMINAL_TOLERANCE"
    STANDARDIZED = "STANDARDIZED"
    VARIABLE_LIMITS = "VARIABLE_LIMITS"


@dataclass(frozen=True)
class SecondaryLimits:
    """Limits of the dispersion chart paired with a variables chart.

    ``chart`` is ``"r"``, ``"s"`` or ``"mr"``; ``sigma`` is the standard deviation of the
    plotted dispersion statistic (d3·σ for R and MR, σ·sqrt(1-c4²) for S), which gives the
    zones if rules beyond rule 1 are ever enabled on it.
    """

    chart: str
    center_line: float
    ucl: float
    lcl: float
    sigma: float


@dataclass(frozen=True)
class ControlLimits:
    """Control limits of one characteristic, as computed or set manually.

    ``sigma`` is the process sigma of one unit: σ of an individual value for variables charts
    (never σ/√n), sqrt(p̄(1-p̄)) for p, sqrt(n·p̄(1-p̄)) for np, sqrt(c̄) for c and sqrt(ū)
    for u. ``ucl``/``lcl`` are the limits at the nominal size ``n``; per-point limits for
    other sizes come from :func:`openspc.spc.points.point_limits`.
    """

    chart_type: ChartType
    center_line: float
    ucl: float
    lcl: float
    sigma: float
    method: SigmaMethod
    n: int
    sample_count: int
    secondary: SecondaryLimits | None = None

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (enums as their string values)."""
        secondary = None
        if self.secondary is not None:
            secondary = {
                "chart": self.secondary.chart,
                "center_line": self.secondary.center_line,
                "ucl": self.secondary.ucl,
                "lcl": self.secondary.lcl,
                "sigma": self.secondary.sigma,
            }
        return {
            "chart_type": self.chart_type.value,
            "center_line": self.center_line,
            "ucl": self.ucl,
            "lcl": self.lcl,
            "sigma": self.sigma,
            "method": self.method.value,
            "n": self.n,
            "sample_count": self.sample_count,
            "secondary": secondary,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ControlLimits:
        secondary = data.get("secondary")
        return cls(
            chart_type=ChartType(data["chart_type"]),
            center_line=float(data["center_line"]),
            ucl=float(data["ucl"]),
            lcl=float(data["lcl"]),
            sigma=float(data["sigma"]),
            method=SigmaMethod(data["method"]),
            n=int(data["n"]),
            sample_count=int(data["sample_count"]),
            secondary=SecondaryLimits(**secondary) if secondary else None,
        )


def require_sigma(sigma: float, what: str) -> float:
    """Refuse a zero, negative or non-finite sigma (gap G-9): zones would be undefined."""
    if not math.isfinite(sigma):
        raise SPCError(f"sigma is undefined ({sigma}) for {what}")
    if sigma <= 0.0:
        raise SPCError(f"zero sigma for {what}: all values are identical, zones are undefined")
    return sigma


def require_finite(value: float, name: str) -> float:
    """Refuse NaN and ±inf in a scalar input, naming it."""
    if math.isnan(value):
        raise SPCError(f"{name} is NaN")
    if math.isinf(value):
        raise SPCError(f"{name} is infinite ({value})")
    return float(value)
