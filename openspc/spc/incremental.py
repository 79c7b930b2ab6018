"""Incremental Nelson-rule evaluation for a worker that sees one characteristic's points in
arrival order.

State per characteristic is the last ``config.window`` points (id, plotted value, packed
class), at most 50 and 15 with Nelson's defaults: JSON-serialisable with
:meth:`RuleEvaluator.to_dict`, rebuilt with :meth:`RuleEvaluator.from_dict`. In memory the
evaluator also keeps run counters and k-of-m bit masks derived from that window, so
:meth:`push` is O(1) per point. :meth:`evaluate_many` feeds a chunk through the vectorised
kernel of :mod:`openspc.spc.batch`, seeded with the window, which is the fast path for
coalesced batches; both give exactly the results of :func:`openspc.spc.batch.evaluate_batch`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from .batch import fire_positions, to_violations
from .errors import SPCError
from .points import Points
from .rules import (
    ABOVE,
    BELOW,
    BEYOND,
    HI1,
    HI2,
    LO1,
    LO2,
    Flags,
    RuleConfig,
    Violation,
    classify,
    classify_one,
)


class RuleEvaluator:
    """Rolling rule evaluation; one instance per characteristic (and limits version, C11).

    Point ids default to the running position (0, 1, 2, ...); callers may pass their own
    (e.g. sample ids) and get them back as ``point``/``first``/``last`` of each violation.
    """

    def __init__(self, config: RuleConfig | None = None) -> None:
        self.config = config or RuleConfig.nelson()
        window = self.config.window
        self.count = 0
        self._ids: deque[Any] = deque(maxlen=window)
        self._values: deque[float] = deque(maxlen=window)
        self._codes: deque[int] = deque(maxlen=window)
        self._reset_counters()

    def _reset_counters(self) -> None:
        self._above = self._below = self._rising = self._falling = 0
        self._alternating = self._inside = self._outside = 0
        self._last_step = 0
        self._hi2 = self._lo2 = self._hi1 = self._lo1 = 0

    def to_dict(self) -> dict[str, Any]:
        """The persistent state: position counter and the last window points."""
        return {
            "count": self.count,
            "ids": list(self._ids),
            "values": list(self._values),
            "codes": list(self._codes),
        }

    @classmethod
    def from_dict(cls, config: RuleConfig, data: dict[str, Any]) -> RuleEvaluator:
        """Rebuild an evaluator; counters are replayed from the stored window (O(window))."""
        evaluator = cls(config)
        evaluator._load_window(data["ids"], data["values"], data["codes"])
        evaluator.count = int(data["count"])
        return evaluator

    def _load_window(self, ids: Sequence[Any], values: Sequence[float], codes: Sequence[int]):
        window = self.config.window
        self._ids.clear()
        self._values.clear()
        self._codes.clear()
        self._reset_counters()
        for point_id, value, code in zip(
            ids[-window:], values[-window:], codes[-window:], strict=True
        ):
            self._advance(point_id, float(value), int(code))

    def push(
        self,
        value: float,
        center: float,
        s: float,
        ucl: float | None = None,
        lcl: float | None = None,
        point_id: Any = None,
    ) -> list[Violation]:
        """Evaluate one new point; returns the rules it fired (ordered by rule id).

        ``s`` is the standard error of the plotted statistic at this point; ``ucl``/``lcl``
        default to center ± 3s (pass the chart's floored/capped limits for attribute charts).
        """
        value, center, s = float(value), float(center), float(s)
        if not (math.isfinite(value) and math.isfinite(center) and math.isfinite(s)):
            raise SPCError(f"point value/center/s must be finite, got {value}, {center}, {s}")
        if s <= 0:
            raise SPCError(f"zero sigma: standard error {s} of the point is not positive")
        ucl = center + 3.0 * s if ucl is None else ucl
        lcl = center - 3.0 * s if lcl is None else lcl
        code = classify_one(value, center, s, ucl, lcl)
        return self._advance(self.count if point_id is None else point_id, value, code)

    def _advance(self, point_id: Any, value: float, code: int) -> list[Violation]:
        ids = self._ids
        previous = self._values[-1] if self._values else None
        ids.append(point_id)
        self._values.append(value)
        self._codes.append(code)
        self.count += 1

        self._above = self._above + 1 if code & ABOVE else 0
        self._below = self._below + 1 if code & BELOW else 0
        outside = code & (HI1 | LO1)
        self._inside = 0 if outside else self._inside + 1
        self._outside = self._outside + 1 if outside else 0
        step = 0 if previous is None else (value > previous) - (value < previous)
        self._rising = self._rising + 1 if step > 0 else 0
        self._falling = self._falling + 1 if step < 0 else 0
        if step == 0:
            self._alternating = 0
        elif step == -self._last_step:
            self._alternating += 1
        else:
            self._alternating = 1
        self._last_step = step
        full = (1 << self.config.window) - 1
        self._hi2 = ((self._hi2 << 1) | bool(code & HI2)) & full
        self._lo2 = ((self._lo2 << 1) | bool(code & LO2)) & full
        self._hi1 = ((self._hi1 << 1) | bool(code & HI1)) & full
        self._lo1 = ((self._lo1 << 1) | bool(code & LO1)) & full

        hits = []
        for rule_id in self.config.enabled_rules:
            setting = self.config.setting(rule_id)
            params = setting.parameters
            span = None
            if rule_id == 1:
                span = (point_id, point_id) if code & BEYOND else None
            elif rule_id == 2:
                fired = max(self._above, self._below) >= params["run_length"]
                span = self._run_span(params["run_length"]) if fired else None
            elif rule_id == 3:
                fired = max(self._rising, self._falling) >= params["run_length"] - 1
                span = self._run_span(params["run_length"]) if fired else None
            elif rule_id == 4:
                fired = self._alternating >= params["run_length"] - 1
                span = self._run_span(params["run_length"]) if fired else None
            elif rule_id in (5, 6):
                high, low = (self._hi2, self._lo2) if rule_id == 5 else (self._hi1, self._lo1)
                span = self._k_of_m_span(high, low, params["k"], params["m"])
            elif rule_id == 7:
                fired = self._inside >= params["run_length"]
                span = self._run_span(params["run_length"]) if fired else None
            else:
                fired = self._outside >= params["run_length"]
                span = self._run_span(params["run_length"]) if fired else None
            if span is not None:
                hits.append(Violation(point_id, rule_id, span[0], span[1], setting.severity))
        return hits

    def _run_span(self, length: int) -> tuple[Any, Any]:
        return self._ids[-length], self._ids[-1]

    def _k_of_m_span(self, high: int, low: int, k: int, m: int) -> tuple[Any, Any] | None:
        if len(self._ids) < m:
            return None
        window = (1 << m) - 1
        qualifying = 0
        if (high & window).bit_count() >= k:
            qualifying |= high & window
        if (low & window).bit_count() >= k:
            qualifying |= low & window
        if not qualifying:
            return None
        newest = (qualifying & -qualifying).bit_length() - 1
        oldest = qualifying.bit_length() - 1
        return self._ids[-1 - oldest], self._ids[-1 - newest]

    def evaluate_many(self, points: Points, ids: Sequence[Any] | None = None) -> list[Violation]:
        """Evaluate a chunk of new points at once (vectorised, seeded with the window).

        Same results as calling :meth:`push` for each point, ordered by point then rule.
        Cost is O(window + len(points)).
        """
        size = len(points)
        if size == 0:
            return []
        points.validate()
        if ids is None:
            ids = range(self.count, self.count + size)
        elif len(ids) != size:
            raise SPCError(f"{size} points but {len(ids)} ids")
        prefix = len(self._values)
        flags = classify(points)
        if prefix:
            seed = Flags.unpack(np.fromiter(self._codes, dtype=np.uint8, count=prefix))
            flags = Flags(*(np.concatenate((a, b)) for a, b in zip(seed, flags, strict=True)))
            values = np.concatenate((np.fromiter(self._values, float, prefix), points.value))
        else:
            values = points.value
        seed_ids = list(self._ids)

        def name(position: int) -> Any:
            return seed_ids[position] if position < prefix else ids[position - prefix]

        firings = fire_positions(values, flags, self.config, prefix)
        result = to_violations(firings, self.config, name)
        window = self.config.window
        tail = Flags(*(array[-window:] for array in flags)).pack().tolist()
        tail_ids = [name(position) for position in range(max(0, values.size - window), values.size)]
        count = self.count + size
        self._load_window(tail_ids, values[-window:].tolist(), tail)
        self.count = count
        return result
