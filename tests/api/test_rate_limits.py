"""Rate limits (api.md §0, §E): login and refresh limits from settings, the default limit on
every other route, the 429 body, and the per-API-key limit."""

from __future__ import annotations

import pytest
from flask import g
from werkzeug.exceptions import TooManyRequests

from openspc.auth.api_keys import generate_api_key
from openspc.auth.dual import user_or_api_key
from openspc.extensions import db
from openspc.models import ApiKey


@pytest.fixture
def settings_overrides():
    return {
        "OPENSPC_RATE_LIMIT_LOGIN": "3/minute",
        "OPENSPC_RATE_LIMIT_REFRESH": "2/minute",
        "OPENSPC_RATE_LIMIT_DEFAULT": "4/minute",
    }


@pytest.fixture
def alice(factory):
    return factory.user("operator", username="alice", password="password123")


def assert_limited(response, limit: str) -> None:
    """A 429 in the API's error shape with the seconds until the window ends (1..60 for a
    per-minute limit)."""
    assert response.status_code == 429
    assert response.json == {"detail": f"Rate limit exceeded: {limit}"}
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def login(client, password="password123", ip="10.0.0.1"):
    return client.post("/api/v1/auth/login", json={"username": "alice", "password": password},
                       environ_base={"REMOTE_ADDR": ip})


def test_login_is_limited_per_ip_and_failed_attempts_count(client, alice):
    assert login(client, "wrong-one").status_code == 401
    assert login(client).status_code == 200
    assert login(client, "wrong-two").status_code == 401
    response = login(client)
    assert_limited(response, "3 per 1 minute")
    assert login(client, ip="10.0.0.2").status_code == 200


def test_requests_refused_by_validation_do_not_count(client, alice):
    for _ in range(5):
        response = client.post("/api/v1/auth/login", json={"username": "alice"})
        assert response.status_code == 422
    assert [login(client).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_refresh_has_its_own_limit(app, alice):
    bare = app.test_client(use_cookies=False)
    statuses = [bare.post("/api/v1/auth/refresh").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
    assert_limited(bare.post("/api/v1/auth/refresh"), "2 per 1 minute")


@pytest.mark.parametrize("path", ["/api/v1/plants/", "/api/v1/auth/me", "/api/v1/api-keys/"])
def test_the_default_limit_applies_to_routes_without_their_own(client, factory, path):
    """Flask-Limiter counts the default limit per route and client."""
    headers = factory.headers(factory.user("engineer"))
    statuses = [client.get(path, headers=headers).status_code for _ in range(4)]
    assert statuses == [200] * 4
    assert_limited(client.get(path, headers=headers), "4 per 1 minute")


def test_health_is_exempt(client):
    assert {client.get("/health").status_code for _ in range(6)} == {200}


def stored_key(rate_limit_per_minute: int) -> str:
    new = generate_api_key()
    db.session.add(ApiKey(name="k", key_hash=new.digest, key_prefix=new.prefix,
                          rate_limit_per_minute=rate_limit_per_minute))
    db.session.commit()
    return new.plaintext


def call_with_key(app, key: str) -> None:
    @user_or_api_key
    def view():
        return g.caller

    with app.test_request_context("/api/v1/data-entry/submit", method="POST",
                                  headers={"X-API-Key": key}):
        view()


def test_each_api_key_has_its_own_per_minute_budget(app):
    tight, roomy = stored_key(2), stored_key(5)
    call_with_key(app, tight)
    call_with_key(app, tight)
    with pytest.raises(TooManyRequests) as raised:
        call_with_key(app, tight)
    assert raised.value.description == "2 per 1 minute"
    for _ in range(5):
        call_with_key(app, roomy)
    with pytest.raises(TooManyRequests):
        call_with_key(app, roomy)


def test_a_per_key_429_has_the_api_error_shape(app):
    """The exception raised by the key check renders through the app's one 429 handler."""
    key = stored_key(1)
    call_with_key(app, key)
    with app.test_request_context(headers={"X-API-Key": key}):
        with pytest.raises(TooManyRequests) as raised:
            call_with_key(app, key)
        response = app.handle_user_exception(raised.value)
    assert_limited(response, "1 per 1 minute")
