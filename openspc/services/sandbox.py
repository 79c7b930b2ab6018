"""The sandbox's seed data (ops.md §9): wipe the plant data and build a realistic factory
through the product's own services, so that what a visitor sees was ingested, judged and
stored exactly as production data would be.

Each script is a layout (plants > site > area > line > characteristics) whose characteristics
each have a chart type, a process (nominal, sigma), a number of samples spread over the last
``days`` and the special causes injected into an otherwise normal process: a shift, a trend,
a mixture and so on, each chosen to trip one Nelson rule. A characteristic's first
``BASELINE`` subgroups are a clean baseline; its limits are then calculated from them by the
limit service, and everything after is judged against those limits by the evaluator, which
finds the violations. Annotations mark every injected cause, as an engineer would.

Users and their API keys are kept (the caller stays signed in); every plant, node,
characteristic, sample, violation and annotation is deleted. The caller becomes admin of
each seeded plant, and one demo user per role is created (password :data:`DEMO_PASSWORD`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa
import structlog

from openspc.errors import BadRequest
from openspc.extensions import db
from openspc.models import User
from openspc.models.tenancy import ROLE_LEVELS
from openspc.models.types import utcnow
from openspc.services import annotations, characteristics, hierarchy, limits, plants, users
from openspc.services.ingest import SampleInput, submit_samples

log = structlog.get_logger(__name__)

DEMO_PASSWORD = "sandbox-demo"
BASELINE = 30
"""Clean subgroups at the start of every characteristic, from which its limits come."""
CHUNK = 1000
"""Samples per ingest call: one transaction and one evaluation each."""
KEPT_TABLES = {"user", "api_key", "refresh_token", "maintenance_lease"}

# Special causes in units of the plotted statistic's sigma, each made to trip one rule.
PATTERNS: dict[str, tuple[str, list[float]]] = {
    "beyond": ("Rule 1: a point beyond 3 sigma (gauge knocked)", [3.8]),
    "shift": ("Rule 2: nine on one side (new material lot)", [1.2] * 11),
    "trend": ("Rule 3: six in a row rising (tool wear)", [-1.2 + 0.45 * k for k in range(8)]),
    "sawtooth": ("Rule 4: fourteen alternating (two fixtures used in turn)",
                 [1.1 * (-1) ** k for k in range(16)]),
    "zone_a": ("Rule 5: two of three beyond 2 sigma (loose clamp)", [2.5, 0.3, 2.6]),
    "zone_b": ("Rule 6: four of five beyond 1 sigma (temperature drift)",
               [1.5, 1.7, 0.4, 1.6, 1.5]),
    "hugging": ("Rule 7: fifteen within 1 sigma (data smoothed at entry)",
                [0.25 * (-1) ** k * (1 + k % 3) / 3 for k in range(17)]),
    "mixture": ("Rule 8: eight beyond 1 sigma on both sides (two suppliers mixed)",
                [1.7 * (-1) ** k for k in range(10)]),
}
ALL_RULES = tuple(PATTERNS)


@dataclass(frozen=True)
class CharacteristicPlan:
    name: str
    chart_type: str
    samples: int
    patterns: Sequence[str] = ()
    subgroup_size: int = 1
    nominal: float = 10.0
    sigma: float = 0.1
    unit_size: int = 100
    """Attribute charts: items inspected per sample (p, np) or units per sample (u)."""
    batches: bool = False
    """Label samples with production lots (``batch_number``) and operators."""


@dataclass(frozen=True)
class LinePlan:
    area: str
    line: str
    characteristics: Sequence[CharacteristicPlan]


@dataclass(frozen=True)
class PlantPlan:
    name: str
    code: str
    lines: Sequence[LinePlan]


@dataclass(frozen=True)
class SeedScript:
    key: str
    name: str
    description: str
    plants: Sequence[PlantPlan]
    days: int = 120

    @property
    def estimated_samples(self) -> int:
        return sum(c.samples for p in self.plants for line in p.lines
                   for c in line.characteristics)


def _variables(prefix: str, samples: int, patterns: Sequence[str] = ALL_RULES[:4],
               batches: bool = False) -> list[CharacteristicPlan]:
    """A line's usual variables charts: a diameter (X-bar R), a fill weight (X-bar S), a
    torque (I-MR) and a temperature (I-MR)."""
    return [
        CharacteristicPlan(f"{prefix} Bore Diameter", "xbar_r", samples, patterns,
                           subgroup_size=5, nominal=25.0, sigma=0.012, batches=batches),
        CharacteristicPlan(f"{prefix} Fill Weight", "xbar_s", samples, patterns[::-1],
                           subgroup_size=12, nominal=500.0, sigma=1.8, batches=batches),
        CharacteristicPlan(f"{prefix} Torque", "i_mr", samples, patterns[1:],
                           nominal=12.5, sigma=0.35, batches=batches),
        CharacteristicPlan(f"{prefix} Temperature", "i_mr", samples, patterns[:2],
                           nominal=72.0, sigma=0.8, batches=batches),
    ]


def _attributes(prefix: str, samples: int, patterns: Sequence[str]) -> list[CharacteristicPlan]:
    """Inspection results: share defective (p), defectives per lot (np), defects per panel
    (c) and defects per unit (u)."""
    return [
        CharacteristicPlan(f"{prefix} Defective Share", "p", samples, patterns,
                           nominal=0.04, unit_size=200),
        CharacteristicPlan(f"{prefix} Defectives per Lot", "np", samples, patterns[::-1],
                           nominal=0.05, unit_size=100),
        CharacteristicPlan(f"{prefix} Surface Defects", "c", samples, patterns, nominal=6.0),
        CharacteristicPlan(f"{prefix} Defects per Unit", "u", samples, patterns[1:],
                           nominal=0.08, unit_size=80),
    ]


def _pharma_site(name: str, code: str, seed_patterns: Sequence[str]) -> PlantPlan:
    per_char = 1030
    return PlantPlan(name, code, [
        LinePlan("Granulation", "Granulator 1", [
            CharacteristicPlan("Moisture Content", "i_mr", per_char, seed_patterns,
                               nominal=2.5, sigma=0.15),
            CharacteristicPlan("Granule Size D50", "xbar_r", per_char, seed_patterns[::-1],
                               subgroup_size=4, nominal=180.0, sigma=6.0),
        ]),
        LinePlan("Compression", "Tablet Press 1", [
            CharacteristicPlan("Tablet Weight", "xbar_s", per_char, seed_patterns,
                               subgroup_size=15, nominal=250.0, sigma=2.5, batches=True),
            CharacteristicPlan("Tablet Hardness", "xbar_r", per_char, seed_patterns[1:],
                               subgroup_size=5, nominal=85.0, sigma=3.0, batches=True),
            CharacteristicPlan("Tablet Thickness", "xbar_r", per_char, seed_patterns[2:],
                               subgroup_size=5, nominal=4.2, sigma=0.03, batches=True),
            CharacteristicPlan("Friability", "i_mr", per_char, seed_patterns[:3],
                               nominal=0.35, sigma=0.04),
        ]),
        LinePlan("Coating", "Coater 1", [
            CharacteristicPlan("Coating Weight Gain", "i_mr", per_char, seed_patterns,
                               nominal=3.0, sigma=0.12),
            CharacteristicPlan("Coating Defects", "c", per_char, seed_patterns[:4], nominal=4.0),
        ]),
        LinePlan("Packaging", "Blister Line 1", [
            CharacteristicPlan("Seal Temperature", "i_mr", per_char, seed_patterns[::-1],
                               nominal=160.0, sigma=1.5),
            CharacteristicPlan("Blister Leak Rate", "p", per_char, seed_patterns[:3],
                               nominal=0.01, unit_size=500),
            CharacteristicPlan("Missing Tablets per Lot", "np", per_char, seed_patterns[1:4],
                               nominal=0.02, unit_size=250),
            CharacteristicPlan("Print Defects per Carton", "u", per_char, seed_patterns[2:],
                               nominal=0.05, unit_size=120),
        ]),
    ])


SCRIPTS: dict[str, SeedScript] = {s.key: s for s in (
    SeedScript(
        "pharma", "Pharmaceutical Manufacturing",
        "Three tablet sites (granulation, compression, coating, packaging), 36 characteristics "
        "of every chart type, four months of production with lots, shifts and drifts",
        [_pharma_site("Pharma Boston", "PH-BOS", ALL_RULES),
         _pharma_site("Pharma Dublin", "PH-DUB", ALL_RULES[::-1]),
         _pharma_site("Pharma Singapore", "PH-SGP", ALL_RULES[2:] + ALL_RULES[:2])],
    ),
    SeedScript(
        "nelson_test", "Nelson Rules Test",
        "One I-MR chart per Nelson rule, each with its pattern injected three times",
        [PlantPlan("Nelson Test Plant", "NELSON", [LinePlan("Quality Lab", "Rule Bench", [
            CharacteristicPlan(f"Rule {n} {key.replace('_', ' ').title()}", "i_mr", 150,
                               [key] * 3, nominal=50.0, sigma=1.0)
            for n, key in enumerate(ALL_RULES, start=1)
        ])])],
        days=30,
    ),
    SeedScript(
        "chart_showcase", "Chart Type Showcase",
        "One characteristic of each chart type (X-bar R, X-bar S, I-MR, p, np, c, u)",
        [PlantPlan("Showcase Plant", "SHOWCASE", [LinePlan("Demo Area", "Demo Line", [
            *_variables("Showcase", 52, ("beyond", "shift"))[:3],
            *_attributes("Showcase", 52, ("beyond", "shift")),
        ])])],
        days=14,
    ),
    SeedScript(
        "discrete", "Discrete Inspection",
        "Attribute charts (p, np, c, u) of two final-inspection lines",
        [PlantPlan("Inspection Plant", "INSPECT", [
            LinePlan("Final Inspection", "Line A", _attributes("Line A", 500, ALL_RULES[:4])),
            LinePlan("Final Inspection", "Line B", _attributes("Line B", 500, ALL_RULES[4:])),
        ])],
    ),
    SeedScript(
        "continuous", "Continuous Machining",
        "Variables charts (X-bar R, X-bar S, I-MR) of two CNC lines",
        [PlantPlan("Machining Plant", "MACHINING", [
            LinePlan("Machining", "CNC Line 1", _variables("CNC1", 950, ALL_RULES[:4])),
            LinePlan("Machining", "CNC Line 2", _variables("CNC2", 950, ALL_RULES[4:])),
        ])],
    ),
    SeedScript(
        "batch", "Batch Production",
        "Six characteristics of a batch process, samples labelled with lots and operators",
        [PlantPlan("Batch Plant", "BATCH", [
            LinePlan("Mixing", "Reactor 1", _variables("R1", 950, ALL_RULES[:3],
                                                       batches=True)[:3]),
            LinePlan("Mixing", "Reactor 2", _variables("R2", 950, ALL_RULES[3:6],
                                                       batches=True)[:3]),
        ])],
    ),
)}


@dataclass
class SeedLog:
    lines: list[str] = field(default_factory=list)

    def __call__(self, message: str) -> None:
        self.lines.append(message)
        log.info("sandbox_seed", message=message)

    def tail(self, limit: int = 4000) -> str:
        return "\n".join(self.lines)[-limit:]


def describe_scripts() -> list[dict[str, Any]]:
    return [{"key": s.key, "name": s.name, "description": s.description,
             "estimated_samples": s.estimated_samples} for s in SCRIPTS.values()]


def reset_and_seed(caller: User, key: str) -> str:
    """Wipe the plant data and seed ``key``; returns the end of the seed's log."""
    script = SCRIPTS.get(key)
    if script is None:
        raise BadRequest(f"Unknown script '{key}'. Available: {list(SCRIPTS)}")
    out = SeedLog()
    started = utcnow()
    _wipe(out)
    demo = _demo_users(out)
    rng = np.random.default_rng(sum(map(ord, key)))
    for plan in script.plants:
        _seed_plant(caller, demo, plan, script.days, rng, out)
    elapsed = (utcnow() - started).total_seconds()
    out(f"Seeded '{key}' in {elapsed:.1f} s. Demo users: "
        f"{', '.join(u.username for u in demo.values())} (password '{DEMO_PASSWORD}')")
    return out.tail()


