"""Nelson rules 1-8: configuration, point classification and the violation record.

Conventions (engine.md §17) applied everywhere, by both evaluators:

- C1 "beyond kσ" is strict and symmetric: x > CL + k·s or x < CL - k·s (the σ lines are
  computed exactly as a chart draws them, so a point on a line is never beyond it); rule 1
  uses the point's own UCL/LCL, strictly.
- C2 rule 7 "within 1σ" is CL - s ≤ x ≤ CL + s.  C3 a point on CL breaks a rule-2 run.
- C4 a tie breaks a trend.  C5 a zero difference breaks alternation.
- C6 a window rule fires at the last point of every window that satisfies it.
- C7 rules 5/6 count within the window; the newest point need not qualify.  C8 rule 8 does
  not need both sides.

Rules 3 and 4 look at the plotted values; the others at the point's class relative to its
own center line and standard error, fixed when the point is evaluated (C11).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np

from .errors import SPCError
from .points import Points

MAX_WINDOW = 50

ABOVE, BELOW, HI2, LO2, HI1, LO1, BEYOND = 1, 2, 4, 8, 16, 32, 64


class Severity(StrEnum):
    CRITICAL = "CRITICAL"
    WARNING = "WARNING"
    INFO = "INFO"


RULE_NAMES = {
    1: "Outlier",
    2: "Shift",
    3: "Trend",
    4: "Alternator",
    5: "Zone A Warning",
    6: "Zone B Warning",
    7: "Stratification",
    8: "Mixture",
}

DEFAULT_PARAMETERS: dict[int, dict[str, int]] = {
    1: {},
    2: {"run_length": 9},
    3: {"run_length": 6},
    4: {"run_length": 14},
    5: {"k": 2, "m": 3},
    6: {"k": 4, "m": 5},
    7: {"run_length": 15},
    8: {"run_length": 8},
}

_MIN_RUN_LENGTH = {2: 2, 3: 3, 4: 3, 7: 2, 8: 2}


@dataclass(frozen=True)
class RuleSetting:
    """One rule's configuration (api.md §X.3)."""

    rule_id: int
    enabled: bool = True
    severity: Severity = Severity.WARNING
    parameters: Mapping[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return RULE_NAMES[self.rule_id]

    @property
    def length(self) -> int:
        """Number of points the pattern spans (1 for rule 1)."""
        if self.rule_id in (5, 6):
            return self.parameters["m"]
        return self.parameters.get("run_length", 1)


def _validated_parameters(rule_id: int, parameters: Mapping[str, Any] | None) -> dict[str, int]:
    merged = dict(DEFAULT_PARAMETERS[rule_id])
    for key, value in (parameters or {}).items():
        if key not in merged:
            raise SPCError(f"rule {rule_id}: unknown parameter parameters.{key}")
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise SPCError(f"rule {rule_id}: parameters.{key} must be an integer, got {value!r}")
        merged[key] = int(value)
    if rule_id in (5, 6):
        if not 1 <= merged["m"] <= MAX_WINDOW:
            raise SPCError(f"rule {rule_id}: parameters.m must be in 1..{MAX_WINDOW}")
        if not 1 <= merged["k"] <= merged["m"]:
            raise SPCError(f"rule {rule_id}: parameters.k must be in 1..m ({merged['m']})")
    elif rule_id != 1:
        low = _MIN_RUN_LENGTH[rule_id]
        if not low <= merged["run_length"] <= MAX_WINDOW:
            raise SPCError(f"rule {rule_id}: parameters.run_length must be in {low}..{MAX_WINDOW}")
    return merged


def make_setting(
    rule_id: int,
    enabled: bool = True,
    severity: Severity | str | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> RuleSetting:
    """A validated RuleSetting; severity defaults to CRITICAL for rule 1, WARNING otherwise."""
    if rule_id not in RULE_NAMES:
        raise SPCError(f"rule_id must be in 1..8, got {rule_id}")
    if severity is None:
        severity = Severity.CRITICAL if rule_id == 1 else Severity.WARNING
    try:
        severity = Severity(severity)
    except ValueError:
        raise SPCError(f"rule {rule_id}: severity must be CRITICAL, WARNING or INFO") from None
    return RuleSetting(rule_id, bool(enabled), severity, _validated_parameters(rule_id, parameters))


@dataclass(frozen=True)
class RuleConfig:
    """The eight rule settings of one chart, indexed by rule id."""

    settings: tuple[RuleSetting, ...]

    @classmethod
    def nelson(cls) -> RuleConfig:
        """All eight rules with Nelson's parameters (the default)."""
        return cls(tuple(make_setting(rule_id) for rule_id in RULE_NAMES))

    @classmethod
    def western_electric(cls) -> RuleConfig:
        """Rules 1, 5, 6 and rule 2 with a run of 8 (api.md §X.3); others disabled."""
        return cls(
            tuple(
                make_setting(
                    rule_id,
                    enabled=rule_id in (1, 2, 5, 6),
                    parameters={"run_length": 8} if rule_id == 2 else None,
                )
                for rule_id in RULE_NAMES
            )
        )

    @classmethod
    def rule1_only(cls) -> RuleConfig:
        """The default for R, S and MR charts."""
        return cls(tuple(make_setting(rule_id, enabled=rule_id == 1) for rule_id in RULE_NAMES))

    @classmethod
    def preset(cls, name: str) -> RuleConfig:
        """``nelson`` or ``western_electric`` (api.md ``rule_preset``)."""
        presets = {"nelson": cls.nelson, "western_electric": cls.western_electric}
        if name not in presets:
            raise SPCError(f"unknown rule_preset {name!r}: use nelson or western_electric")
        return presets[name]()

    def setting(self, rule_id: int) -> RuleSetting:
        return self.settings[rule_id - 1]

    def updated(self, items: Iterable[Mapping[str, Any]]) -> RuleConfig:
        """Apply API-shaped items ``{rule_id, is_enabled?, severity?, parameters?}``; rules
        not listed keep their setting (the fix for gap G-17)."""
        settings = list(self.settings)
        for item in items:
            rule_id = item.get("rule_id")
            if rule_id not in RULE_NAMES:
                raise SPCError(f"rule_id must be in 1..8, got {rule_id!r}")
            current = settings[rule_id - 1]
            settings[rule_id - 1] = make_setting(
                rule_id,
                item.get("is_enabled", current.enabled),
                item.get("severity") or current.severity,
                item["parameters"] if item.get("parameters") is not None else current.parameters,
            )
        return replace(self, settings=tuple(settings))

    @classmethod
    def from_dict(cls, items: Iterable[Mapping[str, Any]]) -> RuleConfig:
        """Nelson defaults overridden by the given items (see :meth:`updated`)."""
        return cls.nelson().updated(items)

    def to_dict(self) -> list[dict[str, Any]]:
        return [
            {
                "rule_id": s.rule_id,
                "rule_name": s.name,
                "is_enabled": s.enabled,
                "severity": s.severity.value,
                "parameters": dict(s.parameters),
            }
            for s in self.settings
        ]

    @cached_property
    def enabled_rules(self) -> tuple[int, ...]:
        return tuple(s.rule_id for s in self.settings if s.enabled)

    @cached_property
    def window(self) -> int:
        """History an evaluator keeps: the longest pattern of any rule, enabled or not, so
        that enabling a rule later finds the points it needs."""
        return max(s.length for s in self.settings)


@dataclass(frozen=True, slots=True)
class Violation:
    """Rule ``rule_id`` fired at ``point``; the pattern spans ``first``..``last``.

    Points are positional indices or the ids the caller supplied. For rules 5/6 ``first``
    and ``last`` are the first and last qualifying points of the window (C7: ``last`` may
    precede ``point``); for the run rules they are the window's ends.
    """

    point: Any
    rule_id: int
    first: Any
    last: Any
    severity: Severity


class Flags(NamedTuple):
    """Boolean class arrays of a sequence of points (see the module docstring)."""

    above: np.ndarray
    below: np.ndarray
    hi2: np.ndarray
    lo2: np.ndarray
    hi1: np.ndarray
    lo1: np.ndarray
    beyond: np.ndarray

    def pack(self) -> np.ndarray:
        """One small int per point (bits ABOVE..BEYOND), the form kept in evaluator state."""
        codes = np.zeros(self.above.size, dtype=np.uint8)
        for bit, array in zip((ABOVE, BELOW, HI2, LO2, HI1, LO1, BEYOND), self, strict=True):
            codes |= array.astype(np.uint8) * np.uint8(bit)
        return codes

    @classmethod
    def unpack(cls, codes: np.ndarray) -> Flags:
        codes = np.asarray(codes, dtype=np.uint8)
        return cls(*((codes & bit) != 0 for bit in (ABOVE, BELOW, HI2, LO2, HI1, LO1, BEYOND)))


def _scalar_or_array(array: np.ndarray) -> np.ndarray | float:
    """A broadcast constant (stride 0, as Points.build makes for fixed limits) becomes a
    scalar, which halves the array passes of :func:`classify`; the arithmetic is identical."""
    if array.size and array.strides == (0,):
        return float(array[0])
    return array


def classify(points: Points) -> Flags:
    """Class of every point; the same float expressions as :func:`classify_one`."""
    x = points.value
    c, s = _scalar_or_array(points.center), _scalar_or_array(points.s)
    return Flags(
        above=x > c,
        below=x < c,
        hi2=x > c + 2.0 * s,
        lo2=x < c - 2.0 * s,
        hi1=x > c + s,
        lo1=x < c - s,
        beyond=(x > _scalar_or_array(points.ucl)) | (x < _scalar_or_array(points.lcl)),
    )


def classify_one(value: float, center: float, s: float, ucl: float, lcl: float) -> int:
    """Packed class of one point (scalar twin of :func:`classify`)."""
    return (
        (ABOVE if value > center else 0)
        | (BELOW if value < center else 0)
        | (HI2 if value > center + 2.0 * s else 0)
        | (LO2 if value < center - 2.0 * s else 0)
        | (HI1 if value > center + s else 0)
        | (LO1 if value < center - s else 0)
        | (BEYOND if value > ucl or value < lcl else 0)
    )


def zone_labels(points: Points) -> np.ndarray:
    """Zone label of every point (engine.md §6.2 names, §17 C1/C9 boundaries).

    Beyond is decided by the point's own limits; a point exactly on +kσ belongs to the
    zone inside the line; a point exactly on CL is labelled ``zone_c_upper`` (display only:
    for rule 2 it belongs to neither side).
    """
    x, c, s = points.value, points.center, points.s
    choices = [
        (x > points.ucl, "beyond_ucl"),
        (x < points.lcl, "beyond_lcl"),
        (x > c + 2.0 * s, "zone_a_upper"),
        (x > c + s, "zone_b_upper"),
        (x >= c, "zone_c_upper"),
        (x >= c - s, "zone_c_lower"),
        (x >= c - 2.0 * s, "zone_b_lower"),
    ]
    return np.select([cond for cond, _ in choices], [label for _, label in choices], "zone_a_lower")
