"""Auth flows (api.md §1, ops.md §2): cookie attributes, rotation, revocation, password change."""

from __future__ import annotations

import time
from datetime import timedelta

import jwt
import pytest
import sqlalchemy as sa
from flask_jwt_extended import create_access_token

from openspc.auth.passwords import verify_password
from openspc.extensions import db
from openspc.models import RefreshToken, User

SECRET = "test-secret-" + "x" * 40
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"
CHANGE = "/api/v1/auth/change-password"
CLEARED = 'refresh_token=""; Max-Age=0; Path=/api/v1/auth'


@pytest.fixture
def bare(app):
    """A client without a cookie jar: every test says which refresh cookie it presents."""
    return app.test_client(use_cookies=False)


def login(bare, username="alice", password="password123", **extra):
    return bare.post(LOGIN, json={"username": username, "password": password, **extra})


def refresh_cookie(response) -> str:
    """The refresh token set by a response (exactly one Set-Cookie for it)."""
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("refresh_token=")]
    assert len(cookies) == 1, cookies
    return cookies[0].split(";")[0].split("=", 1)[1]


def cookie_attributes(response) -> set[str]:
    header = response.headers.getlist("Set-Cookie")[0]
    return {part.strip() for part in header.split(";")[1:]}


def with_cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"refresh_token={token}"}


def stored_tokens(user_id: int) -> list[RefreshToken]:
    db.session.expire_all()
    query = sa.select(RefreshToken).where(RefreshToken.user_id == user_id)
    return list(db.session.execute(query).scalars())


@pytest.fixture
def alice(factory):
    return factory.user("engineer", username="alice", password="password123")


def test_login_returns_the_login_response_and_the_exact_cookie(bare, alice, factory):
    response = login(bare)
    assert response.status_code == 200
    body = response.json
    assert body["token_type"] == "bearer"
    assert body["must_change_password"] is False
    assert body["user"]["username"] == "alice"
    assert body["user"]["plant_roles"] == [
        {"plant_id": factory.default_plant().id, "plant_name": "Default Plant",
         "plant_code": "DEFAULT", "role": "engineer"}
    ]
    assert body["user"]["created_at"].endswith("Z")
    assert cookie_attributes(response) == {
        "HttpOnly", "Max-Age=604800", "Path=/api/v1/auth", "SameSite=Lax"
    }
    access = jwt.decode(body["access_token"], SECRET, algorithms=["HS256"])
    assert (access["sub"], access["username"], access["type"]) == (str(alice.id), "alice", "access")
    assert access["exp"] - access["iat"] == 15 * 60
    refresh = jwt.decode(refresh_cookie(response), SECRET, algorithms=["HS256"])
    assert (refresh["sub"], refresh["type"]) == (str(alice.id), "refresh")
    assert refresh["exp"] - refresh["iat"] == 7 * 24 * 3600
    assert [t.jti for t in stored_tokens(alice.id)] == [refresh["jti"]]


def test_remember_me_sets_a_thirty_day_cookie_with_a_seven_day_token(bare, alice):
    response = login(bare, remember_me=True)
    assert "Max-Age=2592000" in cookie_attributes(response)
    refresh = jwt.decode(refresh_cookie(response), SECRET, algorithms=["HS256"])
    assert refresh["exp"] - refresh["iat"] == 7 * 24 * 3600


@pytest.mark.parametrize("settings_overrides", [{"OPENSPC_COOKIE_SECURE": "true"}])
def test_cookie_is_secure_when_configured(bare, alice, settings_overrides):
    assert "Secure" in cookie_attributes(login(bare))


def test_cookie_is_not_secure_by_default(bare, alice):
    assert "Secure" not in cookie_attributes(login(bare))


@pytest.mark.parametrize("username, password", [
    ("alice", "wrong-password"), ("nobody", "password123"),
])
def test_login_failure_is_one_message_without_www_authenticate(bare, alice, username, password):
    response = login(bare, username, password)
    assert response.status_code == 401
    assert response.json == {"detail": "Invalid username or password"}
    assert "WWW-Authenticate" not in response.headers
    assert "Set-Cookie" not in response.headers
    assert stored_tokens(alice.id) == []