def _wipe(out: SeedLog) -> None:
    """Delete every row but the users' (child tables first)."""
    for table in reversed(db.metadata.sorted_tables):
        if table.name not in KEPT_TABLES:
            db.session.execute(table.delete())
    db.session.commit()
    db.session.expire_all()
    out("Deleted all plants, hierarchies, characteristics, samples, violations and roles")


def _demo_users(out: SeedLog) -> dict[str, User]:
    demo = {}
    for role in ROLE_LEVELS:
        username = f"demo.{role}"
        user = db.session.execute(sa.select(User).filter_by(username=username)).scalar_one_or_none()
        demo[role] = user or users.create_user(username, DEMO_PASSWORD)
    out(f"Demo users ready: {', '.join(demo)}")
    return demo


def _seed_plant(caller: User, demo: dict[str, User], plan: PlantPlan, days: int,
                rng: np.random.Generator, out: SeedLog) -> None:
    plant = plants.create_plant(plan.name, plan.code, settings={"sandbox": True})
    users.assign_role(caller.id, plant.id, "admin")
    for role, user in demo.items():
        users.assign_role(user.id, plant.id, role)
    db.session.refresh(caller)
    site = hierarchy.create_node(caller, {"name": plan.name.split()[-1] + " Site",
                                          "type": "Site"}, plant.id)
    areas: dict[str, int] = {}
    for line_plan in plan.lines:
        if line_plan.area not in areas:
            areas[line_plan.area] = hierarchy.create_node(
                caller, {"name": line_plan.area, "type": "Area", "parent_id": site.id}).id
        line = hierarchy.create_node(
            caller, {"name": line_plan.line, "type": "Line", "parent_id": areas[line_plan.area]})
        for char_plan in line_plan.characteristics:
            _seed_characteristic(caller, line.id, char_plan, days, rng, out)
    out(f"Plant {plan.code}: {sum(len(line.characteristics) for line in plan.lines)} "
        "characteristics")


