"""Samples written straight through the models, with their cached statistics computed here
(independently of the service code under test)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from openspc.extensions import db
from openspc.models import Characteristic, Measurement, Sample, Violation

START = datetime(2024, 3, 5, 8, 0, tzinfo=UTC)


def add_samples(
    characteristic: Characteristic,
    subgroups: Sequence[Sequence[float] | float],
    *,
    status: str = "evaluated",
    start: datetime = START,
    step: timedelta = timedelta(minutes=1),
    excluded: Sequence[int] = (),
) -> list[Sample]:
    """One sample per subgroup (a bare number is a subgroup of one), ``step`` apart;
    ``excluded`` lists the positions to mark excluded."""
    samples = []
    first = _next_sequence(characteristic)
    for i, group in enumerate(subgroups):
        values = [float(v) for v in (group if isinstance(group, Sequence) else [group])]
        sample = Sample(
            char_id=characteristic.id,
            timestamp=start + i * step,
            mean=sum(values) / len(values),
            range_value=max(values) - min(values) if len(values) > 1 else None,
            std_dev=statistics.stdev(values) if len(values) > 1 else None,
            actual_n=len(values),
            is_undersized=len(values) < characteristic.subgroup_size,
            is_excluded=i in excluded,
            status=status,
            sequence=first + i if status == "evaluated" else None,
            measurements=[Measurement(value=v) for v in values],
        )
        db.session.add(sample)
        samples.append(sample)
    db.session.commit()
    return samples


def add_attribute_samples(
    characteristic: Characteristic,
    counts: Sequence[int],
    sizes: Sequence[int],
    *,
    start: datetime = START,
    status: str = "evaluated",
) -> list[Sample]:
    samples = []
    first = _next_sequence(characteristic)
    for i, (count, size) in enumerate(zip(counts, sizes, strict=True)):
        sample = Sample(
            char_id=characteristic.id,
            timestamp=start + timedelta(minutes=i),
            mean=count / size if characteristic.chart_type in ("p", "u") else float(count),
            defect_count=count,
            sample_size=size,
            actual_n=1,
            status=status,
            sequence=first + i if status == "evaluated" else None,
        )
        db.session.add(sample)
        samples.append(sample)
    db.session.commit()
    return samples


def _next_sequence(characteristic: Characteristic) -> int:
    last = db.session.scalar(
        sa.select(sa.func.max(Sample.sequence)).where(Sample.char_id == characteristic.id)
    )
    return (last or 0) + 1


def add_violation(sample: Sample, rule_id: int = 1, *, acknowledged: bool = False,
                  requires_acknowledgement: bool = True) -> Violation:
    violation = Violation(
        sample_id=sample.id, char_id=sample.char_id, rule_id=rule_id, rule_name="Outlier",
        severity="CRITICAL", acknowledged=acknowledged,
        requires_acknowledgement=requires_acknowledgement,
    )
    db.session.add(violation)
    db.session.commit()
    return violation
