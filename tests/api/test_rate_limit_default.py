"""Without OPENSPC_RATE_LIMIT_DEFAULT only the routes with their own limit are limited, as
with the reference: its clients (dashboards, data collectors) must not start seeing 429."""

from __future__ import annotations

import pytest


@pytest.fixture
def settings_overrides():
    return {"OPENSPC_RATE_LIMIT_LOGIN": "2/minute"}  # the limiter is on


def test_routes_without_their_own_limit_are_not_limited(client, factory, chart):
    headers = factory.headers(factory.user("operator", username="op"))
    reads = {client.get("/api/v1/plants/", headers=headers).status_code for _ in range(70)}
    submissions = {
        client.post("/api/v1/samples/", json={"characteristic_id": chart.id,
                                              "measurements": [10.0]}, headers=headers
                    ).status_code
        for _ in range(70)
    }
    assert (reads, submissions) == ({200}, {201})


def test_routes_with_their_own_limit_still_are(client):
    body = {"username": "nobody", "password": "wrong-password"}
    statuses = [client.post("/api/v1/auth/login", json=body).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
