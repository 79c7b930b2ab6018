"""The evaluation service: arrival order, exactly once, persisted incremental state, chunks,
failed enqueues and the sweeper, outbox frames. Checked against an independent computation:
the vectorised batch evaluator run on the plotted values directly (CL 10, σ 1, UCL 13, LCL 7).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from kombu.exceptions import OperationalError
from sqlalchemy.exc import IntegrityError

from openspc.extensions import db
from openspc.models import Characteristic, OutboxEvent, Sample, Violation
from openspc.services import evaluation, outbox
from openspc.services.ingest import SampleInput, submit_samples
from openspc.spc import Points, RuleConfig, evaluate_batch
from openspc.tasks import evaluation as tasks


@pytest.fixture
def chart(factory):
    return factory.characteristic(ucl=13.0, lcl=7.0, center_line=10.0, sigma=1.0)


@pytest.fixture
def no_enqueue(monkeypatch):
    """Samples stay pending: the evaluation task is never started by ingest."""
    monkeypatch.setattr(tasks.evaluate_pending, "delay", lambda *_: None)


def submit(chart, values) -> list[int]:
    return submit_samples([SampleInput(chart.id, [float(v)]) for v in values])


def stored_violations(characteristic_id: int) -> set[tuple[int, int, int, int]]:
    return set(db.session.execute(
        sa.select(Violation.sample_id, Violation.rule_id, Violation.first_sample_id,
                  Violation.last_sample_id).where(Violation.char_id == characteristic_id)
    ).tuples())


def expected_violations(values: list[float], ids: list[int]) -> set[tuple[int, int, int, int]]:
    points = Points.build(values, 10.0, 1.0, 13.0, 7.0)
    hits = evaluate_batch(points, RuleConfig.nelson()).violations(ids)
    return {(h.point, h.rule_id, h.first, h.last) for h in hits}


def series(seed: int, size: int) -> list[float]:
    """Normal noise with a shift and a trend, so that every kind of rule gets a chance."""
    rng = np.random.default_rng(seed)
    values = rng.normal(10.0, 1.0, size)
    values[size // 3: size // 3 + 12] += 1.5
    values[size // 2: size // 2 + 7] = np.linspace(9.0, 12.0, 7)
    return [round(float(v), 3) for v in values]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_evaluation_in_uneven_batches_equals_the_batch_evaluator(chart, seed):
    values = series(seed, 300)
    ids: list[int] = []
    rng = np.random.default_rng(seed)
    position = 0
    while position < len(values):
        size = int(rng.integers(1, 40))
        ids += submit(chart, values[position:position + size])
        position += size
    expected = expected_violations(values, ids)
    assert len(expected) > 5
    assert stored_violations(chart.id) == expected
    assert {(h.point, h.rule_id, h.first, h.last) for h in evaluation.replay(chart.id)} == expected
    sequences = db.session.execute(
        sa.select(Sample.sequence).order_by(Sample.id)).scalars().all()
    assert sequences == list(range(1, len(values) + 1))


def test_a_second_evaluation_finds_nothing_and_writes_nothing(chart):
    submit(chart, [13.5, 10.0])
    frames = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEvent))
    assert evaluation.evaluate_pending(chart.id) == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEvent)) == frames
    assert db.session.get(Characteristic, chart.id).eval_sequence == 2


def test_lost_state_is_rebuilt_from_the_stored_window(chart):
    values = [10.5] * 5
    ids = submit(chart, values)
    db.session.get(Characteristic, chart.id).eval_state = None
    db.session.commit()
    ids += submit(chart, [10.5] * 5)
    assert stored_violations(chart.id) == expected_violations([10.5] * 10, ids)
    assert {rule for _, rule, _, _ in stored_violations(chart.id)} == {2}


def test_a_large_backlog_is_evaluated_chunk_by_chunk_in_order(chart, no_enqueue, monkeypatch):
    monkeypatch.setattr(evaluation, "CHUNK", 7)
    values = series(7, 40)
    ids = submit(chart, values)
    assert db.session.scalar(sa.select(sa.func.count()).where(Sample.status == "pending")) == 40
    assert evaluation.evaluate_pending(chart.id) == ids
    assert stored_violations(chart.id) == expected_violations(values, ids)
    sequences = db.session.execute(sa.select(Sample.sequence).order_by(Sample.id)).scalars()
    assert list(sequences) == list(range(1, 41))


def test_arrival_order_is_the_order_the_evaluator_saw(chart, no_enqueue):
    first = submit(chart, [10.0, 10.0])
    evaluation.evaluate_pending(chart.id)
    second = submit(chart, [10.0])
    evaluation.evaluate_pending(chart.id)
    rows = db.session.execute(sa.select(Sample.id, Sample.sequence)).all()
    assert dict(rows) == {first[0]: 1, first[1]: 2, second[0]: 3}


def test_failed_enqueue_leaves_the_sample_for_the_sweeper(chart, monkeypatch):
    def broker_down(*_args):
        raise OperationalError("connection refused")

    monkeypatch.setattr(tasks.evaluate_pending, "delay", broker_down)
    [sample_id] = submit(chart, [14.0])
    assert db.session.get(Sample, sample_id).status == "pending"
    assert evaluation.characteristics_with_stale_samples(timedelta(0)) == [chart.id]
    assert evaluation.characteristics_with_stale_samples(timedelta(minutes=5)) == []
    monkeypatch.undo()
    monkeypatch.setattr(tasks, "STALE_AFTER", timedelta(0))
    assert tasks.sweep_pending.delay().get() == 1
    db.session.expire_all()
    assert db.session.get(Sample, sample_id).status == "evaluated"
    assert stored_violations(chart.id) == {(sample_id, 1, sample_id, sample_id)}


def test_samples_without_limits_stay_pending_and_are_not_swept(factory, no_enqueue):
    chart = factory.characteristic()
    [sample_id] = submit(chart, [10.0])
    assert evaluation.evaluate_pending(chart.id) == []
    assert db.session.get(Sample, sample_id).status == "pending"
    assert evaluation.characteristics_with_stale_samples(timedelta(0)) == []


def test_frames_carry_the_samples_violations(chart):
    [sample_id] = submit(chart, [13.5])
    events = db.session.execute(sa.select(OutboxEvent).order_by(OutboxEvent.id)).scalars().all()
    [event] = events  # one change of one characteristic: one outbox row, its frames in order
    sample_frame, violation_frame = event.frame
    violation_id = db.session.execute(sa.select(Violation.id)).scalar_one()
    assert sample_frame["type"] == "sample"
    assert sample_frame["sample"]["id"] == sample_id
    assert sample_frame["sample"]["zone"] == "beyond_ucl"
    assert sample_frame["sample"]["in_control"] is False
    assert [v["id"] for v in sample_frame["violations"]] == [violation_id]
    assert violation_frame == {"type": "violation", "violation": sample_frame["violations"][0]}
    assert violation_frame["violation"]["rule_name"] == "Outlier"
    assert all(e.published_at is not None and e.published_at < outbox.CLAIMED for e in events)


def test_frames_that_could_not_be_sent_wait_unclaimed_for_the_publishers(chart, monkeypatch):
    sent = []

    def broker_down(events):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(outbox, "emit_many", broker_down)
    [sample_id] = submit(chart, [13.5])
    [event] = db.session.execute(sa.select(OutboxEvent)).scalars().all()
    assert event.published_at is None
    assert db.session.get(Sample, sample_id).status == "evaluated"

    monkeypatch.setattr(outbox, "emit_many", sent.extend)
    assert outbox.publish_all() == 1
    assert [frame["type"] for frame, _ in sent] == ["sample", "violation"]
    db.session.expire_all()
    assert db.session.get(OutboxEvent, event.id).published_at < outbox.CLAIMED


def test_a_violation_exists_once_per_sample_and_rule(chart):
    [sample_id] = submit(chart, [13.5])
    db.session.add(Violation(sample_id=sample_id, char_id=chart.id, rule_id=1,
                             severity="CRITICAL"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_rule_settings_drive_severity_and_acknowledgement(chart):
    rule = next(r for r in chart.rules if r.rule_id == 1)
    rule.severity, rule.require_acknowledgement = "WARNING", False
    db.session.commit()
    submit(chart, [13.5])
    violation = db.session.execute(sa.select(Violation)).scalar_one()
    assert (violation.severity, violation.requires_acknowledgement) == ("WARNING", False)
