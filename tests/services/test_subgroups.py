"""Listener values into subgroups: complete ones become samples, partial ones wait in the
database, stale partial ones are emitted as they are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from openspc.extensions import db
from openspc.models import Sample, SubgroupBuffer
from openspc.services.subgroups import Target, Value, assemble, flush_partial

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def values(*numbers: float, start: int = 0) -> list[Value]:
    return [Value(v, T0 + timedelta(seconds=start + i)) for i, v in enumerate(numbers)]


def stored(char_id: int) -> list[tuple[list[float], datetime]]:
    db.session.expire_all()
    rows = db.session.execute(
        sa.select(Sample).where(Sample.char_id == char_id).order_by(Sample.id)).scalars()
    return [([m.value for m in sorted(s.measurements, key=lambda m: m.id)], s.timestamp)
            for s in rows]


def test_on_change_emits_each_full_subgroup_at_its_last_value_time(factory):
    char = factory.characteristic(subgroup_size=3)
    target = Target(char.id, 3)
    outcome = assemble("opcua", [(target, v) for v in values(1, 2, 3, 4, 5, 6, 7)])
    assert (outcome.samples, outcome.buffered) == (2, 1)
    assert stored(char.id) == [([1, 2, 3], T0 + timedelta(seconds=2)),
                               ([4, 5, 6], T0 + timedelta(seconds=5))]
    assemble("opcua", [(target, v) for v in values(8, 9, start=7)])
    assert stored(char.id)[-1] == ([7, 8, 9], T0 + timedelta(seconds=8))
    assert db.session.get(SubgroupBuffer, char.id) is None


def test_size_one_needs_no_buffer(factory):
    char = factory.characteristic()
    assemble("opcua", [(Target(char.id, 1), v) for v in values(1.5, 2.5)])
    assert [m for m, _ in stored(char.id)] == [[1.5], [2.5]]
    assert db.session.execute(sa.select(SubgroupBuffer)).first() is None


def test_on_timer_waits_for_the_timeout_then_emits_in_subgroup_sized_chunks(factory):
    char = factory.characteristic(subgroup_size=2)
    target = Target(char.id, 2, "on_timer")
    assemble("opcua", [(target, v) for v in values(1, 2, 3)])
    assert stored(char.id) == []
    assert flush_partial("opcua", [target]).samples == 0
    outcome = flush_partial("opcua", [target], timeout=timedelta(0))
    assert outcome.samples == 2
    assert [m for m, _ in stored(char.id)] == [[1, 2], [3]]
    assert db.session.get(SubgroupBuffer, char.id) is None


def test_a_refused_subgroup_is_counted_and_nothing_of_it_is_stored(factory):
    char = factory.characteristic(subgroup_size=3, min_measurements=3)
    target = Target(char.id, 3)
    assemble("opcua", [(target, v) for v in values(1)])
    outcome = flush_partial("opcua", [target], timeout=timedelta(0))
    assert (outcome.samples, outcome.refused) == (0, 1)
    assert stored(char.id) == []
