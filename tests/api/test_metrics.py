"""``GET /metrics`` in the embedded shape (no broker): who may read it, and the state it
reads from the database, parsed with Prometheus's own parser."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from openspc.extensions import db
from openspc.models import Sample, Violation
from openspc.models.types import utcnow

TOKEN = "s3cret-scrape-token"


def scrape(client, headers=None) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.data
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.data.decode())
        for sample in family.samples
    }


def test_pending_samples_and_unacknowledged_violations_are_read_from_the_database(
        client, char, chart):
    """``chart`` has limits, ``char`` has none: its sample waits for limits, not a worker."""
    now = utcnow()
    oldest = now - timedelta(seconds=90)
    rows = [Sample(char_id=chart.id, status="pending", received_at=oldest, mean=1.0),
            Sample(char_id=chart.id, status="pending", received_at=now, mean=1.0),
            Sample(char_id=chart.id, status="evaluated", received_at=oldest, mean=1.0),
            Sample(char_id=char.id, status="pending", received_at=now - timedelta(hours=5),
                   mean=1.0)]
    db.session.add_all(rows)
    db.session.flush()
    db.session.add_all([
        Violation(sample_id=rows[2].id, char_id=chart.id, rule_id=1, severity="CRITICAL"),
        Violation(sample_id=rows[2].id, char_id=chart.id, rule_id=2, severity="WARNING",
                  acknowledged=True),
        Violation(sample_id=rows[1].id, char_id=chart.id, rule_id=3, severity="WARNING",
                  requires_acknowledgement=False),
    ])
    db.session.commit()
    metrics = scrape(client)
    assert metrics[("openspc_samples_pending", ())] == 2
    assert 90 <= metrics[("openspc_samples_oldest_pending_age_seconds", ())] < 120
    assert metrics[("openspc_samples_awaiting_limits", ())] == 1
    assert metrics[("openspc_violations_unacknowledged", (("severity", "CRITICAL"),))] == 1
    assert ("openspc_violations_unacknowledged", (("severity", "WARNING"),)) not in metrics
    assert metrics[("openspc_queue_depth", (("queue", "evaluate"),))] == 0


def test_ingest_is_counted_per_source(client, chart, operator):
    before = scrape(client).get(("openspc_samples_ingested_total", (("source", "rest"),)), 0)
    for value in (10.0, 10.5):
        assert client.post("/api/v1/samples/", headers=operator, json={
            "characteristic_id": chart.id, "measurements": [value]}).status_code == 201
    after = scrape(client)
    assert after[("openspc_samples_ingested_total", (("source", "rest"),))] == before + 2


def test_open_without_a_token(client):
    assert ("openspc_samples_pending", ()) in scrape(client)


@pytest.mark.parametrize("settings_overrides", [{"OPENSPC_METRICS_TOKEN": TOKEN}])
def test_a_metrics_token_is_required_when_set(client):
    missing = client.get("/metrics")
    assert (missing.status_code, missing.json) == (401, {"detail": "Not authenticated"})
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert ("openspc_samples_pending", ()) in scrape(client, {"Authorization": f"Bearer {TOKEN}"})
