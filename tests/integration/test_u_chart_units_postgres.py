"""Fractional inspection units of a u chart are stored as given on PostgreSQL, whose
INTEGER column rounded 9.5 to 10 before ``sample.sample_size`` became double precision
(issue 11, item 11; the limits are checked by hand in
tests/api/test_u_chart_fractional_units.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from openspc.extensions import db
from openspc.models import Sample
from tests.conftest import Factory
from tests.integration.conftest import migrated_app

NAME = "openspc_hardening_u_units_test"


@pytest.fixture
def app(postgres, tmp_path) -> Iterator:
    with migrated_app(postgres, NAME, tmp_path) as application:
        yield application


def test_fractional_units_are_stored_and_answered_as_given(app):
    factory = Factory(app)
    chart = factory.characteristic(chart_type="u")
    headers = factory.headers(factory.user("admin", username="root"))
    client = app.test_client()
    response = client.post("/api/v1/samples/", headers=headers, json={
        "characteristic_id": chart.id, "count": 7, "sample_size": 9.5})
    assert response.status_code == 201, response.json
    assert response.json["sample_size"] == 9.5
    assert response.json["mean"] == pytest.approx(7 / 9.5)
    db.session.remove()
    assert db.session.execute(sa.select(Sample.sample_size)).scalar_one() == 9.5
