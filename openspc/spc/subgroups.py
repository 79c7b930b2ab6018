"""Per-subgroup statistics (mean, range, standard deviation) computed in one vectorised pass.

Subgroups arrive ragged (variable sizes), so they are flattened once and reduced with
``np.add.reduceat``; 10^5 subgroups cost milliseconds instead of a Python loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np

from .charts import SubgroupMode
from .constants import MAX_N
from .errors import SPCError


@dataclass(frozen=True)
class SubgroupStats:
    """Statistics of k subgroups; ``ranges``/``std_devs`` are NaN where n_i < 2."""

    sizes: np.ndarray
    means: np.ndarray
    ranges: np.ndarray
    std_devs: np.ndarray
    values: np.ndarray

    @property
    def count(self) -> int:
        return int(self.sizes.size)


def check_finite(values: np.ndarray, what: str) -> None:
    """Raise SPCError naming the first NaN or infinite entry of ``values``."""
    bad = ~np.isfinite(values)
    if bad.any():
        index = int(np.argmax(bad))
        kind = "NaN" if np.isnan(values[index]) else "an infinite value"
        raise SPCError(f"{what} contains {kind} at position {index}")


def subgroup_stats(
    subgroups: Sequence[Sequence[float]] | np.ndarray, max_size: int = MAX_N
) -> SubgroupStats:
    """Validate subgroups and compute their statistics.

    Accepts a 2-D array (k subgroups × n values) or a sequence of sequences of any sizes.
    Raises SPCError for no subgroups, an empty subgroup, more than ``max_size`` values in a
    subgroup, NaN or infinity.
    """
    if isinstance(subgroups, np.ndarray) and subgroups.ndim == 2:
        sizes = np.full(subgroups.shape[0], subgroups.shape[1], dtype=np.int64)
        values = np.ascontiguousarray(subgroups, dtype=np.float64).ravel()
    else:
        sizes = np.fromiter((len(group) for group in subgroups), dtype=np.int64)
        values = np.fromiter(chain.from_iterable(subgroups), dtype=np.float64, count=sizes.sum())
    if sizes.size == 0:
        raise SPCError("no subgroups given")
    if (sizes == 0).any():
        raise SPCError(f"subgroup {int(np.argmax(sizes == 0))} is empty")
    if (sizes > max_size).any():
        index = int(np.argmax(sizes > max_size))
        raise SPCError(
            f"too many measurements: subgroup {index} has {int(sizes[index])} values, "
            f"maximum is {max_size}"
        )
    bad = ~np.isfinite(values)
    if bad.any():
        position = int(np.argmax(bad))
        group = int(np.searchsorted(np.cumsum(sizes), position, side="right"))
        kind = "NaN" if np.isnan(values[position]) else "an infinite value"
        raise SPCError(f"subgroup {group} contains {kind}")
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    means = np.add.reduceat(values, starts) / sizes
    ranges = np.maximum.reduceat(values, starts) - np.minimum.reduceat(values, starts)
    squares = np.add.reduceat((values - np.repeat(means, sizes)) ** 2, starts)
    with np.errstate(divide="ignore", invalid="ignore"):
        std_devs = np.sqrt(squares / (sizes - 1))
    single = sizes < 2
    ranges[single] = np.nan
    std_devs[single] = np.nan
    return SubgroupStats(sizes=sizes, means=means, ranges=ranges, std_devs=std_devs, values=values)


def validate_subgroup_size(
    actual_n: int,
    subgroup_size: int,
    mode: SubgroupMode = SubgroupMode.NOMINAL_TOLERANCE,
    min_measurements: int = 1,
) -> None:
    """Ingest check of engine.md §5.1: at least ``min_measurements`` values; at most the
    nominal size in NOMINAL_TOLERANCE mode (the other modes accept oversized subgroups)."""
    if actual_n < max(1, min_measurements):
        raise SPCError(
            f"too few measurements: {actual_n} given, at least {max(1, min_measurements)} needed"
        )
    if mode == SubgroupMode.NOMINAL_TOLERANCE and actual_n > subgroup_size:
        raise SPCError(f"too many measurements: {actual_n} given, subgroup size is {subgroup_size}")
    if actual_n > MAX_N:
        raise SPCError(f"too many measurements: {actual_n} given, maximum is {MAX_N}")


def is_undersized(actual_n: int, subgroup_size: int, warn_below_count: int | None = None) -> bool:
    """The reference's ``is_undersized`` flag: fewer values than the warning threshold."""
    return actual_n < (warn_below_count or subgroup_size)
