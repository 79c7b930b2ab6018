"""Vectorised evaluation of the Nelson rules over whole histories (recalculation, replay).

Every rule reduces to "the last N flags of a window are all true" or "at least k of the
last m flags are true", which is a difference of two slices of a cumulative sum: O(n) numpy
work and no Python loop per point. First/last points of a pattern are only gathered for
the (few) points that fired.

The kernel accepts a prefix of already evaluated points, which the incremental evaluator
uses to feed a chunk of new points through the same code seeded with its window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .points import Points
from .rules import Flags, RuleConfig, Violation, classify


@dataclass(frozen=True)
class RuleFirings:
    """Positions where one rule fired, with the first and last position of each pattern."""

    points: np.ndarray
    first: np.ndarray
    last: np.ndarray


def _window_sums(flag: np.ndarray, length: int, start: int) -> np.ndarray:
    """out[i - start] = number of true flags in flag[i-length+1 .. i] for each position
    i ≥ start; 0 where fewer than ``length`` points exist (a rule needs its full window)."""
    total = flag.size
    out = np.zeros(total - start, dtype=np.int32)
    first = max(start, length - 1)
    if first < total:
        sums = np.empty(total + 1, dtype=np.int32)
        sums[0] = 0
        np.cumsum(flag, dtype=np.int32, out=sums[1:])
        out[first - start :] = sums[first + 1 :] - sums[first + 1 - length : total + 1 - length]
    return out


def _full_windows(flag: np.ndarray, length: int, start: int) -> np.ndarray:
    return _window_sums(flag, length, start) == length


def _run(flag: np.ndarray, length: int, start: int) -> RuleFirings:
    points = np.flatnonzero(_full_windows(flag, length, start)) + start
    return RuleFirings(points, points - (length - 1), points)


def _k_of_m(high: np.ndarray, low: np.ndarray, k: int, m: int, start: int) -> RuleFirings:
    high_fires = _window_sums(high, m, start) >= k
    low_fires = _window_sums(low, m, start) >= k
    points = np.flatnonzero(high_fires | low_fires) + start
    window = points[:, None] + np.arange(1 - m, 1)
    qualifying = (high[window] & high_fires[points - start, None]) | (
        low[window] & low_fires[points - start, None]
    )
    first = points - (m - 1) + np.argmax(qualifying, axis=1)
    last = points - np.argmax(qualifying[:, ::-1], axis=1)
    return RuleFirings(points, first, last)


def fire_positions(
    values: np.ndarray, flags: Flags, config: RuleConfig, start: int = 0
) -> dict[int, RuleFirings]:
    """Firings of every enabled rule at positions ≥ ``start`` (earlier positions are history)."""
    result: dict[int, RuleFirings] = {}
    for rule_id in config.enabled_rules:
        params = config.setting(rule_id).parameters
        if rule_id == 1:
            result[1] = _run(flags.beyond, 1, start)
        elif rule_id == 2:
            n = params["run_length"]
            either = _full_windows(flags.above, n, start) | _full_windows(flags.below, n, start)
            points = np.flatnonzero(either) + start
            result[2] = RuleFirings(points, points - (n - 1), points)
        elif rule_id in (3, 4):
            step = np.zeros(values.size, dtype=np.int8)
            step[1:] = np.sign(np.diff(values))
            n = params["run_length"]
            if rule_id == 3:
                up = _run(step > 0, n - 1, start)
                down = _run(step < 0, n - 1, start)
                points = np.union1d(up.points, down.points)
            else:
                alternating = np.zeros(values.size, dtype=bool)
                alternating[1:] = step[1:] * step[:-1] < 0
                points = _run(alternating, n - 2, start).points
            result[rule_id] = RuleFirings(points, points - (n - 1), points)
        elif rule_id in (5, 6):
            high, low = (flags.hi2, flags.lo2) if rule_id == 5 else (flags.hi1, flags.lo1)
            result[rule_id] = _k_of_m(high, low, params["k"], params["m"], start)
        elif rule_id == 7:
            result[7] = _run(~(flags.hi1 | flags.lo1), params["run_length"], start)
        else:
            result[8] = _run(flags.hi1 | flags.lo1, params["run_length"], start)
    return result


@dataclass(frozen=True)
class BatchResult:
    """Firings per enabled rule, positions indexing the evaluated points."""

    config: RuleConfig
    firings: dict[int, RuleFirings]
    length: int

    def fired(self, rule_id: int) -> np.ndarray:
        """Boolean mask over all points: did ``rule_id`` fire there."""
        mask = np.zeros(self.length, dtype=bool)
        if rule_id in self.firings:
            mask[self.firings[rule_id].points] = True
        return mask

    def violations(self, ids: Sequence[Any] | np.ndarray | None = None) -> list[Violation]:
        """All firings as :class:`Violation` records ordered by point then rule; positions
        are mapped through ``ids`` when given."""
        name = (lambda position: position) if ids is None else ids.__getitem__
        return to_violations(self.firings, self.config, name)


def to_violations(
    firings: dict[int, RuleFirings], config: RuleConfig, name: Callable[[int], Any]
) -> list[Violation]:
    """Violation records ordered by point then rule, positions mapped through ``name``."""
    rows = sorted(
        (point, rule_id, first, last)
        for rule_id, firing in firings.items()
        for point, first, last in zip(
            firing.points.tolist(), firing.first.tolist(), firing.last.tolist(), strict=True
        )
    )
    return [
        Violation(name(p), rule_id, name(f), name(la), config.setting(rule_id).severity)
        for p, rule_id, f, la in rows
    ]


def evaluate_batch(points: Points, config: RuleConfig | None = None) -> BatchResult:
    """Evaluate every point of a history at once (vectorised)."""
    config = config or RuleConfig.nelson()
    flags = classify(points)
    return BatchResult(config, fire_positions(points.value, flags, config), len(points))
