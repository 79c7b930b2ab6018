"""CORS: the configured browser origins may call the API with credentials; others get no grant."""

import pytest


@pytest.fixture
def settings_overrides():
    return {"OPENSPC_CORS_ORIGINS": "http://spc.example, http://localhost:5173"}


def test_a_configured_origin_is_granted_with_credentials(client):
    response = client.options("/api/v1/auth/login", headers={
        "Origin": "http://spc.example", "Access-Control-Request-Method": "POST"})
    assert response.headers["Access-Control-Allow-Origin"] == "http://spc.example"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


def test_an_unknown_origin_gets_no_grant(client):
    response = client.get("/health", headers={"Origin": "http://elsewhere.example"})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("method", ["GET", "OPTIONS"])
def test_a_request_without_origin_gets_no_cors_headers(client, method):
    """Only a browser's cross-origin request carries Origin; nothing else is granted anything
    (the grant used to be sent to every request, naming a configured origin)."""
    response = client.open("/api/v1/auth/login" if method == "OPTIONS" else "/health",
                           method=method)
    granted = [name for name, _ in response.headers if name.startswith("Access-Control-")]
    assert granted == []
    assert "Origin" in response.vary


def test_the_grant_names_the_asking_origin_only(client):
    response = client.get("/health", headers={"Origin": "http://localhost:5173"})
    assert response.headers.getlist("Access-Control-Allow-Origin") == ["http://localhost:5173"]
    assert "Origin" in response.vary
