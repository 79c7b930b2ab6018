"""The sample path through the REST API on PostgreSQL and MariaDB (the default suite runs on
SQLite): locking, RETURNING, JSON columns and timestamp precision differ by dialect."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator

import pytest

from openspc.extensions import db
from tests.conftest import Factory
from tests.integration.conftest import migrated_app
from tests.integration.rest import characteristic_via_api

# Twenty-five subgroups of n = 4, in control around 10 (hand-made, symmetric spreads).
SUBGROUPS = [[10 + d for d in (-0.3, 0.1, 0.2, -0.1)] if i % 2 else
             [10 + d for d in (0.25, -0.15, 0.05, -0.2)] for i in range(25)]


NAME = "openspc_api_flow_test"


@pytest.fixture(params=["postgresql", "mariadb"])
def server(request):
    return request.getfixturevalue("postgres" if request.param == "postgresql" else "mariadb")


@pytest.fixture
def app(server, tmp_path) -> Iterator:
    with migrated_app(server, NAME, tmp_path) as application:
        yield application


def test_samples_limits_violations_and_charts(app):
    client = app.test_client()
    headers, char_id = characteristic_via_api(client, Factory(app), subgroup_size=4)

    batch = client.post("/api/v1/samples/batch", headers=headers, json={
        "characteristic_id": char_id, "samples": [{"measurements": m} for m in SUBGROUPS]})
    assert (batch.status_code, batch.json["imported"]) == (200, 25), batch.json

    recalculated = client.post(
        f"/api/v1/characteristics/{char_id}/recalculate-limits?min_samples=25", headers=headers)
    assert recalculated.status_code == 200, recalculated.json
    grand_mean = statistics.fmean(v for sub in SUBGROUPS for v in sub)
    r_bar = statistics.fmean(max(s) - min(s) for s in SUBGROUPS)
    d2_4 = 2.058750746  # d2 for n = 4 (exact to 9 places)
    sigma = r_bar / d2_4
    after = recalculated.json["after"]
    assert after["center_line"] == pytest.approx(grand_mean, abs=1e-9)
    assert after["ucl"] == pytest.approx(grand_mean + 3 * sigma / math.sqrt(4), abs=1e-6)

    outlier = client.post("/api/v1/samples/", headers=headers, json={
        "characteristic_id": char_id, "measurements": [13.0, 13.2, 12.9, 13.1]})
    assert outlier.status_code == 201, outlier.json
    assert outlier.json["in_control"] is False
    assert [v["rule_id"] for v in outlier.json["violations"]] == [1]
    violation_id = outlier.json["violations"][0]["violation_id"]

    acknowledged = client.post(f"/api/v1/violations/{violation_id}/acknowledge", headers=headers,
                               json={"user": "qe", "reason": "Tool Change"})
    assert (acknowledged.status_code, acknowledged.json["acknowledged"]) == (200, True)

    chart = client.get(f"/api/v1/characteristics/{char_id}/chart-data", headers=headers)
    assert chart.status_code == 200
    points = chart.json["data_points"]
    assert len(points) == 26
    assert points[-1]["mean"] == pytest.approx(13.05)
    timestamps = [p["timestamp"] for p in points]
    assert timestamps == sorted(timestamps)

    listed = client.get(f"/api/v1/samples/?characteristic_id={char_id}&limit=1000",
                        headers=headers)
    assert listed.json["total"] == 26
    assert {s["status"] for s in listed.json["items"]} == {"evaluated"}
    sequences = sorted(s["sequence"] for s in listed.json["items"])
    assert sequences == list(range(1, 27))


def test_a_dropped_database_connection_is_a_503_storing_nothing_then_service_resumes(app, server):
    client = app.test_client()
    headers, char_id = characteristic_via_api(client, Factory(app), subgroup_size=1)
    sample = {"characteristic_id": char_id, "measurements": [10.0]}
    assert client.post("/api/v1/samples/", json=sample, headers=headers).status_code == 201

    db.session.remove()
    assert server.drop_connections(NAME) >= 1
    cut = client.post("/api/v1/samples/", json=sample, headers=headers)
    assert cut.status_code == 503, cut.json
    assert cut.json == {"detail": "Database unavailable, please retry"}
    assert cut.headers["Retry-After"] == "1"

    again = client.post("/api/v1/samples/", json=sample, headers=headers)
    assert again.status_code == 201, again.json
    listed = client.get(f"/api/v1/samples/?characteristic_id={char_id}", headers=headers)
    assert listed.json["total"] == 2
