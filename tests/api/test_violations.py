"""Violations API (api.md §10, §X.4): list and filters, stats, reason codes, read,
acknowledge (single, batch, 409), role checks. Violations come from real submissions
against CL 10, σ 1 (UCL 13, LCL 7): 13.5 fires rule 1, nine points above CL fire rule 2."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from openspc.extensions import db
from openspc.models import OutboxEvent, Sample, Violation
from tests.api.samples_helpers import post_series

VIOLATIONS = "/api/v1/violations/"
ACK = {"user": "J. Doe", "reason": "Tool Change"}


@pytest.fixture
def chart(factory, plant):
    return factory.characteristic(
        factory.hierarchy(plant, name="Line 1"), ucl=13.0, lcl=7.0, center_line=10.0, sigma=1.0,
        name="Bore",
    )


@pytest.fixture
def supervisor(factory, plant):
    return factory.headers(factory.user("supervisor", plant, username="boss"))


@pytest.fixture
def fired(client, chart, operator):
    """One rule-1 violation (point 1) and one rule-2 violation (point 11, the ninth 10.5)."""
    post_series(client, operator, chart.id, [13.5, 9.5] + [10.5] * 9)
    return {v.rule_id: v.id for v in db.session.execute(sa.select(Violation)).scalars()}


def test_list_fills_characteristic_and_path(client, chart, operator, fired):
    page = client.get(VIOLATIONS, headers=operator).json
    assert page["total"] == 2
    assert [item["rule_id"] for item in page["items"]] == [2, 1]  # newest id first
    outlier = page["items"][1]
    assert outlier["characteristic_id"] == chart.id and outlier["characteristic_name"] == "Bore"
    assert outlier["hierarchy_path"] == "Line 1"
    assert outlier["severity"] == "CRITICAL" and outlier["requires_acknowledgement"] is True
    sample = db.session.get(Sample, outlier["sample_id"])
    assert outlier["created_at"] == sample.timestamp.isoformat().replace("+00:00", "Z")
    shift = page["items"][0]
    assert shift["last_sample_id"] - shift["first_sample_id"] == 8  # 9 consecutive ids


@pytest.mark.parametrize("query, rules", [
    ("rule_id=1", [1]),
    ("severity=WARNING", [2]),
    ("acknowledged=false", [2, 1]),
    ("per_page=1&page=2", [1]),
    ("limit=1&offset=0", [2]),
])
def test_list_filters_and_pages(client, operator, fired, query, rules):
    page = client.get(f"{VIOLATIONS}?{query}", headers=operator).json
    assert [item["rule_id"] for item in page["items"]] == rules


def test_list_hides_other_plants(client, factory, fired):
    stranger = factory.headers(factory.user("operator", factory.plant()))
    assert client.get(VIOLATIONS, headers=stranger).json["total"] == 0
    assert client.get(f"{VIOLATIONS}{fired[1]}", headers=stranger).status_code == 403


def test_stats_count_by_rule_and_severity(client, operator, supervisor, fired):
    client.post(f"{VIOLATIONS}{fired[2]}/acknowledge", json=ACK, headers=supervisor)
    stats = client.get(f"{VIOLATIONS}stats", headers=operator).json
    assert stats == {"total": 2, "unacknowledged": 1, "informational": 0,
                     "by_rule": {"1": 1, "2": 1}, "by_severity": {"CRITICAL": 1, "WARNING": 1}}


def test_reason_codes(client, operator):
    codes = client.get(f"{VIOLATIONS}reason-codes", headers=operator).json
    assert codes[0] == "Tool Change" and codes[-1] == "Other" and len(codes) == 11


def test_get_one(client, operator, fired):
    body = client.get(f"{VIOLATIONS}{fired[1]}", headers=operator).json
    assert body["rule_name"] == "Outlier" and body["hierarchy_path"] == "Line 1"
    missing = client.get(f"{VIOLATIONS}999", headers=operator)
    assert (missing.status_code, missing.json["detail"]) == (404, "Violation 999 not found")


def test_acknowledge_then_409(client, operator, supervisor, fired):
    url = f"{VIOLATIONS}{fired[1]}/acknowledge"
    response = client.post(url, json=ACK, headers=supervisor)
    assert response.status_code == 200
    body = response.json
    assert body["acknowledged"] is True
    assert (body["ack_user"], body["ack_reason"]) == ("J. Doe", "Tool Change")
    assert body["ack_timestamp"].endswith("Z")
    again = client.post(url, json=ACK, headers=supervisor)
    assert again.status_code == 409
    assert again.json["detail"] == f"Violation {fired[1]} is already acknowledged"
    frames = [frame for e in db.session.execute(sa.select(OutboxEvent)).scalars()
              for frame in e.frame if frame["type"] == "ack_update"]
    assert frames == [{
        "type": "ack_update", "violation_id": fired[1], "characteristic_id": body[
            "characteristic_id"], "acknowledged": True, "ack_user": "J. Doe",
        "ack_reason": "Tool Change", "acknowledged_by": "boss",
    }]


def test_acknowledge_can_exclude_the_sample(client, supervisor, fired):
    body = dict(ACK, exclude_sample=True)
    response = client.post(f"{VIOLATIONS}{fired[1]}/acknowledge", json=body, headers=supervisor)
    assert db.session.get(Sample, response.json["sample_id"]).is_excluded is True


def test_acknowledge_refusals(client, factory, operator, supervisor, fired):
    url = f"{VIOLATIONS}{fired[1]}/acknowledge"
    assert client.post(url, json=ACK).status_code == 401
    denied = client.post(url, json=ACK, headers=operator)
    assert denied.status_code == 403
    assert denied.json["detail"] == "supervisor or higher privileges required for this plant"
    other = factory.headers(factory.user("supervisor", factory.plant()))
    assert client.post(url, json=ACK, headers=other).status_code == 403
    assert client.post(url, json={"user": "", "reason": "x"}, headers=supervisor
                       ).status_code == 422
    assert client.post(url, json={"user": "x"}, headers=supervisor).status_code == 422
    assert client.post(f"{VIOLATIONS}999/acknowledge", json=ACK, headers=supervisor
                       ).status_code == 404
    assert db.session.get(Violation, fired[1]).acknowledged is False


def test_batch_acknowledge_reports_each_item(client, factory, supervisor, fired):
    response = client.post(f"{VIOLATIONS}batch-acknowledge", headers=supervisor, json={
        "violation_ids": [fired[1], 999, fired[1], fired[2]], **ACK})
    assert response.status_code == 200
    body = response.json
    assert (body["total"], body["successful"], body["failed"]) == (4, 2, 2)
    assert body["acknowledged"] == [fired[1], fired[2]]
    assert body["errors"] == {"999": "Violation 999 not found",
                              str(fired[1]): f"Violation {fired[1]} is already acknowledged"}
    assert [r["success"] for r in body["results"]] == [True, False, False, True]
    assert all(v.acknowledged for v in db.session.execute(sa.select(Violation)).scalars())


def test_batch_acknowledge_checks_the_plant_per_item(client, factory, operator, fired):
    response = client.post(f"{VIOLATIONS}batch-acknowledge", headers=operator,
                           json={"violation_ids": [fired[1]], **ACK})
    assert response.json["errors"] == {
        str(fired[1]): "supervisor or higher privileges required for this plant"}
    empty = client.post(f"{VIOLATIONS}batch-acknowledge", headers=operator,
                        json={"violation_ids": [], **ACK})
    assert empty.status_code == 422
    assert not any(v.acknowledged for v in db.session.execute(sa.select(Violation)).scalars())
