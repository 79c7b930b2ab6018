"""Data-entry API (api.md §9): submit and batch with an API key or a token (the reference's
routes always failed, G-3), key permissions, 401s, and the schema route. Limits CL 10, σ 1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from openspc.auth.api_keys import generate_api_key
from openspc.extensions import db
from openspc.models import ApiKey, Sample
from tests.api.samples_helpers import sample_count

SUBMIT = "/api/v1/data-entry/submit"
BATCH = "/api/v1/data-entry/batch"


def make_key(characteristics="all", *, active=True, expires_at=None) -> dict[str, str]:
    new = generate_api_key()
    db.session.add(ApiKey(
        name="gateway", key_hash=new.digest, key_prefix=new.prefix, is_active=active,
        expires_at=expires_at, permissions={"characteristics": characteristics},
    ))
    db.session.commit()
    return {"X-API-Key": new.plaintext}


def test_submit_with_an_api_key_stores_and_judges(client, chart):
    response = client.post(SUBMIT, headers=make_key(), json={
        "characteristic_id": chart.id, "measurements": [13.5], "batch_number": "L1",
        "metadata": {"line": 3},
    })
    assert response.status_code == 201
    body = response.json
    assert body["characteristic_id"] == chart.id and body["mean"] == 13.5
    assert body["in_control"] is False and body["zone"] == "beyond_ucl"
    assert body["violations"] == [{"rule_id": 1, "rule_name": "Outlier", "severity": "CRITICAL"}]
    assert body["status"] == "evaluated"
    assert db.session.get(Sample, body["sample_id"]).batch_number == "L1"
    assert db.session.execute(sa.select(ApiKey.last_used_at)).scalar_one() is not None


def test_submit_honours_the_timestamp(client, chart):
    stamp = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    response = client.post(SUBMIT, headers=make_key(), json={
        "characteristic_id": chart.id, "measurements": [10.0], "timestamp": stamp.isoformat()})
    assert response.json["timestamp"] == "2024-05-01T12:00:00Z"


def test_submit_with_a_token_needs_a_role_at_the_plant(client, factory, plant, chart):
    body = {"characteristic_id": chart.id, "measurements": [10.0]}
    operator = factory.headers(factory.user("operator", plant))
    assert client.post(SUBMIT, headers=operator, json=body).status_code == 201
    stranger = factory.headers(factory.user("operator", factory.plant()))
    assert client.post(SUBMIT, headers=stranger, json=body).status_code == 403
    assert sample_count() == 1


@pytest.mark.parametrize("headers", [
    {},
    {"X-API-Key": "openspc_not-a-real-key-at-all-000000000000"},
    {"Authorization": "Bearer nope"},
])
def test_submit_without_valid_credentials_is_401(client, chart, headers):
    response = client.post(SUBMIT, headers=headers,
                           json={"characteristic_id": chart.id, "measurements": [10.0]})
    assert response.status_code == 401
    assert response.json == {"detail": "Not authenticated"}
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert sample_count() == 0


def test_inactive_or_expired_keys_are_401(client, chart):
    body = {"characteristic_id": chart.id, "measurements": [10.0]}
    expired = make_key(expires_at=datetime.now(UTC) - timedelta(minutes=1))
    for headers in (make_key(active=False), expired):
        assert client.post(SUBMIT, headers=headers, json=body).status_code == 401
    assert sample_count() == 0


def test_key_limited_to_other_characteristics_is_403(client, factory, plant, chart):
    other = factory.characteristic(factory.hierarchy(plant))
    response = client.post(SUBMIT, headers=make_key([other.id]),
                           json={"characteristic_id": chart.id, "measurements": [10.0]})
    assert response.status_code == 403
    assert response.json["detail"] == (
        f"API key does not have permission for characteristic {chart.id}"
    )
    assert sample_count() == 0


def test_submit_bad_input(client, chart):
    key = make_key()
    unknown = client.post(SUBMIT, headers=key, json={"characteristic_id": 999,
                                                     "measurements": [1.0]})
    assert unknown.status_code == 400
    assert unknown.json["detail"].startswith("Invalid input")
    count = client.post(SUBMIT, headers=key, json={"characteristic_id": chart.id,
                                                   "measurements": [1.0, 2.0]})
    assert count.status_code == 400
    empty = client.post(SUBMIT, headers=key, json={"characteristic_id": chart.id,
                                                   "measurements": []})
    assert empty.status_code == 422
    assert sample_count() == 0


def test_batch_reports_per_item_errors_and_commits_the_rest(client, factory, plant, chart):
    other = factory.characteristic(factory.hierarchy(plant), ucl=13.0, lcl=7.0,
                                   center_line=10.0, sigma=1.0)
    response = client.post(BATCH, headers=make_key([chart.id]), json={"samples": [
        {"characteristic_id": chart.id, "measurements": [10.0]},
        {"characteristic_id": other.id, "measurements": [10.0]},
        {"characteristic_id": chart.id, "measurements": [10.0, 11.0]},
        {"characteristic_id": chart.id, "measurements": [14.0]},
    ]})
    assert response.status_code == 201
    body = response.json
    assert (body["total"], body["successful"], body["failed"]) == (4, 2, 2)
    assert body["errors"] == [
        f"Sample 1: No permission for characteristic {other.id}",
        "Sample 2: Invalid input: too many measurements: 2 given, subgroup size is 1",
    ]
    assert [r["mean"] for r in body["results"]] == [10.0, 14.0]
    assert [r["in_control"] for r in body["results"]] == [True, False]
    stored = db.session.execute(sa.select(Sample.char_id, Sample.status)).all()
    assert stored == [(chart.id, "evaluated"), (chart.id, "evaluated")]


def test_batch_spanning_characteristics_with_a_token(client, factory, plant, chart):
    other = factory.characteristic(factory.hierarchy(plant), ucl=13.0, lcl=7.0,
                                   center_line=10.0, sigma=1.0)
    operator = factory.headers(factory.user("operator", plant))
    response = client.post(BATCH, headers=operator, json={"samples": [
        {"characteristic_id": chart.id, "measurements": [10.0]},
        {"characteristic_id": other.id, "measurements": [10.0]},
    ]})
    assert response.json["successful"] == 2
    sequences = db.session.execute(sa.select(Sample.char_id, Sample.sequence)).all()
    assert sorted(sequences) == sorted([(chart.id, 1), (other.id, 1)])


def test_batch_needs_credentials_and_a_valid_body(client, chart):
    body = {"samples": [{"characteristic_id": chart.id, "measurements": [10.0]}]}
    assert client.post(BATCH, json=body).status_code == 401
    malformed = {"samples": [{"measurements": [10.0]}]}
    response = client.post(BATCH, headers=make_key(), json=malformed)
    assert response.status_code == 422
    assert response.json["detail"][0]["loc"] == ["body", "samples", 0, "characteristic_id"]
    assert sample_count() == 0


def test_schema_route_describes_both_routes(client):
    response = client.get("/api/v1/data-entry/schema")
    assert response.status_code == 200
    body = response.json
    assert body["single_sample"]["endpoint"] == "POST /api/v1/data-entry/submit"
    request_schema = body["single_sample"]["request"]
    assert {"characteristic_id", "measurements"} <= set(request_schema["properties"])
    assert "characteristic_id" in request_schema["required"]
    assert body["batch_sample"]["endpoint"] == "POST /api/v1/data-entry/batch"
    assert body["authentication"]["header"] == "X-API-Key"
