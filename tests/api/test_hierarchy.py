"""Hierarchy routes (api.md §4), plant-scoped as our implementation closes the reference's gap."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from openspc.extensions import db
from openspc.models import Characteristic, Hierarchy, Sample, Violation
from tests.api.helpers import ENGINEER_ANY, ENGINEER_HERE, OPERATOR_HERE, assert_patch_guarded

ROOT = "/api/v1/hierarchy/"


def node_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Hierarchy))


# GET /hierarchy/

def test_tree_nests_children_and_counts_direct_characteristics(client, factory, plants, engineer):
    site = factory.hierarchy(plants[0], name="Site", type="Site")
    line = factory.hierarchy(plants[0], parent=site, name="Line")
    cell = factory.hierarchy(plants[0], parent=line, name="Cell", type="Cell")
    factory.characteristic(line)
    factory.characteristic(line)
    factory.characteristic(cell)
    response = client.get(ROOT, headers=engineer)
    assert response.status_code == 200
    assert response.json == [{
        "id": site.id, "name": "Site", "type": "Site", "characteristic_count": 0,
        "children": [{
            "id": line.id, "name": "Line", "type": "Line", "characteristic_count": 2,
            "children": [{"id": cell.id, "name": "Cell", "type": "Cell",
                          "characteristic_count": 1, "children": []}],
        }],
    }]


def test_tree_shows_only_readable_plants_and_admin_sees_all(client, factory, plants):
    mine = factory.hierarchy(plants[0])
    theirs = factory.hierarchy(plants[1])
    operator = factory.headers(factory.user("operator", plants[0]))
    assert [n["id"] for n in client.get(ROOT, headers=operator).json] == [mine.id]
    nobody = factory.headers(factory.user())
    assert client.get(ROOT, headers=nobody).json == []
    admin = factory.headers(factory.user("admin", plants[1]))
    assert [n["id"] for n in client.get(ROOT, headers=admin).json] == [mine.id, theirs.id]


def test_tree_needs_a_token(client):
    response = client.get(ROOT)
    assert response.status_code == 401
    assert response.json == {"detail": "Not authenticated"}


# POST /hierarchy/

def test_create_root_is_plantless_and_child_takes_the_parents_plant(client, factory, plants,
                                                                     engineer):
    response = client.post(ROOT, json={"name": "Legacy", "type": "Folder"}, headers=engineer)
    assert response.status_code == 201
    assert response.json == {"id": response.json["id"], "parent_id": None, "name": "Legacy",
                             "type": "Folder"}
    assert db.session.get(Hierarchy, response.json["id"]).plant_id is None

    parent = factory.hierarchy(plants[0])
    child = client.post(ROOT, json={"name": "Cell", "type": "Cell", "parent_id": parent.id},
                        headers=engineer)
    assert child.status_code == 201
    assert child.json["parent_id"] == parent.id
    assert db.session.get(Hierarchy, child.json["id"]).plant_id == plants[0].id


def test_create_refuses_operator_before_validation(client, factory, plants):
    operator = factory.headers(factory.user("operator", plants[0]))
    response = client.post(ROOT, json={}, headers=operator)
    assert response.status_code == 403
    assert response.json == {"detail": ENGINEER_ANY}
    assert node_count() == 0


def test_create_under_another_plants_node_is_403(client, factory, plants, outsider):
    parent = factory.hierarchy(plants[0])
    response = client.post(ROOT, json={"name": "X", "type": "Cell", "parent_id": parent.id},
                           headers=outsider)
    assert response.status_code == 403
    assert response.json == {"detail": ENGINEER_HERE}
    assert node_count() == 1


@pytest.mark.parametrize(("body", "loc", "msg"), [
    ({"type": "Line"}, ["body", "name"], "Field required"),
    ({"name": "", "type": "Line"}, ["body", "name"], "String should have at least 1 character"),
    ({"name": "x" * 101, "type": "Line"}, ["body", "name"],
     "String should have at most 100 characters"),
    ({"name": "A", "type": "t" * 51}, ["body", "type"], "String should have at most 50 characters"),
    ({"name": "A", "type": "Line", "parent_id": "x"}, ["body", "parent_id"],
     "Input should be a valid integer, unable to parse string as an integer"),
])
def test_create_bad_input_is_422_naming_the_field(client, engineer, body, loc, msg):
    response = client.post(ROOT, json=body, headers=engineer)
    assert response.status_code == 422
    assert [(e["loc"], e["msg"]) for e in response.json["detail"]] == [(loc, msg)]
    assert node_count() == 0


def test_create_with_unknown_parent_is_404(client, engineer):
    response = client.post(ROOT, json={"name": "A", "type": "Line", "parent_id": 999},
                           headers=engineer)
    assert response.status_code == 404
    assert response.json == {"detail": "Parent hierarchy node 999 not found"}
    assert node_count() == 0


def test_integrity_error_is_the_reference_string_detail(client, engineer, monkeypatch):
    def failing_flush(*args, **kwargs):
        raise IntegrityError("INSERT", {}, Exception("constraint"))

    monkeypatch.setattr(db.session, "flush", failing_flush)
    response = client.post(ROOT, json={"name": "A", "type": "Line"}, headers=engineer)
    monkeypatch.undo()
    assert response.status_code == 422
    assert response.json == {
        "detail": "Database integrity error: duplicate or invalid reference"
    }
    assert node_count() == 0


# GET /hierarchy/{id}

def test_get_node(client, factory, plants):
    node = factory.hierarchy(plants[0], name="Press", type="Equipment")
    operator = factory.headers(factory.user("operator", plants[0]))
    response = client.get(f"{ROOT}{node.id}", headers=operator)
    assert response.status_code == 200
    assert response.json == {"id": node.id, "parent_id": None, "name": "Press",
                             "type": "Equipment"}


def test_get_node_of_another_plant_is_403_and_unknown_is_404(client, factory, plants, outsider):
    node = factory.hierarchy(plants[0])
    response = client.get(f"{ROOT}{node.id}", headers=outsider)
    assert response.status_code == 403
    assert response.json == {"detail": OPERATOR_HERE}
    missing = client.get(f"{ROOT}999", headers=outsider)
    assert missing.status_code == 404
    assert missing.json == {"detail": "Hierarchy node 999 not found"}


def test_get_node_with_a_non_integer_id_is_422(client, engineer):
    response = client.get(f"{ROOT}abc", headers=engineer)
    assert response.status_code == 422
    assert response.json["detail"][0]["loc"] == ["path", "node_id"]


# PATCH /hierarchy/{id}

def test_patch_renames_and_ignores_parent_id(client, factory, plants, engineer):
    other = factory.hierarchy(plants[0])
    node = factory.hierarchy(plants[0], name="Old", type="Line")
    response = client.patch(f"{ROOT}{node.id}", json={"name": "New", "parent_id": other.id},
                            headers=engineer)
    assert response.status_code == 200
    assert response.json == {"id": node.id, "parent_id": None, "name": "New", "type": "Line"}
    db.session.expire_all()
    assert db.session.get(Hierarchy, node.id).parent_id is None


def test_patch_bad_input_changes_nothing(client, factory, plants, engineer):
    node = factory.hierarchy(plants[0], name="Old")
    response = client.patch(f"{ROOT}{node.id}", json={"name": "", "type": "Cell"},
                            headers=engineer)
    assert response.status_code == 422
    assert response.json["detail"][0]["loc"] == ["body", "name"]
    db.session.expire_all()
    stored = db.session.get(Hierarchy, node.id)
    assert (stored.name, stored.type) == ("Old", "Line")


def test_patch_roles_and_404(client, factory, plants, outsider):
    node = factory.hierarchy(plants[0], name="Old")
    operator = factory.headers(factory.user("operator", plants[0]))
    assert_patch_guarded(client, f"{ROOT}{node.id}", f"{ROOT}999", "Hierarchy node 999 not found",
                         operator=operator, outsider=outsider)
    db.session.expire_all()
    assert db.session.get(Hierarchy, node.id).name == "Old"


# DELETE /hierarchy/{id}

def test_delete_leaf_removes_it_and_its_characteristics(client, factory, plants, engineer):
    node_id = factory.hierarchy(plants[0]).id
    char_id = factory.characteristic(db.session.get(Hierarchy, node_id)).id
    response = client.delete(f"{ROOT}{node_id}", headers=engineer)
    assert response.status_code == 204
    assert response.data == b""
    db.session.expire_all()
    assert db.session.get(Hierarchy, node_id) is None
    assert db.session.get(Characteristic, char_id) is None


def test_delete_node_with_children_is_409(client, factory, plants, engineer):
    node = factory.hierarchy(plants[0])
    factory.hierarchy(plants[0], parent=node)
    factory.hierarchy(plants[0], parent=node)
    response = client.delete(f"{ROOT}{node.id}", headers=engineer)
    assert response.status_code == 409
    assert response.json == {
        "detail": f"Cannot delete hierarchy node {node.id}: has 2 child node(s)"
    }
    assert node_count() == 3


def test_delete_roles_and_404(client, factory, plants, outsider):
    node = factory.hierarchy(plants[0])
    operator = factory.headers(factory.user("operator", plants[0]))
    assert client.delete(f"{ROOT}{node.id}", headers=operator).json == {"detail": ENGINEER_ANY}
    foreign = client.delete(f"{ROOT}{node.id}", headers=outsider)
    assert (foreign.status_code, foreign.json) == (403, {"detail": ENGINEER_HERE})
    missing = client.delete(f"{ROOT}999", headers=outsider)
    assert (missing.status_code, missing.json) == (404, {"detail": "Hierarchy node 999 not found"})
    assert node_count() == 1


# GET /hierarchy/{id}/characteristics

def _sample(char, *, violations=(), acknowledged=False, excluded=False) -> Sample:
    sample = Sample(char_id=char.id, actual_n=1, mean=1.0, is_excluded=excluded)
    db.session.add(sample)
    db.session.flush()
    for rule_id in violations:
        db.session.add(Violation(sample_id=sample.id, char_id=char.id, rule_id=rule_id,
                                 severity="WARNING", acknowledged=acknowledged))
    db.session.commit()
    return sample


def test_node_characteristics_direct_and_with_descendants(client, factory, plants, engineer):
    line = factory.hierarchy(plants[0])
    cell = factory.hierarchy(plants[0], parent=line)
    deep = factory.hierarchy(plants[0], parent=cell)
    on_line = factory.characteristic(line)
    on_deep = factory.characteristic(deep)
    _sample(on_line, violations=(1, 2))
    _sample(on_line, violations=(3,), acknowledged=True)
    _sample(on_deep)

    direct = client.get(f"{ROOT}{line.id}/characteristics", headers=engineer)
    assert direct.status_code == 200
    assert [(c["id"], c["sample_count"], c["unacknowledged_violations"]) for c in direct.json] \
        == [(on_line.id, 2, 2)]
    subtree = client.get(f"{ROOT}{line.id}/characteristics?include_descendants=true",
                         headers=engineer)
    assert [(c["id"], c["sample_count"], c["unacknowledged_violations"]) for c in subtree.json] \
        == [(on_line.id, 2, 2), (on_deep.id, 1, 0)]


def test_node_characteristics_errors(client, factory, plants, outsider):
    node = factory.hierarchy(plants[0])
    foreign = client.get(f"{ROOT}{node.id}/characteristics", headers=outsider)
    assert (foreign.status_code, foreign.json) == (403, {"detail": OPERATOR_HERE})
    missing = client.get(f"{ROOT}999/characteristics", headers=outsider)
    assert (missing.status_code, missing.json) == (404, {"detail": "Hierarchy node 999 not found"})
    bad = client.get(f"{ROOT}{node.id}/characteristics?include_descendants=maybe",
                     headers=outsider)
    assert bad.status_code == 422
    assert bad.json["detail"][0]["loc"] == ["query", "include_descendants"]


# /plants/{plant_id}/hierarchies/

def test_plant_tree_lists_only_that_plant_under_both_spellings(client, factory, plants):
    mine = factory.hierarchy(plants[0])
    factory.hierarchy(plants[1])
    admin = factory.headers(factory.user("admin", plants[0]))
    for path in (f"/api/v1/plants/{plants[0].id}/hierarchies/",
                 f"/api/v1/plants/{plants[0].id}/hierarchies"):
        response = client.get(path, headers=admin)
        assert response.status_code == 200
        assert [n["id"] for n in response.json] == [mine.id]


def test_plant_tree_errors(client, factory, plants, outsider):
    foreign = client.get(f"/api/v1/plants/{plants[0].id}/hierarchies/", headers=outsider)
    assert (foreign.status_code, foreign.json) == (403, {"detail": OPERATOR_HERE})
    missing = client.get("/api/v1/plants/999/hierarchies/", headers=outsider)
    assert (missing.status_code, missing.json) == (404, {"detail": "Plant 999 not found"})


def test_plant_create_stores_the_plant(client, factory, plants, engineer):
    response = client.post(f"/api/v1/plants/{plants[0].id}/hierarchies/",
                           json={"name": "Area", "type": "Area"}, headers=engineer)
    assert response.status_code == 201
    assert response.json["parent_id"] is None
    assert db.session.get(Hierarchy, response.json["id"]).plant_id == plants[0].id


def test_plant_create_under_a_parent_takes_the_parents_plant(client, factory, plants):
    admin = factory.headers(factory.user("admin", plants[0]))
    parent = factory.hierarchy(plants[1])
    response = client.post(f"/api/v1/plants/{plants[0].id}/hierarchies/",
                           json={"name": "Cell", "type": "Cell", "parent_id": parent.id},
                           headers=admin)
    assert response.status_code == 201
    assert db.session.get(Hierarchy, response.json["id"]).plant_id == plants[1].id


def test_plant_create_errors_store_nothing(client, factory, plants, engineer, outsider):
    url = f"/api/v1/plants/{plants[0].id}/hierarchies/"
    foreign = client.post(url, json={"name": "A", "type": "Area"}, headers=outsider)
    assert (foreign.status_code, foreign.json) == (403, {"detail": ENGINEER_HERE})
    no_plant = client.post("/api/v1/plants/999/hierarchies/", json={"name": "A", "type": "Area"},
                           headers=engineer)
    assert (no_plant.status_code, no_plant.json) == (404, {"detail": "Plant 999 not found"})
    no_parent = client.post(url, json={"name": "A", "type": "Area", "parent_id": 999},
                            headers=engineer)
    assert (no_parent.status_code, no_parent.json) == (
        404, {"detail": "Parent hierarchy node 999 not found"})
    invalid = client.post(url, json={"name": "A"}, headers=engineer)
    assert invalid.status_code == 422
    assert invalid.json["detail"][0]["loc"] == ["body", "type"]
    operator = factory.headers(factory.user("operator", plants[0]))
    denied = client.post(url, json={"name": "A", "type": "Area"}, headers=operator)
    assert (denied.status_code, denied.json) == (403, {"detail": ENGINEER_ANY})
    assert node_count() == 0
