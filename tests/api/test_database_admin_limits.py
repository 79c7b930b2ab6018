"""The rate limits of /api/v1/database (api.md §0): per client address, counted only for
requests that passed the role and validation checks, with the reference's 429 body."""

from __future__ import annotations

import pytest

LIMITS = [
    ("get", "/api/v1/database/config", None, 60),
    ("put", "/api/v1/database/config", {"dialect": "sqlite", "database": "x.db"}, 10),
    ("post", "/api/v1/database/test", {"dialect": "sqlite", "database": "x.db"}, 5),
    ("get", "/api/v1/database/status", None, 60),
    ("post", "/api/v1/database/backup", None, 2),
    ("post", "/api/v1/database/vacuum", None, 1),
    ("get", "/api/v1/database/migrations", None, 60),
]


@pytest.fixture
def settings_overrides():
    return {"OPENSPC_RATE_LIMIT_LOGIN": "5/minute"}


@pytest.fixture
def admin(factory):
    return factory.headers(factory.user("admin"))


@pytest.mark.parametrize(("method", "url", "body", "limit"), LIMITS)
def test_each_route_has_its_limit_per_address(client, admin, method, url, body, limit):
    def call(ip: str):
        return getattr(client, method)(url, json=body, headers=admin,
                                       environ_base={"REMOTE_ADDR": ip})

    assert [call("10.1.0.1").status_code for _ in range(limit)] == [200] * limit
    refused = call("10.1.0.1")
    assert (refused.status_code, refused.json) == (
        429, {"detail": f"Rate limit exceeded: {limit} per 1 minute"})
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert call("10.1.0.2").status_code == 200


def test_refused_requests_do_not_use_up_the_limit(client, factory, admin):
    engineer = factory.headers(factory.user("engineer"))
    for _ in range(3):
        assert client.post("/api/v1/database/vacuum", headers=engineer).status_code == 403
        assert client.post("/api/v1/database/test", headers=admin,
                           json={"dialect": "nosql"}).status_code == 422
    assert client.post("/api/v1/database/vacuum", headers=admin).status_code == 200
    assert [client.post("/api/v1/database/test", headers=admin,
                        json={"dialect": "sqlite", "database": "x.db"}).status_code
            for _ in range(6)] == [200] * 5 + [429]