def _seed_characteristic(caller: User, node_id: int, plan: CharacteristicPlan, days: int,
                         rng: np.random.Generator, out: SeedLog) -> None:
    attribute = characteristics.is_attribute(plan.chart_type)
    fields: dict[str, Any] = {
        "hierarchy_id": node_id, "name": plan.name, "chart_type": plan.chart_type,
        "subgroup_size": plan.subgroup_size, "description": f"Sandbox: {plan.chart_type} chart",
    }
    if not attribute:
        fields.update(target_value=plan.nominal, usl=plan.nominal + 4.5 * plan.sigma,
                      lsl=plan.nominal - 4.5 * plan.sigma,
                      decimal_precision=max(0, 3 - int(np.floor(np.log10(plan.sigma)))))
    characteristic = characteristics.create_characteristic(fields)
    z, causes = _deviations(plan, rng)
    step = timedelta(days=days) / plan.samples
    start = utcnow() - timedelta(days=days)
    make = _attribute_item if attribute else _variables_item
    items = [make(characteristic.id, plan, float(z[i]), rng, start + step * i, i)
             for i in range(plan.samples)]
    _submit(items[:BASELINE])
    limits.recalculate_limits(caller, characteristic.id, min_samples=BASELINE)
    ids = [*_submit(items[BASELINE:])]
    for first, last, text in causes:
        annotations.create_annotation(characteristic, {
            "annotation_type": "period", "text": text, "color": "#f59e0b",
            "start_time": items[first].timestamp, "end_time": items[last].timestamp,
        }, caller.username)
    out(f"  {plan.name} ({plan.chart_type}): {plan.samples} samples, "
        f"{len(causes)} special causes, last id {ids[-1] if ids else '-'}")