def test_inactive_user_cannot_log_in(bare, alice):
    alice.is_active = False
    db.session.commit()
    response = login(bare)
    assert response.status_code == 401
    assert response.json == {"detail": "Invalid username or password"}


def test_refresh_rotates_and_the_old_token_is_refused(bare, alice):
    first = refresh_cookie(login(bare))
    response = bare.post(REFRESH, headers=with_cookie(first))
    assert response.status_code == 200
    assert set(response.json) == {"access_token", "token_type"}
    assert response.json["token_type"] == "bearer"
    assert cookie_attributes(response) == {
        "HttpOnly", "Max-Age=604800", "Path=/api/v1/auth", "SameSite=Lax"
    }
    second = refresh_cookie(response)
    assert second != first
    assert bare.get(ME, headers={"Authorization": f"Bearer {response.json['access_token']}"}).json[
        "username"] == "alice"

    again = bare.post(REFRESH, headers=with_cookie(first))
    assert again.status_code == 401
    assert again.json == {"detail": "Invalid or expired refresh token"}
    assert again.headers.getlist("Set-Cookie") == [CLEARED]


def test_reusing_a_rotated_token_revokes_the_whole_family(bare, alice):
    first = refresh_cookie(login(bare))
    other_session = refresh_cookie(login(bare))
    second = refresh_cookie(bare.post(REFRESH, headers=with_cookie(first)))
    assert bare.post(REFRESH, headers=with_cookie(first)).status_code == 401
    assert all(t.revoked_at is not None for t in stored_tokens(alice.id))
    for token in (second, other_session):
        response = bare.post(REFRESH, headers=with_cookie(token))
        assert response.status_code == 401
        assert response.json == {"detail": "Invalid or expired refresh token"}


def test_refresh_without_cookie(bare):
    response = bare.post(REFRESH)
    assert response.status_code == 401
    assert response.json == {"detail": "No refresh token"}


def test_refresh_refuses_an_access_token_and_garbage(bare, alice):
    access = login(bare).json["access_token"]
    for token in (access, "not-a-jwt"):
        response = bare.post(REFRESH, headers=with_cookie(token))
        assert response.status_code == 401
        assert response.json == {"detail": "Invalid or expired refresh token"}


def test_refresh_for_a_deactivated_user(bare, alice):
    token = refresh_cookie(login(bare))
    alice.is_active = False
    db.session.commit()
    response = bare.post(REFRESH, headers=with_cookie(token))
    assert response.status_code == 401
    assert response.json == {"detail": "User not found or inactive"}


def test_logout_revokes_the_presented_token_and_clears_the_cookie(bare, alice):
    token = refresh_cookie(login(bare))
    kept = refresh_cookie(login(bare))
    response = bare.post(LOGOUT, headers=with_cookie(token))
    assert response.status_code == 200
    assert response.json == {"message": "Logged out successfully"}
    assert response.headers.getlist("Set-Cookie") == [CLEARED]
    assert bare.post(REFRESH, headers=with_cookie(kept)).status_code == 200
    assert bare.post(REFRESH, headers=with_cookie(token)).status_code == 401


def test_logout_without_a_cookie_still_succeeds(bare):
    response = bare.post(LOGOUT)
    assert response.status_code == 200
    assert response.headers.getlist("Set-Cookie") == [CLEARED]


def test_the_cookie_jar_flow_of_a_browser(client, alice):
    """The browser path: the cookie set at login is sent back by the client on refresh."""
    client.post(LOGIN, json={"username": "alice", "password": "password123"})
    assert client.post(REFRESH).status_code == 200
    assert client.post(REFRESH).status_code == 200
    client.post(LOGOUT)
    assert client.post(REFRESH).json == {"detail": "No refresh token"}


def test_me_returns_the_user_with_roles(client, factory, alice):
    response = client.get(ME, headers=factory.headers(alice))
    assert response.status_code == 200
    assert response.json["id"] == alice.id
    assert response.json["plant_roles"][0]["role"] == "engineer"
    assert set(response.json) == {
        "id", "username", "email", "is_active", "created_at", "updated_at", "plant_roles"
    }


