"""Helpers shared by the sample, data-entry and violation API tests."""

from __future__ import annotations

import sqlalchemy as sa

from openspc.extensions import db
from openspc.models import Sample, Violation

SAMPLES = "/api/v1/samples/"


def post_value(client, headers, characteristic_id: int, *values: float):
    return client.post(
        SAMPLES, json={"characteristic_id": characteristic_id, "measurements": list(values)},
        headers=headers,
    )


def post_series(client, headers, characteristic_id: int, series: list[float]) -> list[dict]:
    """Submit one individual value per request; every answer must be 201."""
    results = []
    for value in series:
        response = post_value(client, headers, characteristic_id, value)
        assert response.status_code == 201, response.json
        results.append(response.json)
    return results


def fired(results: list[dict]) -> list[list[int]]:
    """Rule ids fired at each submitted point."""
    return [sorted(v["rule_id"] for v in result["violations"]) for result in results]


def sample_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Sample))


def violation_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Violation))