def _submit(items: list[SampleInput]) -> list[int]:
    stored: list[int] = []
    for begin in range(0, len(items), CHUNK):
        outcomes = submit_samples(items[begin:begin + CHUNK])
        failed = [o for o in outcomes if not isinstance(o, int)]
        if failed:
            raise RuntimeError(f"seed sample refused: {failed[0].detail}")
        stored += outcomes
    return stored


def _deviations(plan: CharacteristicPlan,
                rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[int, int, str]]]:
    """The process in sigma units: normal noise with each pattern written over it, spread
    evenly after the baseline; and (first, last, description) of each cause."""
    z = rng.standard_normal(plan.samples)
    z[:BASELINE] = np.clip(z[:BASELINE], -2.0, 2.0)
    causes = []
    slots = len(plan.patterns)
    for index, key in enumerate(plan.patterns):
        text, values = PATTERNS[key]
        first = BASELINE + (plan.samples - BASELINE) * (index + 1) // (slots + 1)
        last = min(first + len(values), plan.samples) - 1
        z[first:last + 1] = values[:last - first + 1]
        causes.append((first, last, text))
    return z, causes


def _variables_item(char_id: int, plan: CharacteristicPlan, z: float, rng: np.random.Generator,
                    timestamp: datetime, index: int) -> SampleInput:
    """A subgroup whose mean lies ``z`` standard errors from nominal."""
    n = plan.subgroup_size
    spread = np.zeros(1)
    if n > 1:  # the spread within, centred: (n-1)/n of its variance is left, so scale it up
        spread = rng.normal(0.0, plan.sigma, n)
        spread = (spread - spread.mean()) * np.sqrt(n / (n - 1))
    values = spread + plan.nominal + z * plan.sigma / np.sqrt(n)
    return SampleInput(char_id, measurements=[round(float(v), 6) for v in values],
                       timestamp=timestamp, **_lot(plan, index))


