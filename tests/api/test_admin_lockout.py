"""No sequence of API calls leaves the system without an active admin who can act, and the
Default plant is protected by its identity, not its code (issue 11, item 2)."""

from __future__ import annotations

import pytest

from openspc.extensions import db
from openspc.models import Plant

PLANTS = "/api/v1/plants/"
USERS = "/api/v1/users/"
LAST_ADMIN = "At least one active admin must remain"


@pytest.fixture
def admin(factory):
    user = factory.user("admin", username="root")
    return user, factory.headers(user)


def _admin_can_still_act(client, headers) -> None:
    created = client.post(PLANTS, headers=headers, json={"name": "After", "code": "AFTER"})
    assert created.status_code == 201, created.json
    user = client.post(USERS, headers=headers, json={"username": "newcomer",
                                                      "password": "password123"})
    assert user.status_code == 201, user.json


def test_renamed_default_plant_still_cannot_be_deleted(client, admin):
    _, headers = admin
    default = db.session.execute(db.select(Plant).filter_by(code="DEFAULT")).scalar_one()
    renamed = client.put(f"{PLANTS}{default.id}", headers=headers, json={"code": "RENAMED"})
    assert renamed.status_code == 200
    deleted = client.delete(f"{PLANTS}{default.id}", headers=headers)
    assert deleted.status_code == 400
    assert deleted.json == {"detail": "Cannot delete the Default plant"}
    _admin_can_still_act(client, headers)


def test_a_plant_named_default_is_an_ordinary_plant(client, admin):
    _, headers = admin
    default = db.session.execute(db.select(Plant).filter_by(code="DEFAULT")).scalar_one()
    client.put(f"{PLANTS}{default.id}", headers=headers, json={"code": "FIRST"})
    other = client.post(PLANTS, headers=headers, json={"name": "Impostor", "code": "DEFAULT"})
    assert client.delete(f"{PLANTS}{other.json['id']}", headers=headers).status_code == 204


def test_deleting_the_only_plant_where_admins_hold_their_role_is_refused(client, factory):
    other = factory.plant(name="Other", code="OTHER")
    headers = factory.headers(factory.user("admin", other))
    response = client.delete(f"{PLANTS}{other.id}", headers=headers)
    assert (response.status_code, response.json) == (409, {"detail": LAST_ADMIN})
    _admin_can_still_act(client, headers)


def test_the_last_admin_cannot_deactivate_themselves_through_patch(client, admin):
    user, headers = admin
    response = client.patch(f"{USERS}{user.id}", headers=headers, json={"is_active": False})
    assert (response.status_code, response.json) == (409, {"detail": LAST_ADMIN})
    _admin_can_still_act(client, headers)


def test_the_last_admin_cannot_demote_themselves(client, admin):
    user, headers = admin
    default = db.session.execute(db.select(Plant).filter_by(code="DEFAULT")).scalar_one()
    response = client.post(f"{USERS}{user.id}/roles", headers=headers,
                           json={"plant_id": default.id, "role": "operator"})
    assert (response.status_code, response.json) == (409, {"detail": LAST_ADMIN})
    _admin_can_still_act(client, headers)


def test_two_admins_cannot_remove_each_other_down_to_none(client, factory, admin):
    user, headers = admin
    second = factory.user("admin", username="second")
    second_headers = factory.headers(second)
    assert client.delete(f"{USERS}{user.id}", headers=second_headers).status_code == 204
    response = client.patch(f"{USERS}{second.id}", headers=second_headers,
                            json={"is_active": False})
    assert (response.status_code, response.json) == (409, {"detail": LAST_ADMIN})
    _admin_can_still_act(client, second_headers)


def test_admin_removing_another_admins_last_role_is_allowed_while_one_remains(
        client, factory, admin):
    user, headers = admin
    default = db.session.execute(db.select(Plant).filter_by(code="DEFAULT")).scalar_one()
    second = factory.user("admin", username="second")
    response = client.delete(f"{USERS}{second.id}/roles/{default.id}", headers=headers)
    assert response.status_code == 204
    response = client.delete(f"{USERS}{user.id}/roles/{default.id}",
                             headers=factory.headers(factory.user("admin", username="third")))
    assert response.status_code == 204
