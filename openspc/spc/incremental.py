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

SMALL_CHUNK = 64
"""Below this many points a Python loop of :meth:`RuleEvaluator.push` beats the numpy
kernel's fixed per-call cost."""


class RuleEvaluator:
    """Rolling rule evaluation; one instance per characteristic (and limits version, C11).

    Point ids default to the running position (0, 1, 2, ...); callers may pass their own
    (e.g. sample ids) and get them back as ``point``/``first``/``last`` of each violation.
    """

    def __init__(self, config: RuleConfig | None = None) -> None:
        self.config = config = config or RuleConfig.nelson()
        window = config.window
        self.count = 0
        self._ids: deque[Any] = deque(maxlen=window)
        self._values: deque[float] = deque(maxlen=window)
        self._codes: deque[int] = deque(maxlen=window)
        self._mask = (1 << window) - 1
        enabled = set(config.enabled_rules)

        def parameter(rule_id: int, name: str) -> int:
            """The parameter of an enabled rule, 0 when the rule is disabled."""
            return config.setting(rule_id).parameters[name] if rule_id in enabled else 0

        self._rule1 = 1 in enabled
        self._run2, self._run3 = parameter(2, "run_length"), parameter(3, "run_length")
        self._run4, self._run7 = parameter(4, "run_length"), parameter(7, "run_length")
        self._run8 = parameter(8, "run_length")
        self._k5, self._m5 = parameter(5, "k"), parameter(5, "m")
        self._k6, self._m6 = parameter(6, "k"), parameter(6, "m")
        self._severity = {rule_id: config.setting(rule_id).severity for rule_id in enabled}
        self._reset_counters()

    def _reset_counters(self) -> None:
        self._above = self._below = self._rising = self._falling = 0
        self._alternating = self._inside = self._outside = 0
        self._last_step = 0
        self._hi2 = self._lo2 = self._hi1 = self._lo1 = 0
        self._stale = False

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
        """Rebuild an evaluator from :meth:`to_dict` output (counters follow lazily)."""
        evaluator = cls(config)
        evaluator._set_window(data["ids"], data["values"], data["codes"])
        evaluator.count = int(data["count"])
        return evaluator

    def _set_window(self, ids: Sequence[Any], values: Sequence[float], codes: Sequence[int]):
        """Replace the window; run counters are rebuilt from it on the next :meth:`push`."""
        window = self.config.window
        self._ids = deque(ids[-window:], maxlen=window)
        self._values = deque((float(v) for v in values[-window:]), maxlen=window)
        self._codes = deque((int(c) for c in codes[-window:]), maxlen=window)
        if not len(self._ids) == len(self._values) == len(self._codes):
            raise SPCError("evaluator state: ids, values and codes differ in length")
        self._stale = True

    def _rebuild_counters(self) -> None:
        """Counters from the window alone. A run longer than the window is seen as a run of
        window length, which is enough: no rule looks further back than the window."""
        values, codes = list(self._values), list(self._codes)
        self._reset_counters()
        previous = None
        for value, code in zip(values, codes, strict=True):
            self._count(value, code, previous)
            previous = value

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
        if self._stale:
            self._rebuild_counters()
        point_id = self.count if point_id is None else point_id
        self._count(value, code, self._values[-1] if self._values else None)
        self._ids.append(point_id)
        self._values.append(value)
        self._codes.append(code)
        self.count += 1
        return self._check(point_id, code)

    def _count(self, value: float, code: int, previous: float | None) -> None:
        """Advance the O(1) counters by one point."""
        self._above = self._above + 1 if code & ABOVE else 0
        self._below = self._below + 1 if code & BELOW else 0
        if code & (HI1 | LO1):
            self._inside, self._outside = 0, self._outside + 1
        else:
            self._inside, self._outside = self._inside + 1, 0
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
        mask = self._mask
        self._hi2 = ((self._hi2 << 1) | (code & HI2 != 0)) & mask
        self._lo2 = ((self._lo2 << 1) | (code & LO2 != 0)) & mask
        self._hi1 = ((self._hi1 << 1) | (code & HI1 != 0)) & mask
        self._lo1 = ((self._lo1 << 1) | (code & LO1 != 0)) & mask

    def _check(self, point_id: Any, code: int) -> list[Violation]:
        """Rules fired by the newest point, in rule order."""
        spans: list[tuple[int, tuple[Any, Any]]] = []
        if self._rule1 and code & BEYOND:
            spans.append((1, (point_id, point_id)))
        if self._run2 and max(self._above, self._below) >= self._run2:
            spans.append((2, self._run_span(self._run2)))
        if self._run3 and max(self._rising, self._falling) >= self._run3 - 1:
            spans.append((3, self._run_span(self._run3)))
        if self._run4 and self._alternating >= self._run4 - 1:
            spans.append((4, self._run_span(self._run4)))
        if self._k5 and (span := self._k_of_m_span(self._hi2, self._lo2, self._k5, self._m5)):
            spans.append((5, span))
        if self._k6 and (span := self._k_of_m_span(self._hi1, self._lo1, self._k6, self._m6)):
            spans.append((6, span))
        if self._run7 and self._inside >= self._run7:
            spans.append((7, self._run_span(self._run7)))
        if self._run8 and self._outside >= self._run8:
            spans.append((8, self._run_span(self._run8)))
        severity = self._severity
        return [
            Violation(point_id, rule, first, last, severity[rule]) for rule, (first, last) in spans
        ]

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
        Cost is O(window + len(points)) with a fixed per-call overhead of about a hundred
        numpy calls, so chunks shorter than ``SMALL_CHUNK`` go through :meth:`push`
        instead (measured crossover, bench/bench_engine.py).
        """
        size = len(points)
        if size == 0:
            return []
        points.validate()
        if ids is None:
            ids = range(self.count, self.count + size)
        elif len(ids) != size:
            raise SPCError(f"{size} points but {len(ids)} ids")
        if size < SMALL_CHUNK:
            columns = (points.value, points.center, points.s, points.ucl, points.lcl)
            return [
                hit
                for (value, center, s, ucl, lcl), point_id in zip(
                    zip(*(column.tolist() for column in columns), strict=True), ids, strict=True
                )
                for hit in self.push(value, center, s, ucl, lcl, point_id)
            ]
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
        self._set_window(tail_ids, values[-window:].tolist(), tail)
        self.count += size
        return result
