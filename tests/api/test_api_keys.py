"""API keys (api.md §11, ops.md §3): routes, key format and verification, dual auth, scoping."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import g

from openspc.auth.api_keys import find_valid_key, generate_api_key
from openspc.auth.dual import check_api_key_permission, user_or_api_key
from openspc.errors import Forbidden, Unauthorized
from openspc.extensions import db
from openspc.models import ApiKey
from tests.api.helpers import assert_refused

KEYS = "/api/v1/api-keys/"


def key_count() -> int:
    return db.session.execute(sa.select(sa.func.count(ApiKey.id))).scalar_one()


def reloaded(key_id: str) -> ApiKey | None:
    db.session.expire_all()
    return db.session.get(ApiKey, key_id)


@pytest.fixture
def engineer(factory):
    return factory.user("engineer")


@pytest.fixture
def auth(factory, engineer):
    return factory.headers(engineer)


@pytest.fixture
def admin_auth(factory):
    return factory.headers(factory.user("admin"))


def create(client, auth, **body):
    response = client.post(KEYS, headers=auth, json={"name": "gateway", **body})
    assert response.status_code == 201, response.json
    return response.json


class TestRoutes:
    def test_create_returns_the_key_once_and_stores_only_its_hash(self, client, auth):
        body = create(client, auth)
        assert set(body) == {"id", "name", "key", "created_at", "expires_at", "last_used_at",
                             "rate_limit_per_minute", "is_active", "permissions", "revoked_at"}
        assert (body["rate_limit_per_minute"], body["is_active"], body["expires_at"]) == (
            60, True, None)
        assert body["permissions"] == {"characteristics": "all"}
        key = body["key"]
        assert key.startswith("openspc_") and len(key) == 8 + 8 + 43
        stored = reloaded(body["id"])
        assert stored.key_prefix == key[:16]
        assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
        fetched = client.get(f"{KEYS}{body['id']}", headers=auth)
        assert fetched.status_code == 200
        assert "key" not in fetched.json and "key_hash" not in fetched.json

    def test_list_is_newest_first(self, client, auth):
        first = create(client, auth, name="first")
        second = create(client, auth, name="second")
        db.session.get(ApiKey, first["id"]).created_at = datetime.now(UTC) - timedelta(hours=1)
        db.session.commit()
        assert [k["id"] for k in client.get(KEYS, headers=auth).json] == [second["id"], first["id"]]

    def test_create_with_expiry_rate_limit_and_scope(self, client, factory, auth):
        char = factory.characteristic()
        body = create(client, auth, expires_at="2030-01-02T03:04:05", rate_limit_per_minute=5,
                      permissions={"characteristics": [char.id, char.id]})
        assert body["expires_at"] == "2030-01-02T03:04:05Z"
        assert body["rate_limit_per_minute"] == 5
        assert reloaded(body["id"]).permissions == {"characteristics": [char.id]}

    def test_patch_updates_the_present_fields(self, client, factory, auth):
        char = factory.characteristic()
        key_id = create(client, auth)["id"]
        response = client.patch(f"{KEYS}{key_id}", headers=auth, json={
            "name": "renamed", "rate_limit_per_minute": 1000, "is_active": False,
            "permissions": {"characteristics": [char.id]}})
        assert response.status_code == 200
        assert (response.json["name"], response.json["rate_limit_per_minute"],
                response.json["is_active"]) == ("renamed", 1000, False)
        assert reloaded(key_id).permissions == {"characteristics": [char.id]}

    def test_revoke_and_delete_need_admin(self, client, auth, admin_auth):
        key_id = create(client, auth)["id"]
        for method, path in (("post", f"{key_id}/revoke"), ("delete", key_id)):
            response = getattr(client, method)(KEYS + path, headers=auth)
            assert response.status_code == 403
            assert response.json == {"detail": "Admin privileges required"}
        revoked = client.post(f"{KEYS}{key_id}/revoke", headers=admin_auth)
        assert revoked.status_code == 200 and revoked.json["is_active"] is False
        deleted = client.delete(f"{KEYS}{key_id}", headers=admin_auth)
        assert deleted.status_code == 204 and deleted.data == b""
        assert reloaded(key_id) is None

    def test_a_revoked_key_stays_revoked(self, client, auth, admin_auth):
        """Revocation needs admin and is final: no one re-enables the key with PATCH."""
        key = create(client, auth)
        revoked = client.post(f"{KEYS}{key['id']}/revoke", headers=admin_auth)
        assert revoked.status_code == 200
        assert (revoked.json["is_active"], revoked.json["revoked_at"] is not None) == (False, True)
        for headers in (auth, admin_auth):
            response = client.patch(f"{KEYS}{key['id']}", headers=headers,
                                    json={"is_active": True})
            assert response.status_code == 409
            assert response.json == {
                "detail": f"API key {key['id']} is revoked and cannot be re-enabled"}
        assert reloaded(key["id"]).is_active is False
        assert find_valid_key(key["key"]) is None
        renamed = client.patch(f"{KEYS}{key['id']}", headers=auth, json={"name": "retired"})
        assert (renamed.status_code, renamed.json["is_active"]) == (200, False)

    def test_a_key_paused_by_patch_can_be_resumed(self, client, auth):
        key = create(client, auth)
        for active in (False, True):
            response = client.patch(f"{KEYS}{key['id']}", headers=auth,
                                    json={"is_active": active})
            assert (response.status_code, response.json["is_active"]) == (200, active)
        assert find_valid_key(key["key"]) is not None

    @pytest.mark.parametrize("expires_at", [
        "2020-01-01T00:00:00Z", "2020-01-01T00:00:00",
        (datetime.now(UTC) - timedelta(seconds=5)).isoformat(),
    ], ids=["aware", "naive", "just-past"])
    def test_a_key_cannot_be_created_already_expired(self, client, auth, expires_at):
        response = client.post(KEYS, headers=auth, json={"name": "k", "expires_at": expires_at})
        assert response.status_code == 422
        assert response.json["detail"] == [{
            "type": "datetime_future", "loc": ["body", "expires_at"],
            "msg": "Input should be in the future", "input": expires_at}]
        assert key_count() == 0

    @pytest.mark.parametrize("method, path", [
        ("get", "{id}"), ("patch", "{id}"), ("delete", "{id}"), ("post", "{id}/revoke")])
    def test_unknown_key_is_404(self, client, admin_auth, method, path):
        missing = "0b4c7d0e-1111-4222-8333-444455556666"
        kwargs = {"json": {"name": "x"}} if method == "patch" else {}
        response = getattr(client, method)(KEYS + path.format(id=missing), headers=admin_auth,
                                           **kwargs)
        assert response.status_code == 404
        assert response.json == {"detail": f"API key {missing} not found"}

    @pytest.mark.parametrize("role", ["operator", "supervisor"])
    @pytest.mark.parametrize("method, path", [("get", ""), ("post", ""), ("get", "x"),
                                              ("patch", "x")])
    def test_reads_and_writes_need_engineer(self, client, factory, role, method, path):
        user = factory.user(role)
        kwargs = {"json": {"name": "k"}} if method in ("post", "patch") else {}
        response = getattr(client, method)(KEYS + path, headers=factory.headers(user), **kwargs)
        assert response.status_code == 403
        assert response.json == {"detail": "Engineer or higher privileges required"}
        assert key_count() == 0

    def test_scope_to_another_plants_characteristic_is_refused(self, client, factory, auth):
        foreign = factory.characteristic(factory.hierarchy(factory.plant()))
        response = client.post(KEYS, headers=auth, json={
            "name": "k", "permissions": {"characteristics": [foreign.id]}})
        assert response.status_code == 403
        assert response.json == {"detail": "engineer or higher privileges required for this plant"}
        assert key_count() == 0

    def test_a_key_scoped_to_another_plant_cannot_be_changed(self, client, factory, auth):
        other_plant = factory.plant()
        foreign = factory.characteristic(factory.hierarchy(other_plant))
        owner = factory.user("engineer", other_plant)
        key_id = create(client, factory.headers(owner), name="theirs",
                        permissions={"characteristics": [foreign.id]})["id"]
        own = factory.characteristic()
        response = client.patch(f"{KEYS}{key_id}", headers=auth, json={
            "name": "mine", "permissions": {"characteristics": [own.id]}})
        assert response.status_code == 403
        assert response.json == {"detail": "engineer or higher privileges required for this plant"}
        stored = reloaded(key_id)
        assert (stored.name, stored.permissions) == ("theirs", {"characteristics": [foreign.id]})

    def test_scope_to_an_unknown_characteristic_is_422_naming_it(self, client, factory, auth):
        char = factory.characteristic()
        response = client.post(KEYS, headers=auth, json={
            "name": "k", "permissions": {"characteristics": [char.id, 9999]}})
        assert response.status_code == 422
        assert response.json["detail"] == [{
            "type": "value_error", "loc": ["body", "permissions", "characteristics", 1],
            "msg": "Value error, Characteristic 9999 not found", "input": 9999}]
        assert key_count() == 0

    @pytest.mark.parametrize("body, loc, kind", [
        ({}, ["body", "name"], "missing"),
        ({"name": ""}, ["body", "name"], "string_too_short"),
        ({"name": "n" * 256}, ["body", "name"], "string_too_long"),
        ({"name": "k", "rate_limit_per_minute": 0}, ["body", "rate_limit_per_minute"],
         "greater_than_equal"),
        ({"name": "k", "rate_limit_per_minute": 1001}, ["body", "rate_limit_per_minute"],
         "less_than_equal"),
        ({"name": "k", "rate_limit_per_minute": "many"}, ["body", "rate_limit_per_minute"],
         "int_parsing"),
        ({"name": "k", "expires_at": "tomorrow"}, ["body", "expires_at"],
         "datetime_from_date_parsing"),
        ({"name": "k", "permissions": {}}, ["body", "permissions", "characteristics"], "missing"),
        ({"name": "k", "permissions": {"characteristics": "some"}},
         ["body", "permissions", "characteristics"], "value_error"),
        ({"name": "k", "permissions": {"characteristics": [1, "two"]}},
         ["body", "permissions", "characteristics"], "value_error"),
        ({"name": "k", "permissions": "all"}, ["body", "permissions"], "dict_type"),
    ])
    def test_create_with_bad_input_is_422_naming_the_field(self, client, auth, body, loc, kind):
        response = client.post(KEYS, headers=auth, json=body)
        assert_refused(response, loc, kind)
        assert key_count() == 0

    @pytest.mark.parametrize("body, loc", [
        ({"name": ""}, ["body", "name"]),
        ({"rate_limit_per_minute": 0}, ["body", "rate_limit_per_minute"]),
        ({"is_active": "sometimes"}, ["body", "is_active"]),
        ({"permissions": {"characteristics": True}}, ["body", "permissions", "characteristics"]),
    ])
    def test_patch_with_bad_input_is_422_and_changes_nothing(self, client, auth, body, loc):
        key_id = create(client, auth)["id"]
        response = client.patch(f"{KEYS}{key_id}", headers=auth, json=body)
        assert response.status_code == 422
        assert [i["loc"] for i in response.json["detail"]] == [loc]
        stored = reloaded(key_id)
        assert (stored.name, stored.rate_limit_per_minute, stored.is_active) == (
            "gateway", 60, True)
        assert stored.permissions == {"characteristics": "all"}


def store_key(**fields) -> tuple[str, ApiKey]:
    new = generate_api_key()
    row = ApiKey(name="k", key_hash=new.digest, key_prefix=new.prefix, **fields)
    db.session.add(row)
    db.session.commit()
    return new.plaintext, row


class TestVerification:
    def test_generated_keys_are_unique_with_a_per_key_lookup_id(self):
        keys = [generate_api_key() for _ in range(200)]
        assert len({k.prefix for k in keys}) == 200
        for k in keys:
            assert k.prefix == k.plaintext[:16] and k.prefix.startswith("openspc_")
            assert k.digest == hashlib.sha256(k.plaintext.encode()).hexdigest()

    def test_the_right_key_is_found_among_many(self, app):
        plaintexts = [store_key()[0] for _ in range(5)]
        for plaintext in plaintexts:
            found = find_valid_key(plaintext)
            assert found is not None and found.key_prefix == plaintext[:16]

    @pytest.mark.parametrize("mangle", [
        lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"),  # right lookup id, wrong secret
        lambda k: "openspc_" + "x" * 8 + k[16:],             # unknown lookup id
        lambda k: k[:16],                                    # prefix alone
        lambda k: "",
        lambda k: "Bearer " + k,
    ])
    def test_a_wrong_key_is_refused(self, app, mangle):
        plaintext, _ = store_key()
        assert find_valid_key(mangle(plaintext)) is None

    def test_inactive_and_expired_keys_are_refused(self, app):
        now = datetime.now(UTC)
        inactive, _ = store_key(is_active=False)
        expired, _ = store_key(expires_at=now - timedelta(seconds=1))
        future, _ = store_key(expires_at=now + timedelta(hours=1))
        assert find_valid_key(inactive) is None
        assert find_valid_key(expired) is None
        assert find_valid_key(future) is not None


class TestDualAuthentication:
    """``user_or_api_key``, exercised on a decorated function inside a request context."""

    @staticmethod
    def caller(app, headers):
        @user_or_api_key
        def view():
            return g.caller

        with app.test_request_context("/api/v1/data-entry/submit", method="POST",
                                      headers=headers):
            return view()

    def test_a_valid_key_is_accepted_and_its_use_recorded(self, app):
        plaintext, row = store_key()
        caller = self.caller(app, {"X-API-Key": plaintext})
        assert caller.user is None and caller.api_key.id == row.id
        assert reloaded(row.id).last_used_at is not None

    def test_a_bearer_token_wins_over_a_key(self, app, factory):
        plaintext, row = store_key()
        user = factory.user("operator")
        caller = self.caller(app, {**factory.headers(user), "X-API-Key": plaintext})
        assert caller.user.id == user.id and caller.api_key is None
        assert reloaded(row.id).last_used_at is None

    def test_an_invalid_bearer_falls_back_to_the_key(self, app):
        plaintext, row = store_key()
        caller = self.caller(app, {"Authorization": "Bearer junk", "X-API-Key": plaintext})
        assert caller.api_key.id == row.id

    @pytest.mark.parametrize("state", ["unknown", "inactive", "expired", "none"])
    def test_bad_keys_are_401_not_authenticated(self, app, state):
        plaintext, row = store_key()
        if state == "inactive":
            row.is_active = False
        if state == "expired":
            row.expires_at = datetime.now(UTC) - timedelta(minutes=1)
        db.session.commit()
        headers = {"none": {}, "unknown": {"X-API-Key": plaintext + "x"}}.get(
            state, {"X-API-Key": plaintext})
        with pytest.raises(Unauthorized) as raised:
            self.caller(app, headers)
        assert raised.value.detail == "Not authenticated"
        assert raised.value.headers == {"WWW-Authenticate": "Bearer"}
        assert reloaded(row.id).last_used_at is None

    def test_a_user_who_must_change_password_is_refused(self, app, factory):
        user = factory.user("operator", must_change_password=True)
        with pytest.raises(Forbidden):
            self.caller(app, factory.headers(user))


class TestPermissionScope:
    def test_all_allows_any_characteristic(self, app):
        _, row = store_key()
        check_api_key_permission(row, 123)

    def test_a_list_allows_only_its_ids(self, app):
        _, row = store_key(permissions={"characteristics": [4, 7]})
        check_api_key_permission(row, 7)
        with pytest.raises(Forbidden) as raised:
            check_api_key_permission(row, 5)
        assert raised.value.detail == "API key does not have permission for characteristic 5"

    def test_a_user_caller_is_not_scoped(self, app):
        check_api_key_permission(None, 5)
