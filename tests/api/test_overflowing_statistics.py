"""Subgroups whose statistics overflow a double are bad input (issue 11, item 1): every route
and the ingest service that the listeners call refuse them with a 422 naming
``measurements``; a stored row that cannot be judged is quarantined and the rows after it are
evaluated."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from openspc.errors import ValidationFailed
from openspc.extensions import db
from openspc.models import Sample
from openspc.services import evaluation
from openspc.services.ingest import SampleInput, submit_samples
from tests.api.samples_helpers import SAMPLES, sample_count

OVERFLOWING = [
    [1e308, 1e308, -1e308],  # the sum overflows: infinite mean
    [1e308, -1e308, 0.0],  # finite mean, infinite range
    [1e200, -1e200, 0.0],  # squares overflow in the standard deviation (math.sqrt)
]


@pytest.fixture
def triple(factory, plant):
    """An x̄-R chart of subgroups of 3 with limits CL 10, σ 1."""
    return factory.characteristic(factory.hierarchy(plant), subgroup_size=3, ucl=11.8,
                                  lcl=8.2, center_line=10.0, sigma=1.0)


def _refused_measurements(response) -> None:
    assert response.status_code == 422, response.json
    [item] = response.json["detail"]
    assert item["loc"] == ["body", "measurements"]
    assert "overflow" in item["msg"]


@pytest.mark.parametrize("values", OVERFLOWING)
def test_single_submission_refuses_overflowing_statistics(client, triple, operator, values):
    response = client.post(SAMPLES, headers=operator,
                           json={"characteristic_id": triple.id, "measurements": values})
    _refused_measurements(response)
    assert sample_count() == 0


@pytest.mark.parametrize("values", OVERFLOWING)
def test_data_entry_refuses_overflowing_statistics(client, triple, operator, values):
    response = client.post("/api/v1/data-entry/submit", headers=operator,
                           json={"characteristic_id": triple.id, "measurements": values})
    _refused_measurements(response)
    assert sample_count() == 0


def test_batch_refuses_the_overflowing_item_and_evaluates_the_others(client, triple, operator):
    response = client.post(f"{SAMPLES}batch", headers=operator, json={
        "characteristic_id": triple.id,
        "samples": [{"measurements": [10.0, 10.0, 10.0]}, {"measurements": OVERFLOWING[0]},
                    {"measurements": [10.0, 10.5, 9.5]}],
    })
    assert response.status_code == 200
    assert response.json["imported"] == 2 and response.json["failed"] == 1
    assert response.json["errors"][0].startswith("Sample 2: measurements: ")
    assert "overflow" in response.json["errors"][0]
    statuses = db.session.execute(sa.select(Sample.status)).scalars().all()
    assert statuses == ["evaluated", "evaluated"]


def test_edit_refuses_overflowing_statistics(client, factory, plant, triple, operator):
    supervisor = factory.headers(factory.user("supervisor", plant))
    created = client.post(SAMPLES, headers=operator,
                          json={"characteristic_id": triple.id, "measurements": [10, 10, 10]})
    sample_id = created.json["sample_id"]
    response = client.put(f"{SAMPLES}{sample_id}", headers=supervisor,
                          json={"measurements": OVERFLOWING[1], "reason": "typo"})
    _refused_measurements(response)
    assert db.session.get(Sample, sample_id).mean == 10.0


@pytest.mark.parametrize("values", OVERFLOWING)
def test_ingest_service_refuses_overflowing_statistics(triple, values):
    """The service MQTT and OPC-UA listeners hand their decoded values to."""
    [outcome] = submit_samples([SampleInput(triple.id, measurements=values)])
    assert isinstance(outcome, ValidationFailed)
    assert outcome.detail[0]["loc"] == ["body", "measurements"]
    assert sample_count() == 0


def test_a_stored_row_that_cannot_be_judged_is_quarantined_and_the_next_is_evaluated(
        client, triple, operator):
    """A row written before this validation existed (or by hand) with an infinite mean."""
    when = datetime(2024, 1, 1, tzinfo=UTC)
    db.session.add(Sample(char_id=triple.id, timestamp=when, actual_n=3, mean=float("inf"),
                          range_value=float("inf"), status="pending", received_at=when))
    db.session.commit()
    response = client.post(f"{SAMPLES}batch", headers=operator, json={
        "characteristic_id": triple.id, "samples": [{"measurements": [10.0, 10.5, 9.5]}],
    })
    assert response.json["imported"] == 1
    evaluation.evaluate_pending(triple.id)
    rows = db.session.execute(
        sa.select(Sample.status, Sample.sequence).order_by(Sample.id)).all()
    assert [tuple(row) for row in rows] == [("quarantine", None), ("evaluated", 1)]
    chart = client.get(f"/api/v1/characteristics/{triple.id}/chart-data", headers=operator)
    assert chart.status_code == 200
    assert [point["mean"] for point in chart.json["data_points"]] == [10.0]
    listed = client.get(f"{SAMPLES}?characteristic_id={triple.id}", headers=operator)
    assert listed.status_code == 200
    assert sorted(item["status"] for item in listed.json["items"]) == ["evaluated", "quarantine"]
