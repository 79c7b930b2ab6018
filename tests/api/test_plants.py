"""Plants (api.md §3), with plant-scoped reads (our departure from the reference)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from openspc.extensions import db
from openspc.models import Plant, UserPlantRole
from tests.api.helpers import assert_refused

PLANTS = "/api/v1/plants/"


def plant_count() -> int:
    return db.session.execute(sa.select(sa.func.count(Plant.id))).scalar_one()


def reloaded(plant_id: int) -> Plant | None:
    db.session.expire_all()
    return db.session.get(Plant, plant_id)


@pytest.fixture
def admin(factory):
    return factory.user("admin", username="admin")


@pytest.fixture
def auth(factory, admin):
    return factory.headers(admin)


def test_create_plant_and_every_admin_becomes_admin_there(client, factory, admin, auth):
    other_admin = factory.user("admin", factory.plant())
    engineer = factory.user("engineer")
    response = client.post(PLANTS, headers=auth, json={
        "name": "North", "code": "N-1_X", "settings": {"shift": 3}})
    assert response.status_code == 201
    body = response.json
    assert set(body) == {"id", "name", "code", "is_active", "settings", "created_at", "updated_at"}
    assert (body["name"], body["code"], body["is_active"], body["settings"]) == (
        "North", "N-1_X", True, {"shift": 3})
    admins = db.session.execute(
        sa.select(UserPlantRole.user_id).filter_by(plant_id=body["id"], role="admin")
    ).scalars().all()
    assert sorted(admins) == sorted([admin.id, other_admin.id])
    assert engineer.id not in admins


@pytest.mark.parametrize("field, value", [("name", "Default Plant"), ("code", "DEFAULT")])
def test_duplicate_name_or_code_is_409(client, auth, field, value):
    before = plant_count()
    response = client.post(PLANTS, headers=auth, json={"name": "X", "code": "X", field: value})
    assert response.status_code == 409
    assert response.json == {"detail": "Plant with this name or code already exists"}
    assert plant_count() == before


def test_admin_lists_every_plant_ordered_by_name(client, factory, auth):
    factory.plant(name="Zulu")
    factory.plant(name="Alpha").is_active = False
    db.session.commit()
    names = [p["name"] for p in client.get(PLANTS, headers=auth).json]
    assert names == ["Alpha", "Default Plant", "Zulu"]
    names = [p["name"] for p in client.get(f"{PLANTS}?active_only=true", headers=auth).json]
    assert names == ["Default Plant", "Zulu"]


def test_a_user_sees_only_the_plants_where_they_hold_a_role(client, factory):
    mine = factory.plant(name="Mine")
    theirs = factory.plant(name="Theirs")
    operator = factory.user("operator", mine)
    headers = factory.headers(operator)
    assert [p["name"] for p in client.get(PLANTS, headers=headers).json] == ["Mine"]
    assert client.get(f"{PLANTS}{mine.id}", headers=headers).json["name"] == "Mine"
    response = client.get(f"{PLANTS}{theirs.id}", headers=headers)
    assert response.status_code == 403
    assert response.json == {"detail": "operator or higher privileges required for this plant"}


def test_a_user_without_any_role_sees_no_plant(client, factory):
    nobody = factory.user()
    assert client.get(PLANTS, headers=factory.headers(nobody)).json == []


def test_put_is_a_partial_update(client, factory, auth):
    plant = factory.plant(name="Old", code="OLD")
    response = client.put(f"{PLANTS}{plant.id}", headers=auth, json={"name": "New"})
    assert response.status_code == 200
    assert (response.json["name"], response.json["code"]) == ("New", "OLD")
    response = client.put(f"{PLANTS}{plant.id}", headers=auth, json={"code": "DEFAULT"})
    assert response.status_code == 409
    assert response.json == {"detail": "Plant with this name or code already exists"}
    assert reloaded(plant.id).code == "OLD"


def test_delete_plant(client, factory, auth):
    plant = factory.plant()
    worker = factory.user("operator", plant)
    response = client.delete(f"{PLANTS}{plant.id}", headers=auth)
    assert response.status_code == 204 and response.data == b""
    assert reloaded(plant.id) is None
    roles = db.session.execute(sa.select(UserPlantRole).filter_by(user_id=worker.id)).all()
    assert roles == []


def test_the_default_plant_cannot_be_deleted(client, factory, auth):
    default = factory.default_plant()
    response = client.delete(f"{PLANTS}{default.id}", headers=auth)
    assert response.status_code == 400
    assert response.json == {"detail": "Cannot delete the Default plant"}
    assert reloaded(default.id) is not None


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_unknown_plant_is_404(client, auth, method):
    kwargs = {"json": {}} if method == "put" else {}
    response = getattr(client, method)(f"{PLANTS}4242", headers=auth, **kwargs)
    assert response.status_code == 404
    assert response.json == {"detail": "Plant 4242 not found"}


@pytest.mark.parametrize("role", ["operator", "supervisor", "engineer"])
@pytest.mark.parametrize("method, path", [("post", ""), ("put", "1"), ("delete", "1")])
def test_writes_need_admin(client, factory, role, method, path):
    before = plant_count()
    user = factory.user(role)
    kwargs = {"json": {"name": "X", "code": "X"}} if method != "delete" else {}
    response = getattr(client, method)(PLANTS + path, headers=factory.headers(user), **kwargs)
    assert response.status_code == 403
    assert response.json == {"detail": "Admin privileges required"}
    assert plant_count() == before


def test_reads_need_a_token(client):
    response = client.get(PLANTS)
    assert response.status_code == 401
    assert response.json == {"detail": "Not authenticated"}


@pytest.mark.parametrize("body, loc, kind", [
    ({"code": "X"}, ["body", "name"], "missing"),
    ({"name": "", "code": "X"}, ["body", "name"], "string_too_short"),
    ({"name": "n" * 101, "code": "X"}, ["body", "name"], "string_too_long"),
    ({"name": "N"}, ["body", "code"], "missing"),
    ({"name": "N", "code": "lower"}, ["body", "code"], "string_pattern_mismatch"),
    ({"name": "N", "code": "ABCDEFGHIJK"}, ["body", "code"], "string_too_long"),
    ({"name": "N", "code": "X", "is_active": "perhaps"}, ["body", "is_active"], "bool_parsing"),
    ({"name": "N", "code": "X", "settings": [1]}, ["body", "settings"], "dict_type"),
])
def test_create_with_bad_input_is_422_naming_the_field(client, auth, body, loc, kind):
    before = plant_count()
    response = client.post(PLANTS, headers=auth, json=body)
    assert_refused(response, loc, kind)
    assert plant_count() == before


@pytest.mark.parametrize("body, loc, kind", [
    ({"name": ""}, ["body", "name"], "string_too_short"),
    ({"code": "bad code"}, ["body", "code"], "string_pattern_mismatch"),
    ({"settings": "text"}, ["body", "settings"], "dict_type"),
])
def test_put_with_bad_input_is_422_and_changes_nothing(client, factory, auth, body, loc, kind):
    plant = factory.plant(name="Keep", code="KEEP")
    response = client.put(f"{PLANTS}{plant.id}", headers=auth, json=body)
    assert_refused(response, loc, kind)
    kept = reloaded(plant.id)
    assert (kept.name, kept.code, kept.settings) == ("Keep", "KEEP", {})
