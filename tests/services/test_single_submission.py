"""A single submission is judged in its own transaction, and handed to the workers when the
characteristic's lock stays busy (PostgreSQL's lock_timeout, simulated here on SQLite)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from openspc.errors import Forbidden
from openspc.extensions import db
from openspc.models import Hierarchy, Sample, Violation
from openspc.services import evaluation, ingest
from openspc.services.ingest import SampleInput
from openspc.tasks import evaluation as tasks


class LockNotAvailable(Exception):
    pgcode = "55P03"


@pytest.fixture
def chart(factory):
    return factory.characteristic(ucl=13.0, lcl=7.0, center_line=10.0, sigma=1.0)


@pytest.fixture
def enqueued(monkeypatch) -> list[int]:
    """Characteristic ids handed to the workers (the eager task still runs)."""
    calls: list[int] = []
    delay = tasks.evaluate_pending.delay
    monkeypatch.setattr(tasks.evaluate_pending, "delay",
                        lambda characteristic_id: (calls.append(characteristic_id),
                                                   delay(characteristic_id)))
    return calls


def violations_of(sample_id: int) -> list[int]:
    return list(db.session.execute(
        sa.select(Violation.rule_id).where(Violation.sample_id == sample_id)).scalars())


def test_a_single_submission_is_evaluated_without_a_worker(chart, enqueued):
    sample_id, _ = ingest.submit_sample(SampleInput(chart.id, [13.5]))
    db.session.expire_all()
    sample = db.session.get(Sample, sample_id)
    assert (sample.status, sample.sequence) == ("evaluated", 1)
    assert violations_of(sample_id) == [1]
    assert enqueued == []


def test_it_also_judges_what_was_pending_before_it_in_arrival_order(chart, monkeypatch):
    monkeypatch.setattr(tasks.evaluate_pending, "delay", lambda *_: None)
    earlier = ingest.submit_samples([SampleInput(chart.id, [10.0]), SampleInput(chart.id, [10.0])])
    monkeypatch.undo()
    latest, _ = ingest.submit_sample(SampleInput(chart.id, [10.0]))
    rows = db.session.execute(sa.select(Sample.id, Sample.status, Sample.sequence)).all()
    assert sorted(rows) == [(earlier[0], "evaluated", 1), (earlier[1], "evaluated", 2),
                            (latest, "evaluated", 3)]


def test_a_busy_lock_hands_the_sample_to_the_workers(chart, enqueued, monkeypatch):
    def busy(_item, _check_plant):
        raise OperationalError("SELECT ... FOR NO KEY UPDATE", {}, LockNotAvailable())

    monkeypatch.setattr(ingest, "_store_and_evaluate", busy)
    sample_id, _ = ingest.submit_sample(SampleInput(chart.id, [13.5]))
    assert enqueued == [chart.id]
    db.session.expire_all()
    assert db.session.get(Sample, sample_id).status == "evaluated"
    assert violations_of(sample_id) == [1]


def test_a_busy_lock_still_checks_the_plant_before_storing(chart, enqueued, monkeypatch):
    def busy(_item, _check_plant):
        raise OperationalError("SELECT ... FOR NO KEY UPDATE", {}, LockNotAvailable())

    def refuse(plant_id):
        assert plant_id == db.session.get(Hierarchy, chart.hierarchy_id).plant_id
        raise Forbidden("operator or higher privileges required for this plant")

    monkeypatch.setattr(ingest, "_store_and_evaluate", busy)
    with pytest.raises(Forbidden):
        ingest.submit_sample(SampleInput(chart.id, [13.5]), refuse)
    assert enqueued == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Sample)) == 0


def test_other_database_errors_are_not_swallowed(chart, monkeypatch):
    def broken(_item, _check_plant):
        raise OperationalError("SELECT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(ingest, "_store_and_evaluate", broken)
    with pytest.raises(OperationalError):
        ingest.submit_sample(SampleInput(chart.id, [10.0]))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Sample)) == 0


def test_a_full_chunk_leaves_the_rest_of_the_backlog_to_a_worker(chart, enqueued, monkeypatch):
    monkeypatch.setattr(evaluation, "CHUNK", 2)
    monkeypatch.setattr(tasks.evaluate_pending, "delay", lambda *_: None)
    backlog = ingest.submit_samples([SampleInput(chart.id, [10.0])] * 3)
    monkeypatch.setattr(tasks.evaluate_pending, "delay", enqueued.append)
    ingest.submit_sample(SampleInput(chart.id, [10.0]))
    assert enqueued == [chart.id]
    statuses = dict(db.session.execute(sa.select(Sample.id, Sample.status)).all())
    assert [statuses[i] for i in backlog] == ["evaluated", "evaluated", "pending"]