@pytest.mark.parametrize("headers, detail", [
    ({}, "Not authenticated"),
    ({"Authorization": "Basic abc"}, "Not authenticated"),
    ({"Authorization": "Bearer nonsense"}, "Invalid or expired token"),
])
def test_me_needs_a_bearer_token(client, headers, detail):
    response = client.get(ME, headers=headers)
    assert response.status_code == 401
    assert response.json == {"detail": detail}
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_refresh_token_is_not_an_access_token(bare, alice):
    token = refresh_cookie(login(bare))
    response = bare.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json == {"detail": "Invalid or expired token"}


def test_change_password_sets_the_hash_and_revokes_every_session(bare, factory, alice):
    token = refresh_cookie(login(bare))
    response = bare.post(CHANGE, headers=factory.headers(alice), json={
        "current_password": "password123", "new_password": "new-secret-1"})
    assert response.status_code == 200
    assert response.json == {"message": "Password changed successfully"}
    db.session.expire_all()
    assert verify_password(db.session.get(User, alice.id).hashed_password, "new-secret-1")
    assert bare.post(REFRESH, headers=with_cookie(token)).status_code == 401
    assert login(bare).status_code == 401
    assert login(bare, password="new-secret-1").status_code == 200


@pytest.mark.parametrize("body, detail", [
    ({"current_password": "wrong-one", "new_password": "new-secret-1"},
     "Current password is incorrect"),
    ({"current_password": "password123", "new_password": "password123"},
     "New password must be different from current password"),
])
def test_change_password_errors(client, factory, alice, body, detail):
    before = alice.hashed_password
    response = client.post(CHANGE, headers=factory.headers(alice), json=body)
    assert response.status_code == 400
    assert response.json == {"detail": detail}
    db.session.expire_all()
    assert db.session.get(User, alice.id).hashed_password == before


def test_change_password_validates_the_new_password(client, factory, alice):
    response = client.post(CHANGE, headers=factory.headers(alice), json={
        "current_password": "password123", "new_password": "short"})
    assert response.status_code == 422
    assert response.json["detail"] == [{
        "type": "string_too_short", "loc": ["body", "new_password"],
        "msg": "String should have at least 8 characters", "input": "short"}]


class TestMustChangePassword:
    @pytest.fixture
    def bootstrap_admin(self, factory):
        return factory.user("admin", username="root", password="password123",
                            must_change_password=True)

    def test_login_reports_it(self, bare, bootstrap_admin):
        assert login(bare, "root").json["must_change_password"] is True

    def test_guarded_routes_refuse_with_a_clear_message(self, client, factory, bootstrap_admin):
        for path in ("/api/v1/users/", "/api/v1/plants/", "/api/v1/api-keys/"):
            response = client.get(path, headers=factory.headers(bootstrap_admin))
            assert response.status_code == 403, path
            assert response.json == {"detail": (
                "Password change required: change your password with "
                "POST /api/v1/auth/change-password")}

    def test_auth_routes_stay_open_and_the_change_lifts_it(self, bare, factory, bootstrap_admin):
        headers = factory.headers(bootstrap_admin)
        assert bare.get(ME, headers=headers).status_code == 200
        assert bare.post(LOGOUT).status_code == 200
        response = bare.post(CHANGE, headers=headers, json={
            "current_password": "password123", "new_password": "brand-new-pw"})
        assert response.status_code == 200
        assert bare.get("/api/v1/users/", headers=headers).status_code == 200
        assert login(bare, "root", "brand-new-pw").json["must_change_password"] is False


@pytest.mark.parametrize("settings_overrides", [{"OPENSPC_DEV_MODE": "true"}])
def test_dev_mode_neither_reports_nor_enforces_it(bare, factory, settings_overrides):
    user = factory.user("admin", username="root", must_change_password=True)
    assert login(bare, "root").json["must_change_password"] is False
    assert bare.get("/api/v1/users/", headers=factory.headers(user)).status_code == 200


def test_an_access_token_accepted_once_is_refused_once_it_expires(client, alice):
    """Verified tokens are remembered until they expire, and not a moment longer."""
    token = create_access_token(identity=str(alice.id), expires_delta=timedelta(seconds=1))
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(ME, headers=headers).status_code == 200
    time.sleep(1.2)
    response = client.get(ME, headers=headers)
    assert response.status_code == 401
    assert response.json == {"detail": "Invalid or expired token"}
