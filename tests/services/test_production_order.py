"""Production order: samples are judged in timestamp order (arrival breaks ties), whatever
order they arrive in. Checked against an independent computation: the vectorised batch
evaluator run on the plotted values sorted by timestamp in the test (CL 10, σ 1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openspc.extensions import db
from openspc.models import OutboxEvent, Violation
from openspc.services import evaluation
from openspc.services.ingest import SampleInput, submit_sample, submit_samples
from openspc.spc import Points, RuleConfig, evaluate_batch
from openspc.tasks import evaluation as tasks

T0 = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)


@pytest.fixture
def chart(factory):
    return factory.characteristic(ucl=13.0, lcl=7.0, center_line=10.0, sigma=1.0)


def stored(characteristic_id: int) -> set[tuple[int, int, int, int]]:
    return set(db.session.execute(
        sa.select(Violation.sample_id, Violation.rule_id, Violation.first_sample_id,
                  Violation.last_sample_id).where(Violation.char_id == characteristic_id)
    ).tuples())


def expected(samples: list[tuple[int, datetime, float]]) -> set[tuple[int, int, int, int]]:
    """The chart as drawn: (id, timestamp, value) sorted by timestamp, then arrival (id)."""
    ordered = sorted(samples, key=lambda s: (s[1], s[0]))
    points = Points.build([s[2] for s in ordered], 10.0, 1.0, 13.0, 7.0)
    hits = evaluate_batch(points, RuleConfig.nelson()).violations([s[0] for s in ordered])
    return {(h.point, h.rule_id, h.first, h.last) for h in hits}


def frames(kind: str) -> list[dict]:
    return [frame for batch in db.session.execute(sa.select(OutboxEvent.frame)).scalars()
            for frame in batch if frame["type"] == kind]


def test_a_late_point_completes_a_run_the_chart_shows(chart):
    """Eight points above the centre line, a gap, a ninth above that arrives last: rule 2
    (nine in a row on one side) fires on the point that ends the run on the chart, with
    the pattern spanning the nine consecutive points."""
    early = [submit_sample(SampleInput(chart.id, [10.5], timestamp=T0 + timedelta(minutes=i)))[0]
             for i in range(8)]
    later = submit_sample(SampleInput(chart.id, [9.5], timestamp=T0 + timedelta(minutes=20)))[0]
    assert stored(chart.id) == set()
    late = submit_sample(SampleInput(chart.id, [10.7], timestamp=T0 + timedelta(minutes=10)))[0]
    assert stored(chart.id) == {(late, 2, early[0], late)}
    assert later not in {sample for sample, *_ in stored(chart.id)}
    [violation] = frames("violation")
    assert violation["violation"]["sample_id"] == late


def test_a_violation_that_no_longer_holds_is_removed_and_announced(chart):
    """Nine in a row above the centre line, then a point below is back-dated into the run:
    the rule 2 hit no longer holds on the chart, so its row goes and a
    ``violation_cleared`` frame says so."""
    ids = [submit_sample(SampleInput(chart.id, [10.5], timestamp=T0 + timedelta(minutes=i)))[0]
           for i in range(9)]
    [(sample, rule, _, _)] = stored(chart.id)
    assert (sample, rule) == (ids[8], 2)
    breaker = submit_sample(
        SampleInput(chart.id, [9.0], timestamp=T0 + timedelta(minutes=4, seconds=30)))[0]
    assert stored(chart.id) == set()
    [cleared] = frames("violation_cleared")
    assert cleared["violation"]["sample_id"] == ids[8]
    assert cleared["violation"]["rule_id"] == 2
    samples = [(i, T0 + timedelta(minutes=n), 10.5) for n, i in enumerate(ids)]
    samples.append((breaker, T0 + timedelta(minutes=4, seconds=30), 9.0))
    assert expected(samples) == set()


def test_an_acknowledged_violation_that_still_holds_keeps_its_row(chart):
    ids = [submit_sample(SampleInput(chart.id, [14.0], timestamp=T0 + timedelta(minutes=i)))[0]
           for i in (0, 10)]
    first = db.session.execute(
        sa.select(Violation).where(Violation.sample_id == ids[0])).scalar_one()
    first.acknowledged = True
    db.session.commit()
    submit_sample(SampleInput(chart.id, [10.0], timestamp=T0 + timedelta(minutes=5)))
    kept = db.session.execute(
        sa.select(Violation).where(Violation.sample_id == ids[0])).scalar_one()
    assert (kept.id, kept.acknowledged) == (first.id, True)


def test_a_backfill_batch_is_judged_once_for_the_whole_batch(chart, monkeypatch):
    live = submit_samples([
        SampleInput(chart.id, [10.0], timestamp=T0 + timedelta(hours=2, minutes=i))
        for i in range(30)
    ])
    calls = []
    rejudge = evaluation._rejudge_from
    monkeypatch.setattr(evaluation, "_rejudge_from",
                        lambda *args: calls.append(args[2]) or rejudge(*args))
    rng = np.random.default_rng(3)
    values = [round(float(v), 3) for v in rng.normal(10.0, 1.0, 60)]
    times = [T0 + timedelta(minutes=2 * i) for i in range(60)]
    backfill = submit_samples([SampleInput(chart.id, [v], timestamp=t)
                               for v, t in zip(values, times, strict=True)])
    assert len(calls) == 1
    samples = [(i, T0 + timedelta(hours=2, minutes=n), 10.0) for n, i in enumerate(live)]
    samples += list(zip(backfill, times, values, strict=True))
    assert stored(chart.id) == expected(samples)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_arrival_order_gives_the_violations_of_the_chart_as_drawn(app, factory, data,
                                                                      monkeypatch):
    """Random values with shifts, timestamps with ties, any arrival order, delivered in
    chunks of any size, with evaluation deferred or not between chunks."""
    with app.app_context():
        chart = factory.characteristic(ucl=13.0, lcl=7.0, center_line=10.0, sigma=1.0)
        size = data.draw(st.integers(5, 40))
        values = data.draw(st.lists(st.sampled_from([8.0, 9.5, 10.5, 11.5, 12.5, 13.5, 6.0]),
                                    min_size=size, max_size=size))
        minutes = data.draw(st.lists(st.integers(0, size // 2), min_size=size, max_size=size))
        arrival = data.draw(st.permutations(range(size)))
        deferred = data.draw(st.booleans())
        if deferred:
            monkeypatch.setattr(tasks.evaluate_pending, "delay", lambda *_: None)
        samples: list[tuple[int, datetime, float]] = []
        position = 0
        while position < size:
            chunk = arrival[position:position + data.draw(st.integers(1, 8))]
            items = [SampleInput(chart.id, [values[i]],
                                 timestamp=T0 + timedelta(minutes=minutes[i])) for i in chunk]
            if len(items) == 1 and data.draw(st.booleans()):
                ids = [submit_sample(items[0])[0]]
            else:
                ids = submit_samples(items)
            samples += [(sample_id, T0 + timedelta(minutes=minutes[i]), values[i])
                        for sample_id, i in zip(ids, chunk, strict=True)]
            if deferred and data.draw(st.booleans()):
                evaluation.evaluate_pending(chart.id)
            position += len(chunk)
        evaluation.evaluate_pending(chart.id)
        monkeypatch.undo()
        assert stored(chart.id) == expected(samples)
        assert {(h.point, h.rule_id, h.first, h.last)
                for h in evaluation.replay(chart.id)} == expected(samples)
