"""Vectorised evaluation of the Nelson rules over whole histories (recalculation, replay).

Every rule reduces to a window sum over a small integer array: "all N flags true" is a sum
of N, "k of m" a sum ≥ k, and a run on one side is a sum of ±N over the signs (+1 above,
-1 below, 0 on the line). A window sum is the difference of two slices of one cumulative
sum: O(n) numpy work and no Python loop per point. Long histories are processed in blocks
that fit the CPU cache, each seeded with the tail of the previous block. First/last points
of a pattern are gathered only for the (few) points that fired.

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

BLOCK = 1 << 15


@dataclass(frozen=True)
class RuleFirings:
    """Positions where one rule fired, with the first and last position of each pattern."""

    points: np.ndarray
    first: np.ndarray
    last: np.ndarray


class _WindowSums:
    """Window sums of one integer array for any window length, from one cumulative sum."""

    def __init__(self, array: np.ndarray, start: int) -> None:
        self.total = array.size
        self.start = start
        self.sums = np.empty(self.total + 1, dtype=np.int32)
        self.sums[0] = 0
        np.cumsum(array, dtype=np.int32, out=self.sums[1:])

    def over(self, length: int) -> tuple[int, np.ndarray]:
        """(p, sums) with sums[j] = Σ array[i-length+1 .. i] for i = p + j ≥ start; windows
        that would reach before the first point are not produced (a rule needs them full)."""
        first = max(self.start, length - 1)
        if first >= self.total:
            return first, np.zeros(0, dtype=np.int32)
        return first, self.sums[first + 1 :] - self.sums[
            first + 1 - length : self.total + 1 - length
        ]


def _where(first: int, mask: np.ndarray) -> np.ndarray:
    return np.flatnonzero(mask) + first


def _span(points: np.ndarray, length: int) -> RuleFirings:
    return RuleFirings(points, points - (length - 1), points)


def _k_of_m(high: np.ndarray, low: np.ndarray, k: int, m: int, start: int) -> RuleFirings:
    first, high_counts = _WindowSums(high, start).over(m)
    _, low_counts = _WindowSums(low, start).over(m)
    high_fires, low_fires = high_counts >= k, low_counts >= k
    fired = np.flatnonzero(high_fires | low_fires)
    points = fired + first
    if not points.size:
        return RuleFirings(points, points, points)
    window = points[:, None] + np.arange(1 - m, 1)
    qualifying = (high[window] & high_fires[fired, None]) | (low[window] & low_fires[fired, None])
    first_point = points - (m - 1) + np.argmax(qualifying, axis=1)
    last_point = points - np.argmax(qualifying[:, ::-1], axis=1)
    return RuleFirings(points, first_point, last_point)


def fire_positions(
    values: np.ndarray, flags: Flags, config: RuleConfig, start: int = 0
) -> dict[int, RuleFirings]:
    """Firings of every enabled rule at positions ≥ ``start`` (earlier positions are history)."""
    enabled = config.enabled_rules
    params = {rule_id: config.setting(rule_id).parameters for rule_id in enabled}
    result: dict[int, RuleFirings] = {}
    if 1 in enabled:
        result[1] = _span(np.flatnonzero(flags.beyond[start:]) + start, 1)
    if 2 in enabled:
        n = params[2]["run_length"]
        side = flags.above.view(np.int8) - flags.below.view(np.int8)
        first, sums = _WindowSums(side, start).over(n)
        result[2] = _span(_where(first, np.abs(sums) == n), n)
    if 3 in enabled or 4 in enabled:
        step = np.zeros(values.size, dtype=np.int8)
        later, earlier = values[1:], values[:-1]
        step[1:] = (later > earlier).view(np.int8) - (later < earlier).view(np.int8)
        if 3 in enabled:
            n = params[3]["run_length"]
            first, sums = _WindowSums(step, start).over(n - 1)
            result[3] = _span(_where(first, np.abs(sums) == n - 1), n)
        if 4 in enabled:
            n = params[4]["run_length"]
            alternating = np.zeros(values.size, dtype=np.int8)
            alternating[1:] = (step[1:] * step[:-1] < 0).view(np.int8)
            first, sums = _WindowSums(alternating, start).over(n - 2)
            result[4] = _span(_where(first, sums == n - 2), n)
    if 5 in enabled:
        result[5] = _k_of_m(flags.hi2, flags.lo2, params[5]["k"], params[5]["m"], start)
    if 6 in enabled:
        result[6] = _k_of_m(flags.hi1, flags.lo1, params[6]["k"], params[6]["m"], start)
    if 7 in enabled or 8 in enabled:
        outside = _WindowSums(flags.hi1 | flags.lo1, start)
        if 7 in enabled:
            n = params[7]["run_length"]
            first, sums = outside.over(n)
            result[7] = _span(_where(first, sums == 0), n)
        if 8 in enabled:
            n = params[8]["run_length"]
            first, sums = outside.over(n)
            result[8] = _span(_where(first, sums == n), n)
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
    """Evaluate every point of a history at once (vectorised, in cache-sized blocks)."""
    config = config or RuleConfig.nelson()
    size, history = len(points), config.window
    parts: dict[int, list[RuleFirings]] = {rule_id: [] for rule_id in config.enabled_rules}
    for low in range(0, size, BLOCK):
        prefix = min(low, history)
        block = points[low - prefix : min(size, low + BLOCK)]
        offset = low - prefix
        for rule_id, firing in fire_positions(block.value, classify(block), config, prefix).items():
            parts[rule_id].append(
                RuleFirings(firing.points + offset, firing.first + offset, firing.last + offset)
            )
    empty = np.zeros(0, dtype=np.int64)
    firings = {
        rule_id: RuleFirings(
            *(np.concatenate([getattr(p, f) for p in found] or [empty]) for f in
              ("points", "first", "last"))
        )
        for rule_id, found in parts.items()
    }  # fmt: skip
    return BatchResult(config, firings, size)
