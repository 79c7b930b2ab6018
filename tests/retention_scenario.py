"""A plant with policies at every level and samples whose fate is worked out by hand.

Tree of plant A: Site > Line > {c1, c2, c3}; Site > Line2 > c4. Plant B: one characteristic,
no policy (kept forever).

Policies: plant A default ``time_delta 30 days``; node Line ``sample_count 5``; c2 its own
``forever``; c3 its own ``time_delta 2 weeks``. So c1 follows Line, c4 the plant default.

Every characteristic gets ten evaluated samples taken 1, 3, 5, 10, 15, 20, 25, 35, 40 and 60
days ago, two measurements each, violations on the 60-day (rule 1), 40-day (rules 1, 2) and
3-day (rule 1) samples. c3 also has a sample 100 days old still pending evaluation.

By hand:
- c1 (5 newest kept): 60, 40, 35, 25, 20 go: 5 samples, 3 violations.
- c2 (forever): nothing.
- c3 (older than 14 days): 60, 40, 35, 25, 20, 15 go, the pending one stays: 6 samples, 3
  violations.
- c4 (older than 30 days): 60, 40, 35 go: 3 samples, 3 violations.
- Plant A: 14 samples, 28 measurements, 9 violations, 3 characteristics processed (c2's
  forever is not counted). Plant B: nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from openspc.extensions import db
from openspc.models import (
    Annotation,
    Characteristic,
    Hierarchy,
    Measurement,
    Plant,
    RetentionPolicy,
    Sample,
    SampleEditHistory,
    Violation,
)
from openspc.models.types import utcnow

DAYS_AGO = [1, 3, 5, 10, 15, 20, 25, 35, 40, 60]
VIOLATION_RULES = {60: [1], 40: [1, 2], 3: [1]}

EXPECTED_GONE = {
    "c1": [60, 40, 35, 25, 20],
    "c2": [],
    "c3": [60, 40, 35, 25, 20, 15],
    "c4": [60, 40, 35],
}
EXPECTED_RUN = {"samples_deleted": 14, "violations_deleted": 9, "characteristics_processed": 3}


@dataclass
class Scenario:
    plant_a: int
    plant_b: int
    characteristics: dict[str, int]
    samples: dict[str, dict[int, int]]
    """name -> days ago -> sample id"""
    pending_id: int
    annotation_id: int
    plant_b_characteristic: int


def _node(plant_id: int, name: str, parent: int | None = None) -> int:
    node = Hierarchy(plant_id=plant_id, name=name, type="Area", parent_id=parent)
    db.session.add(node)
    db.session.flush()
    return node.id


def _characteristic(node_id: int, name: str) -> int:
    char = Characteristic(hierarchy_id=node_id, name=name, subgroup_size=2, chart_type="xbar_r")
    db.session.add(char)
    db.session.flush()
    return char.id


def _samples(char_id: int) -> dict[int, int]:
    now = utcnow()
    ids: dict[int, int] = {}
    for days in DAYS_AGO:
        sample = Sample(char_id=char_id, timestamp=now - timedelta(days=days), actual_n=2,
                        mean=10.0, status="evaluated", received_at=now)
        db.session.add(sample)
        db.session.flush()
        ids[days] = sample.id
        db.session.add_all([Measurement(sample_id=sample.id, value=v) for v in (9.5, 10.5)])
        for rule in VIOLATION_RULES.get(days, []):
            db.session.add(Violation(sample_id=sample.id, char_id=char_id, rule_id=rule,
                                     severity="CRITICAL"))
    db.session.flush()
    return ids


def _policy(plant_id: int, scope: str, kind: str, value: int | None = None,
            unit: str | None = None, **target: int) -> None:
    db.session.add(RetentionPolicy(plant_id=plant_id, scope=scope, retention_type=kind,
                                   retention_value=value, retention_unit=unit, **target))


def build() -> Scenario:
    plant_a = Plant(name="Retention A", code="RETA", settings={})
    plant_b = Plant(name="Retention B", code="RETB", settings={})
    db.session.add_all([plant_a, plant_b])
    db.session.flush()
    site = _node(plant_a.id, "Site")
    line = _node(plant_a.id, "Line", site)
    line2 = _node(plant_a.id, "Line2", site)
    chars = {name: _characteristic(line, name) for name in ("c1", "c2", "c3")}
    chars["c4"] = _characteristic(line2, "c4")
    other = _characteristic(_node(plant_b.id, "Elsewhere"), "b1")
    samples = {name: _samples(char_id) for name, char_id in chars.items()}
    _samples(other)
    pending = Sample(char_id=chars["c3"], timestamp=utcnow() - timedelta(days=100), actual_n=2,
                     mean=10.0, status="pending")
    db.session.add(pending)
    db.session.flush()
    db.session.add(Measurement(sample_id=pending.id, value=1.0))
    db.session.add(Measurement(sample_id=pending.id, value=2.0))
    # A violation on a kept sample whose pattern began on a sample that goes, an edit history
    # and an annotation on samples that go: the first and the annotation survive (SET NULL).
    c1 = samples["c1"]
    db.session.add(Violation(sample_id=c1[10], char_id=chars["c1"], rule_id=3,
                             severity="WARNING", first_sample_id=c1[60]))
    db.session.add(SampleEditHistory(sample_id=c1[60], reason="typo", previous_values=[1.0],
                                     new_values=[2.0], previous_mean=1.0, new_mean=2.0))
    annotation = Annotation(characteristic_id=chars["c1"], annotation_type="point",
                            text="tool change", sample_id=c1[40])
    db.session.add(annotation)
    _policy(plant_a.id, "global", "time_delta", 30, "days")
    _policy(plant_a.id, "hierarchy", "sample_count", 5, hierarchy_id=line)
    _policy(plant_a.id, "characteristic", "forever", characteristic_id=chars["c2"])
    _policy(plant_a.id, "characteristic", "time_delta", 2, "weeks", characteristic_id=chars["c3"])
    db.session.commit()
    return Scenario(plant_a.id, plant_b.id, chars, samples, pending.id, annotation.id, other)


def count(table: str, where: str = "", **params: object) -> int:
    """A plain SQL count, independent of the code under test."""
    sql = f"SELECT COUNT(*) FROM {table}" + (f" WHERE {where}" if where else "")
    return db.session.execute(sa.text(sql), params).scalar_one()


def surviving_days(scenario: Scenario, name: str) -> list[int]:
    """Which of the characteristic's evaluated samples (days ago) are still stored."""
    ids = scenario.samples[name]
    kept = set(db.session.execute(
        sa.text("SELECT id FROM sample WHERE char_id = :c"), {"c": scenario.characteristics[name]}
    ).scalars())
    return sorted(days for days, sample_id in ids.items() if sample_id in kept)


def assert_purged_as_computed(scenario: Scenario) -> None:
    """Every characteristic lost exactly the samples worked out above, with their
    measurements, violations and edit history; nothing else went."""
    db.session.rollback()  # a fresh snapshot (MariaDB's REPEATABLE READ keeps the old one)
    for name, gone in EXPECTED_GONE.items():
        assert surviving_days(scenario, name) == sorted(set(DAYS_AGO) - set(gone)), name
    total_samples = 5 * 10 + 1  # four characteristics of plant A, plant B's one, the pending
    assert count("sample") == total_samples - 14
    assert count("measurement") == 2 * (total_samples - 14)
    assert count("measurement", "sample_id NOT IN (SELECT id FROM sample)") == 0
    # 5 characteristics x 4 violations + the pattern one, less 9.
    assert count("violation") == 5 * 4 + 1 - 9
    assert count("sample_edit_history") == 0
    assert count("sample", "id = :p", p=scenario.pending_id) == 1
    assert count("violation", "first_sample_id IS NULL AND rule_id = 3") == 1
    assert count("annotation", "id = :a AND sample_id IS NULL", a=scenario.annotation_id) == 1
    assert count("sample", "char_id = :b", b=scenario.plant_b_characteristic) == 10
