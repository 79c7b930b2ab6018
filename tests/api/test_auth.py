"""Auth flows (api.md §1, ops.md §2): cookie attributes, rotation, revocation, password change."""

from __future__ import annotations

import time
from datetime import timedelta

import jwt
import pytest
import sqlalchemy as sa
from flask_jwt_extended import create_access_token, create_refresh_token

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


NO_REUSE_INTERVAL = {"OPENSPC_REFRESH_REUSE_SECONDS": "0"}
"""Every second use of a refresh token counts as a theft (the tests of the interval are below)."""


@pytest.mark.parametrize("settings_overrides", [NO_REUSE_INTERVAL])
def test_refresh_rotates_and_the_old_token_is_refused(bare, alice, settings_overrides):
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


@pytest.mark.parametrize("settings_overrides", [NO_REUSE_INTERVAL])
def test_reusing_a_rotated_token_revokes_the_whole_family(bare, alice, settings_overrides):
    """The family is the one login's tokens; another login (another device) keeps its own."""
    first = refresh_cookie(login(bare))
    other_session = refresh_cookie(login(bare))
    second = refresh_cookie(bare.post(REFRESH, headers=with_cookie(first)))
    assert bare.post(REFRESH, headers=with_cookie(first)).status_code == 401
    family = [t for t in stored_tokens(alice.id) if t.jti != jwt.decode(
        other_session, SECRET, algorithms=["HS256"])["jti"]]
    assert len(family) == 2 and all(t.revoked_at is not None for t in family)
    response = bare.post(REFRESH, headers=with_cookie(second))
    assert response.status_code == 401
    assert response.json == {"detail": "Invalid or expired refresh token"}
    assert bare.post(REFRESH, headers=with_cookie(other_session)).status_code == 200


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
        assert bare.get("/api/v1/users/", headers=headers).status_code == 401  # token ended
        renewed = bare.post(REFRESH, headers=with_cookie(refresh_cookie(response)))
        headers = {"Authorization": f"Bearer {renewed.json['access_token']}"}
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


# -- concurrent refreshes, theft after the reuse interval, access tokens that die ------------


def test_a_refresh_repeated_within_the_reuse_interval_gets_the_same_successor(bare, alice):
    """Two tabs, a reload or a retrying proxy present one cookie twice: both are answered
    with the one successor, and nothing is revoked."""
    first = refresh_cookie(login(bare))
    answers = [bare.post(REFRESH, headers=with_cookie(first)) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    successors = {refresh_cookie(a) for a in answers}
    assert len(successors) == 1 and first not in successors
    for answer in answers:
        me = bare.get(ME, headers={"Authorization": f"Bearer {answer.json['access_token']}"})
        assert me.status_code == 200
    assert all(t.revoked_at is None for t in stored_tokens(alice.id))
    assert bare.post(REFRESH, headers=with_cookie(successors.pop())).status_code == 200


def test_a_repeated_refresh_follows_the_family_to_its_live_token(bare, alice):
    """The stale cookie gets the token that is live now, not one already rotated, so the
    browser never keeps a cookie whose next use would look like theft."""
    first = refresh_cookie(login(bare))
    second = refresh_cookie(bare.post(REFRESH, headers=with_cookie(first)))
    third = refresh_cookie(bare.post(REFRESH, headers=with_cookie(second)))
    assert refresh_cookie(bare.post(REFRESH, headers=with_cookie(first))) == third
    assert bare.post(REFRESH, headers=with_cookie(third)).status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"OPENSPC_REFRESH_REUSE_SECONDS": "1"}])
def test_reuse_after_the_interval_revokes_the_family_and_is_logged(
        bare, alice, settings_overrides, caplog):
    stolen = refresh_cookie(login(bare))
    elsewhere = refresh_cookie(login(bare))  # another device: a family of its own
    owner = bare.post(REFRESH, headers=with_cookie(stolen))
    owner_access = {"Authorization": f"Bearer {owner.json['access_token']}"}
    assert bare.get(ME, headers=owner_access).status_code == 200
    time.sleep(1.1)
    with caplog.at_level("WARNING"):
        thief = bare.post(REFRESH, headers=with_cookie(stolen),
                          environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert thief.status_code == 401
    assert thief.json == {"detail": "Invalid or expired refresh token"}
    assert thief.headers.getlist("Set-Cookie") == [CLEARED]
    again = bare.post(REFRESH, headers=with_cookie(refresh_cookie(owner)))
    assert (again.status_code, again.headers.getlist("Set-Cookie")) == (401, [CLEARED])
    assert bare.get(ME, headers=owner_access).status_code == 401
    assert bare.post(REFRESH, headers=with_cookie(elsewhere)).status_code == 200
    events = [r for r in caplog.records if "refresh_token_reuse" in r.getMessage()]
    assert len(events) == 1
    line = events[0].getMessage()
    assert f"'user_id': {alice.id}" in line and "203.0.113.9" in line
    assert stolen not in line and stolen.split(".")[2] not in line


def test_logout_ends_the_access_token_and_the_whole_family(bare, alice):
    session = login(bare)
    first = refresh_cookie(session)
    rotated = bare.post(REFRESH, headers=with_cookie(first))
    access = {"Authorization": f"Bearer {rotated.json['access_token']}"}
    assert bare.get(ME, headers=access).status_code == 200
    assert bare.post(LOGOUT, headers=with_cookie(first)).status_code == 200
    response = bare.get(ME, headers=access)
    assert (response.status_code, response.json) == (401, {"detail": "Invalid or expired token"})
    assert bare.get(ME, headers={
        "Authorization": f"Bearer {session.json['access_token']}"}).status_code == 401
    assert bare.post(REFRESH, headers=with_cookie(refresh_cookie(rotated))).status_code == 401
    assert bare.get(ME, headers={
        "Authorization": f"Bearer {login(bare).json['access_token']}"}).status_code == 200


def test_change_password_ends_every_access_token_and_hands_the_caller_a_new_session(
        bare, alice):
    elsewhere = login(bare).json["access_token"]
    mine = {"Authorization": f"Bearer {login(bare).json['access_token']}"}
    response = bare.post(CHANGE, headers=mine, json={
        "current_password": "password123", "new_password": "new-secret-1"})
    assert response.status_code == 200
    for token in (elsewhere, mine["Authorization"].split()[1]):
        denied = bare.get(ME, headers={"Authorization": f"Bearer {token}"})
        assert (denied.status_code, denied.json) == (401, {"detail": "Invalid or expired token"})
    renewed = bare.post(REFRESH, headers=with_cookie(refresh_cookie(response)))
    assert renewed.status_code == 200
    assert bare.get(ME, headers={
        "Authorization": f"Bearer {renewed.json['access_token']}"}).status_code == 200


def test_a_token_of_another_user_naming_a_jti_rotates_nothing(bare, alice, factory):
    """Rotation looks the token up by ``jti`` alone; one whose ``sub`` is not the token's
    owner is refused and its rotation rolled back."""
    token = refresh_cookie(login(bare))
    jti = jwt.decode(token, SECRET, algorithms=["HS256"])["jti"]
    bob = factory.user(username="bob")
    forged = create_refresh_token(identity=str(bob.id), additional_claims={"jti": jti})
    response = bare.post(REFRESH, headers=with_cookie(forged))
    assert (response.status_code, response.json) == (
        401, {"detail": "Invalid or expired refresh token"})
    assert [(t.rotated_at, t.revoked_at) for t in stored_tokens(alice.id)] == [(None, None)]
    assert bare.post(REFRESH, headers=with_cookie(token)).status_code == 200
