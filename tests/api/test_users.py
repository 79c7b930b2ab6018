"""Users and per-plant roles (api.md §2): admin only, exact messages, bad input stores nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from openspc.auth.passwords import verify_password
from openspc.extensions import db
from openspc.models import RefreshToken, User, UserPlantRole
from tests.api.helpers import assert_refused

USERS = "/api/v1/users/"


@pytest.fixture
def admin(factory):
    return factory.user("admin", username="admin")


@pytest.fixture
def auth(factory, admin):
    return factory.headers(admin)


def user_count() -> int:
    return db.session.execute(sa.select(sa.func.count(User.id))).scalar_one()


def roles_of(user_id: int) -> dict[int, str]:
    rows = db.session.execute(
        sa.select(UserPlantRole.plant_id, UserPlantRole.role)
        .where(UserPlantRole.user_id == user_id)
    ).all()
    return dict(rows)


def reloaded(user_id: int) -> User:
    db.session.expire_all()
    return db.session.get(User, user_id)


def test_create_then_read_a_user(client, auth):
    response = client.post(USERS, headers=auth, json={
        "username": "bob", "email": "bob@example.com", "password": "password123", "extra": 1})
    assert response.status_code == 201
    body = response.json
    assert set(body) == {"id", "username", "email", "is_active", "created_at", "updated_at"}
    assert (body["username"], body["email"], body["is_active"]) == ("bob", "bob@example.com", True)
    assert verify_password(reloaded(body["id"]).hashed_password, "password123")
    fetched = client.get(f"{USERS}{body['id']}", headers=auth)
    assert fetched.status_code == 200
    assert fetched.json["plant_roles"] == []


def test_list_is_ordered_searchable_and_filterable(client, factory, auth):
    factory.user(username="zed")
    carol = factory.user(username="Carol")
    carol.email = "carol@plant.example"
    factory.user(username="dave").is_active = False
    db.session.commit()
    names = [u["username"] for u in client.get(USERS, headers=auth).json]
    assert names == sorted(names) and set(names) == {"admin", "zed", "Carol", "dave"}
    assert [u["username"] for u in client.get(f"{USERS}?search=CAROL", headers=auth).json] == [
        "Carol"]
    assert [u["username"] for u in client.get(f"{USERS}?search=PLANT.EX", headers=auth).json] == [
        "Carol"]
    active = client.get(f"{USERS}?active_only=true", headers=auth).json
    assert "dave" not in {u["username"] for u in active}
    assert client.get(USERS.rstrip("/"), headers=auth).status_code == 200


def test_list_is_capped_at_one_hundred(client, factory, auth):
    db.session.add_all(User(username=f"u{i:03d}", hashed_password="x") for i in range(105))
    db.session.commit()
    assert len(client.get(USERS, headers=auth).json) == 100


@pytest.mark.parametrize("field, value", [("username", "admin"), ("email", "taken@example.com")])
def test_duplicate_username_or_email_is_409(client, factory, auth, field, value):
    factory.user(username="holder").email = "taken@example.com"
    db.session.commit()
    before = user_count()
    body = {"username": "newbie", "email": "new@example.com", "password": "password123"}
    response = client.post(USERS, headers=auth, json={**body, field: value})
    assert response.status_code == 409
    assert response.json == {"detail": "User with this username or email already exists"}
    assert user_count() == before


def test_patch_applies_only_present_keys_and_rehashes(client, factory, auth):
    bob = factory.user(username="bob")
    bob.email = "bob@example.com"
    db.session.commit()
    response = client.patch(f"{USERS}{bob.id}", headers=auth, json={"password": "another-pass"})
    assert response.status_code == 200
    assert response.json["email"] == "bob@example.com"
    assert verify_password(reloaded(bob.id).hashed_password, "another-pass")
    response = client.patch(f"{USERS}{bob.id}", headers=auth, json={"email": None})
    assert response.json["email"] is None


def test_patch_to_a_taken_username_is_409(client, factory, auth):
    bob = factory.user(username="bob")
    response = client.patch(f"{USERS}{bob.id}", headers=auth, json={"username": "admin"})
    assert response.status_code == 409
    assert response.json == {"detail": "User with this username or email already exists"}
    assert reloaded(bob.id).username == "bob"


def test_admin_password_reset_revokes_the_users_sessions(client, factory, auth):
    bob = factory.user(username="bob", password="password123")
    bare = client.application.test_client(use_cookies=False)
    login = bare.post("/api/v1/auth/login", json={"username": "bob", "password": "password123"})
    assert login.status_code == 200
    client.patch(f"{USERS}{bob.id}", headers=auth, json={"password": "reset-by-admin"})
    db.session.expire_all()
    tokens = db.session.execute(sa.select(RefreshToken).filter_by(user_id=bob.id)).scalars().all()
    assert tokens and all(t.revoked_at is not None for t in tokens)


@pytest.mark.parametrize("method, path", [
    ("get", "{id}"), ("patch", "{id}"), ("delete", "{id}"), ("delete", "{id}/permanent"),
    ("post", "{id}/roles"),
])
def test_unknown_user_is_404(client, auth, factory, method, path):
    body = {"plant_id": factory.default_plant().id, "role": "operator"}
    kwargs = {"json": body} if method in ("patch", "post") else {}
    response = getattr(client, method)(USERS + path.format(id=9999), headers=auth, **kwargs)
    assert response.status_code == 404
    assert response.json == {"detail": "User 9999 not found"}


def test_deactivate_then_delete(client, factory, auth):
    bob = factory.user("operator", username="bob")
    refused = client.delete(f"{USERS}{bob.id}/permanent", headers=auth)
    assert refused.status_code == 400
    assert refused.json == {"detail": "Cannot delete an active user"}
    response = client.delete(f"{USERS}{bob.id}", headers=auth)
    assert response.status_code == 204 and response.data == b""
    assert reloaded(bob.id).is_active is False
    assert client.delete(f"{USERS}{bob.id}/permanent", headers=auth).status_code == 204
    assert reloaded(bob.id) is None
    assert roles_of(bob.id) == {}


def test_an_admin_cannot_deactivate_or_delete_themselves(client, admin, auth):
    response = client.delete(f"{USERS}{admin.id}", headers=auth)
    assert (response.status_code, response.json) == (
        400, {"detail": "Cannot deactivate your own account"})
    response = client.delete(f"{USERS}{admin.id}/permanent", headers=auth)
    assert (response.status_code, response.json) == (
        400, {"detail": "Cannot delete your own account"})
    assert reloaded(admin.id).is_active is True


def test_assign_role_upserts(client, factory, auth):
    bob = factory.user(username="bob")
    plant = factory.plant(name="North", code="NORTH")
    response = client.post(f"{USERS}{bob.id}/roles", headers=auth,
                           json={"plant_id": plant.id, "role": "operator"})
    assert response.status_code == 200
    assert response.json["plant_roles"] == [
        {"plant_id": plant.id, "plant_name": "North", "plant_code": "NORTH", "role": "operator"}]
    response = client.post(f"{USERS}{bob.id}/roles", headers=auth,
                           json={"plant_id": plant.id, "role": "engineer"})
    assert [r["role"] for r in response.json["plant_roles"]] == ["engineer"]
    assert roles_of(bob.id) == {plant.id: "engineer"}


def test_assign_role_at_an_unknown_plant_is_404(client, factory, auth):
    bob = factory.user(username="bob")
    response = client.post(f"{USERS}{bob.id}/roles", headers=auth,
                           json={"plant_id": 777, "role": "operator"})
    assert response.status_code == 404
    assert response.json == {"detail": "Plant 777 not found"}
    assert roles_of(bob.id) == {}


def test_remove_role(client, factory, auth):
    bob = factory.user("supervisor", username="bob")
    plant_id = factory.default_plant().id
    assert client.delete(f"{USERS}{bob.id}/roles/{plant_id}", headers=auth).status_code == 204
    assert roles_of(bob.id) == {}
    again = client.delete(f"{USERS}{bob.id}/roles/{plant_id}", headers=auth)
    assert again.status_code == 404
    assert again.json == {
        "detail": f"No role assignment found for user {bob.id} at plant {plant_id}"}


def test_an_admin_cannot_remove_their_own_admin_role(client, factory, admin, auth):
    plant_id = factory.default_plant().id
    response = client.delete(f"{USERS}{admin.id}/roles/{plant_id}", headers=auth)
    assert response.status_code == 400
    assert response.json == {"detail": "Cannot remove your own admin role"}
    assert roles_of(admin.id) == {plant_id: "admin"}


@pytest.mark.parametrize("role", ["operator", "supervisor", "engineer"])
@pytest.mark.parametrize("method, path", [
    ("get", ""), ("post", ""), ("get", "1"), ("patch", "1"), ("delete", "1"),
    ("delete", "1/permanent"), ("post", "1/roles"), ("delete", "1/roles/1"),
])
def test_every_route_needs_admin(client, factory, role, method, path):
    user = factory.user(role)
    kwargs = {"json": {}} if method in ("post", "patch") else {}
    response = getattr(client, method)(USERS + path, headers=factory.headers(user), **kwargs)
    assert response.status_code == 403
    assert response.json == {"detail": "Admin privileges required"}


def test_admin_of_any_plant_is_admin_here(client, factory):
    other = factory.plant()
    admin = factory.user("admin", other)
    assert client.get(USERS, headers=factory.headers(admin)).status_code == 200


def test_no_token_is_401(client):
    response = client.get(USERS)
    assert response.status_code == 401
    assert response.json == {"detail": "Not authenticated"}


@pytest.mark.parametrize("body, loc, kind", [
    ({"email": "a@b.c", "password": "password123"}, ["body", "username"], "missing"),
    ({"username": "ab", "password": "password123"}, ["body", "username"], "string_too_short"),
    ({"username": "a" * 51, "password": "password123"}, ["body", "username"], "string_too_long"),
    ({"username": "bob", "password": "short"}, ["body", "password"], "string_too_short"),
    ({"username": "bob"}, ["body", "password"], "missing"),
    ({"username": "bob", "password": "password123", "email": "e" * 256}, ["body", "email"],
     "string_too_long"),
    ({"username": 12, "password": "password123"}, ["body", "username"], "string_type"),
])
def test_create_with_bad_input_is_422_naming_the_field(client, auth, body, loc, kind):
    before = user_count()
    response = client.post(USERS, headers=auth, json=body)
    assert_refused(response, loc, kind)
    assert user_count() == before


@pytest.mark.parametrize("body, loc, kind", [
    ({"username": "xy"}, ["body", "username"], "string_too_short"),
    ({"password": "1234567"}, ["body", "password"], "string_too_short"),
    ({"is_active": "maybe"}, ["body", "is_active"], "bool_parsing"),
    ({"email": "e" * 256}, ["body", "email"], "string_too_long"),
])
def test_patch_with_bad_input_is_422_and_changes_nothing(client, factory, auth, body, loc, kind):
    bob = factory.user(username="bob")
    response = client.patch(f"{USERS}{bob.id}", headers=auth, json=body)
    assert_refused(response, loc, kind)
    user = reloaded(bob.id)
    assert (user.username, user.email, user.is_active) == ("bob", None, True)


@pytest.mark.parametrize("body, loc, kind", [
    ({"role": "operator"}, ["body", "plant_id"], "missing"),
    ({"plant_id": "x", "role": "operator"}, ["body", "plant_id"], "int_parsing"),
    ({"plant_id": 1, "role": "boss"}, ["body", "role"], "string_pattern_mismatch"),
    ({"plant_id": 1}, ["body", "role"], "missing"),
])
def test_assign_role_with_bad_input_is_422(client, factory, auth, body, loc, kind):
    bob = factory.user(username="bob")
    response = client.post(f"{USERS}{bob.id}/roles", headers=auth, json=body)
    assert_refused(response, loc, kind)
    assert roles_of(bob.id) == {}