def _attribute_item(char_id: int, plan: CharacteristicPlan, z: float, rng: np.random.Generator,
                    timestamp: datetime, index: int) -> SampleInput:
    """A count ``z`` standard errors from the expected one (binomial or Poisson sigma)."""
    if plan.chart_type == "c":
        count = plan.nominal + z * np.sqrt(plan.nominal)
        return SampleInput(char_id, count=max(0, round(count)), timestamp=timestamp)
    size = plan.unit_size
    if plan.chart_type == "u":
        size = int(rng.integers(int(plan.unit_size * 0.7), int(plan.unit_size * 1.3)))
        expected = plan.nominal * size
        count = expected + z * np.sqrt(expected)
    else:
        if plan.chart_type == "p" and index % 7 == 3:
            size -= 20  # a short lot: the p chart's limits vary with n
        count = size * plan.nominal + z * np.sqrt(size * plan.nominal * (1 - plan.nominal))
    return SampleInput(char_id, count=int(min(size, max(0, round(count)))), sample_size=size,
                       timestamp=timestamp)


def _lot(plan: CharacteristicPlan, index: int) -> dict[str, str]:
    if not plan.batches:
        return {}
    return {"batch_number": f"LOT-{index // 10 + 1:05d}",
            "operator_id": ("A. Rossi", "B. Chen", "C. Okafor")[(index // 8) % 3]}

