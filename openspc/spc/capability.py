"""Process capability and performance indices (api.md §X.2).

Within-subgroup sigma comes from the chart's estimate (``ControlLimits.sigma``: R̄/d2,
S̄/c4, MR̄/d2 or pooled — never σ/√n, gap G-15); overall sigma is the sample standard
deviation (ddof 1) of all individual measurements. An index is None when a spec limit it
needs is missing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from .charts import require_finite, require_sigma
from .errors import SPCError
from .subgroups import check_finite


@dataclass(frozen=True)
class Capability:
    cp: float | None
    cpk: float | None
    cpl: float | None
    cpu: float | None
    pp: float | None
    ppk: float | None
    cpm: float | None
    sigma_within: float
    sigma_overall: float
    mean: float
    sample_count: int
    usl: float | None
    lsl: float | None
    target: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def _min_present(*values: float | None) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def capability(
    values: Sequence[float] | np.ndarray,
    sigma_within: float,
    usl: float | None = None,
    lsl: float | None = None,
    target: float | None = None,
    sample_count: int | None = None,
) -> Capability:
    """Cp, Cpk, Cpl, Cpu (within sigma), Pp, Ppk (overall sigma) and Cpm.

    ``values`` are the individual measurements of the non-excluded samples; ``sample_count``
    (the number of samples, default the number of values) is reported as given.
    Cpk/Ppk are one-sided when only one spec limit exists; Cp, Pp need both; Cpm needs
    both and a target: (USL-LSL) / (6·sqrt(σ_overall² + (mean-T)²)).
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    check_finite(values, "values")
    if values.size < 2:
        raise SPCError("capability needs at least 2 individual values for the overall sigma")
    usl = None if usl is None else require_finite(usl, "usl")
    lsl = None if lsl is None else require_finite(lsl, "lsl")
    target = None if target is None else require_finite(target, "target")
    if usl is not None and lsl is not None and usl <= lsl:
        raise SPCError(f"usl ({usl}) must be greater than lsl ({lsl})")
    within = require_sigma(require_finite(sigma_within, "sigma_within"), "capability")
    mean = float(values.mean())
    overall = require_sigma(float(values.std(ddof=1)), "capability (overall)")

    def upper(sigma: float) -> float | None:
        return None if usl is None else (usl - mean) / (3.0 * sigma)

    def lower(sigma: float) -> float | None:
        return None if lsl is None else (mean - lsl) / (3.0 * sigma)

    both = usl is not None and lsl is not None
    cpm = None
    if both and target is not None:
        cpm = (usl - lsl) / (6.0 * math.sqrt(overall**2 + (mean - target) ** 2))
    return Capability(
        cp=(usl - lsl) / (6.0 * within) if both else None,
        cpk=_min_present(upper(within), lower(within)),
        cpl=lower(within),
        cpu=upper(within),
        pp=(usl - lsl) / (6.0 * overall) if both else None,
        ppk=_min_present(upper(overall), lower(overall)),
        cpm=cpm,
        sigma_within=within,
        sigma_overall=overall,
        mean=mean,
        sample_count=values.size if sample_count is None else int(sample_count),
        usl=usl,
        lsl=lsl,
        target=target,
    )
