"""NUL characters on PostgreSQL, which refuses them in text and JSON (issue 11, item 3): a
422 naming the field on the direct submission path and the general one, and in a batch only
the item that holds one fails."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from openspc.extensions import db
from openspc.models import Sample
from tests.conftest import Factory
from tests.integration.conftest import migrated_app

NAME = "openspc_hardening_nul_test"
SAMPLES = "/api/v1/samples/"


@pytest.fixture
def app(postgres, tmp_path) -> Iterator:
    with migrated_app(postgres, NAME, tmp_path) as application:
        yield application


@pytest.fixture
def factory(app) -> Factory:
    return Factory(app)


@pytest.fixture
def setup(app, factory):
    chart = factory.characteristic(ucl=13.0, lcl=7.0, center_line=10.0, sigma=1.0)
    headers = factory.headers(factory.user("admin", username="root"))
    return app.test_client(), chart, headers


def _names_field(response, loc: list) -> None:
    assert response.status_code == 422, (response.status_code, response.json)
    assert response.json["detail"][0]["loc"] == loc


def test_a_single_submission_with_nul_is_refused_on_both_paths(setup):
    client, chart, headers = setup
    first = client.post(SAMPLES, headers=headers,
                        json={"characteristic_id": chart.id, "measurements": [10.0]})
    assert first.status_code == 201  # the evaluator's state is current: the direct path applies
    for field in ("batch_number", "operator_id"):
        response = client.post(SAMPLES, headers=headers, json={
            "characteristic_id": chart.id, "measurements": [10.0], field: "A\x00B"})
        _names_field(response, ["body", field])
    entry = client.post("/api/v1/data-entry/submit", headers=headers, json={
        "characteristic_id": chart.id, "measurements": [10.0], "operator_id": "\x00"})
    _names_field(entry, ["body", "operator_id"])
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Sample)) == 1


def test_a_batch_item_with_nul_fails_alone(setup):
    client, chart, headers = setup
    response = client.post(f"{SAMPLES}batch", headers=headers, json={
        "characteristic_id": chart.id,
        "samples": [{"measurements": [10.0], "batch_number": "ok"},
                    {"measurements": [11.0], "batch_number": "bad\x00"},
                    {"measurements": [12.0]}],
    })
    assert response.status_code == 200, response.json
    assert (response.json["imported"], response.json["failed"]) == (2, 1)
    assert response.json["errors"][0].startswith("Sample 2: batch_number: ")
    means = db.session.execute(sa.select(Sample.mean).order_by(Sample.id)).scalars().all()
    assert means == [10.0, 12.0]


def test_nul_in_queries_json_and_names_is_refused(setup):
    client, _chart, headers = setup
    _names_field(client.get("/api/v1/users/?search=%00", headers=headers), ["query", "search"])
    plant = client.post("/api/v1/plants/", headers=headers,
                        json={"name": "N", "code": "N", "settings": {"note": "a\x00"}})
    _names_field(plant, ["body", "settings", "note"])
    user = client.post("/api/v1/users/", headers=headers,
                       json={"username": "nul\x00user", "password": "password123"})
    _names_field(user, ["body", "username"])
