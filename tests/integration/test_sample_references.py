"""What refers to a sample. The measurement → sample key: a foreign key on MariaDB,
statement-level triggers on PostgreSQL (migration 0004). Both must keep the same promises:
no measurement without its sample, measurements deleted with their sample however the
sample goes, and a referenced sample's id fixed. Violations and annotations that only name
a deleted sample as the start or end of a pattern or period stay, with that reference
cleared (indexed since migration 0005)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from openspc.extensions import db
from openspc.models import (
    Annotation,
    Characteristic,
    Hierarchy,
    Measurement,
    Sample,
    Violation,
)
from openspc.services.bulk import insert_rows
from tests.conftest import Factory
from tests.integration.conftest import migrated_app

pytestmark = pytest.mark.integration

NAME = "openspc_sample_references_test"


@pytest.fixture(params=["postgresql", "mariadb"])
def app(request, tmp_path) -> Iterator:
    server = request.getfixturevalue("postgres" if request.param == "postgresql" else "mariadb")
    with migrated_app(server, NAME, tmp_path) as application:
        yield application


def _samples(chart: Characteristic, count: int) -> list[int]:
    """``count`` samples of ``chart`` with three measurements each; their ids."""
    ids = []
    for n in range(count):
        sample = Sample(char_id=chart.id, mean=float(n))
        sample.measurements = [Measurement(value=n + k / 10) for k in range(3)]
        db.session.add(sample)
        db.session.flush()
        ids.append(sample.id)
    db.session.commit()
    return ids


def _measurements_of(sample_ids: list[int]) -> int:
    db.session.rollback()
    return db.session.execute(
        sa.select(sa.func.count()).select_from(Measurement)
        .where(Measurement.sample_id.in_(sample_ids))
    ).scalar_one()


def _all_measurements() -> int:
    db.session.rollback()
    return db.session.execute(sa.select(sa.func.count()).select_from(Measurement)).scalar_one()


def test_a_measurement_without_its_sample_is_refused_and_nothing_is_stored(app):
    chart = Factory(app).characteristic(subgroup_size=3)
    [sample_id] = _samples(chart, 1)

    with pytest.raises(sa.exc.IntegrityError):
        db.session.add(Measurement(sample_id=sample_id + 1000, value=1.0))
        db.session.commit()
    db.session.rollback()
    with pytest.raises(sa.exc.IntegrityError):
        insert_rows(Measurement, [{"sample_id": sample_id, "value": 1.0},
                                  {"sample_id": sample_id + 1000, "value": 2.0}])
    db.session.rollback()

    assert _all_measurements() == 3


def test_a_measurement_cannot_be_moved_to_a_missing_sample(app):
    chart = Factory(app).characteristic(subgroup_size=3)
    [sample_id] = _samples(chart, 1)

    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.update(Measurement).where(Measurement.sample_id == sample_id)
                           .values(sample_id=sample_id + 1000))
    db.session.rollback()

    assert _measurements_of([sample_id]) == 3


def test_measurements_go_with_their_sample_however_it_is_deleted(app):
    factory = Factory(app)
    node = factory.hierarchy()
    kept, by_sample, by_chart, by_node = (factory.characteristic(node, subgroup_size=3)
                                          for _ in range(4))
    kept_ids = _samples(kept, 2)
    deleted = _samples(by_sample, 3)
    of_chart = _samples(by_chart, 2)
    other_node = factory.hierarchy()
    by_node.hierarchy_id = other_node.id
    db.session.commit()
    of_node = _samples(by_node, 2)

    db.session.execute(sa.delete(Sample).where(Sample.id.in_(deleted[:2])))
    db.session.delete(db.session.get(Sample, deleted[2]))
    db.session.execute(sa.delete(Characteristic).where(Characteristic.id == by_chart.id))
    db.session.execute(sa.delete(Hierarchy).where(Hierarchy.id == other_node.id))
    db.session.commit()

    assert _measurements_of(deleted + of_chart + of_node) == 0
    assert _measurements_of(kept_ids) == 6
    assert _all_measurements() == 6


def test_the_id_of_a_sample_with_measurements_stays_fixed(app):
    chart = Factory(app).characteristic(subgroup_size=3)
    [measured] = _samples(chart, 1)
    empty = Sample(char_id=chart.id)
    db.session.add(empty)
    db.session.commit()
    empty_id = empty.id

    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.update(Sample).where(Sample.id == measured)
                           .values(id=measured + 1000))
    db.session.rollback()
    db.session.execute(sa.update(Sample).where(Sample.id == empty_id).values(id=empty_id + 1000))
    db.session.commit()

    assert db.session.get(Sample, empty_id + 1000) is not None
    assert _measurements_of([measured]) == 3


def test_a_sample_being_measured_is_not_deleted_under_the_new_rows(app):
    """A transaction adds a measurement to a stored sample while another deletes the sample:
    the delete waits for the first to commit, then takes the new measurement with it."""
    chart = Factory(app).characteristic(subgroup_size=3)
    [sample_id] = _samples(chart, 1)
    db.session.remove()
    with db.engine.connect() as adding, db.engine.connect() as deleting:
        adding.execute(sa.insert(Measurement).values(sample_id=sample_id, value=9.0))
        result: list[object] = []
        delete = threading.Thread(target=lambda: result.append(deleting.execute(
            sa.delete(Sample).where(Sample.id == sample_id)).rowcount))
        delete.start()
        delete.join(0.5)
        assert delete.is_alive(), "the delete must wait for the measuring transaction"
        adding.commit()
        delete.join(10)
        deleting.commit()

    assert result == [1]
    assert _all_measurements() == 0


def test_a_measurement_for_a_sample_being_deleted_is_refused(app):
    """The other order: the sample's delete is not yet committed when a measurement for it
    arrives; the insert waits, and fails once the delete commits."""
    chart = Factory(app).characteristic(subgroup_size=3)
    [sample_id] = _samples(chart, 1)
    db.session.remove()
    with db.engine.connect() as deleting, db.engine.connect() as adding:
        deleting.execute(sa.delete(Sample).where(Sample.id == sample_id))
        errors: list[BaseException] = []

        def add() -> None:
            try:
                adding.execute(sa.insert(Measurement).values(sample_id=sample_id, value=9.0))
                adding.commit()
            except sa.exc.DBAPIError as error:
                errors.append(error)
                adding.rollback()

        insert = threading.Thread(target=add)
        insert.start()
        insert.join(0.5)
        assert insert.is_alive(), "the insert must wait for the deleting transaction"
        deleting.commit()
        insert.join(10)

    assert [type(error) for error in errors] == [sa.exc.IntegrityError]
    assert _all_measurements() == 0


def test_patterns_and_periods_outlive_the_samples_they_started_at(app):
    chart = Factory(app).characteristic(subgroup_size=3)
    first, middle, last = _samples(chart, 3)
    violation = Violation(sample_id=last, char_id=chart.id, rule_id=3, severity="WARNING",
                          first_sample_id=first, last_sample_id=last)
    period = Annotation(characteristic_id=chart.id, annotation_type="period", text="Setup",
                        sample_id=first, start_sample_id=first, end_sample_id=middle)
    db.session.add_all([violation, period])
    db.session.commit()
    violation_id, period_id = violation.id, period.id

    db.session.execute(sa.delete(Sample).where(Sample.id == first))
    db.session.commit()
    db.session.expire_all()

    violation = db.session.get(Violation, violation_id)
    assert (violation.first_sample_id, violation.last_sample_id) == (None, last)
    period = db.session.get(Annotation, period_id)
    assert (period.sample_id, period.start_sample_id, period.end_sample_id) == (None, None,
                                                                                middle)
