"""Characteristic definition routes (api.md §5 CRUD rows, §X.1 chart_type)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from openspc.extensions import db
from openspc.models import (
    Characteristic,
    CharacteristicRule,
    ControlLimitsVersion,
    MqttDataSource,
    OpcuaDataSource,
    OpcuaServer,
    OutboxEvent,
    Sample,
    Violation,
)
from tests.api.helpers import ENGINEER_ANY, ENGINEER_HERE, OPERATOR_HERE, assert_patch_guarded
from tests.conftest import statements_sent

ROOT = "/api/v1/characteristics/"


def char_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Characteristic))


def add_sample(char_id: int, *, violations=(), acknowledged=False, excluded=False) -> int:
    sample = Sample(char_id=char_id, actual_n=1, mean=1.0, is_excluded=excluded)
    db.session.add(sample)
    db.session.flush()
    for rule_id in violations:
        db.session.add(Violation(sample_id=sample.id, char_id=char_id, rule_id=rule_id,
                                 severity="WARNING", acknowledged=acknowledged))
    db.session.commit()
    return sample.id


# POST /characteristics/

def test_create_stores_the_definition_and_rules_1_to_8(client, node, engineer):
    body = {"hierarchy_id": node.id, "name": "Bore", "description": "d", "subgroup_size": 5,
            "target_value": 10.0, "usl": 10.5, "lsl": 9.5, "min_measurements": 3,
            "warn_below_count": 4, "decimal_precision": 4}
    response = client.post(ROOT, json=body, headers=engineer)
    assert response.status_code == 201
    created = response.json
    assert created == {
        "id": created["id"], "hierarchy_id": node.id, "name": "Bore", "description": "d",
        "subgroup_size": 5, "target_value": 10.0, "usl": 10.5, "lsl": 9.5, "ucl": None,
        "lcl": None, "data_source": None, "subgroup_mode": "NOMINAL_TOLERANCE",
        "min_measurements": 3, "warn_below_count": 4, "stored_sigma": None,
        "stored_center_line": None, "decimal_precision": 4, "sample_count": None,
        "unacknowledged_violations": None, "chart_type": "xbar_r",
    }
    rules = db.session.scalars(sa.select(CharacteristicRule)
                               .where(CharacteristicRule.char_id == created["id"])
                               .order_by(CharacteristicRule.rule_id)).all()
    assert [(r.rule_id, r.is_enabled, r.require_acknowledgement) for r in rules] == [
        (i, True, True) for i in range(1, 9)
    ]


@pytest.mark.parametrize(("size", "chart_type"), [
    (1, "i_mr"), (2, "xbar_r"), (10, "xbar_r"), (11, "xbar_s"), (25, "xbar_s"),
])
def test_chart_type_defaults_from_subgroup_size(client, node, engineer, size, chart_type):
    response = client.post(ROOT, json={"hierarchy_id": node.id, "name": "C",
                                       "subgroup_size": size}, headers=engineer)
    assert response.status_code == 201
    assert response.json["chart_type"] == chart_type
    assert db.session.get(Characteristic, response.json["id"]).chart_type == chart_type


@pytest.mark.parametrize("chart_type", ["p", "np", "c", "u"])
def test_attribute_chart_stores_subgroup_size_1(client, node, engineer, chart_type):
    response = client.post(ROOT, json={"hierarchy_id": node.id, "name": "Defects",
                                       "subgroup_size": 5, "chart_type": chart_type},
                           headers=engineer)
    assert response.status_code == 201
    assert (response.json["chart_type"], response.json["subgroup_size"]) == (chart_type, 1)


@pytest.mark.parametrize(("chart_type", "size"), [("xbar_r", 1), ("xbar_s", 1), ("i_mr", 3)])
def test_chart_type_that_does_not_fit_the_size_is_422_naming_it(client, node, engineer,
                                                                 chart_type, size):
    response = client.post(ROOT, json={"hierarchy_id": node.id, "name": "C",
                                       "subgroup_size": size, "chart_type": chart_type},
                           headers=engineer)
    assert response.status_code == 422
    [item] = response.json["detail"]
    assert item["loc"] == ["body", "chart_type"]
    assert item["type"] == "value_error"
    assert char_count() == 0


@pytest.mark.parametrize(("extra", "loc", "msg"), [
    ({"name": None}, ["body", "name"], "Input should not be null"),
    ({"name": ""}, ["body", "name"], "String should have at least 1 character"),
    ({"subgroup_size": 26}, ["body", "subgroup_size"], "Input should be less than or equal to 25"),
    ({"subgroup_size": 0}, ["body", "subgroup_size"],
     "Input should be greater than or equal to 1"),
    ({"decimal_precision": 11}, ["body", "decimal_precision"],
     "Input should be less than or equal to 10"),
    ({"subgroup_mode": "X"}, ["body", "subgroup_mode"],
     "Input should be 'STANDARDIZED', 'VARIABLE_LIMITS' or 'NOMINAL_TOLERANCE'"),
    ({"chart_type": "xbar"}, ["body", "chart_type"],
     "Input should be 'xbar_r', 'xbar_s', 'i_mr', 'p', 'np', 'c' or 'u'"),
    ({"rule_preset": "aiag"}, ["body", "rule_preset"],
     "Input should be 'nelson', 'western_electric' or 'custom'"),
    ({"usl": "abc"}, ["body", "usl"],
     "Input should be a valid number, unable to parse string as a number"),
    ({"subgroup_size": 2.5}, ["body", "subgroup_size"],
     "Input should be a valid integer, got a number with a fractional part"),
    ({"subgroup_size": 3, "min_measurements": 4}, ["body"],
     "Value error, min_measurements cannot exceed subgroup_size"),
    ({"subgroup_size": 5, "min_measurements": 3, "warn_below_count": 2}, ["body"],
     "Value error, warn_below_count must be >= min_measurements"),
    ({"subgroup_size": 5, "warn_below_count": 6}, ["body"],
     "Value error, warn_below_count cannot exceed subgroup_size"),
])
def test_create_bad_input_is_422_and_stores_nothing(client, node, engineer, extra, loc, msg):
    response = client.post(ROOT, json={"hierarchy_id": node.id, "name": "C", **extra},
                           headers=engineer)
    assert response.status_code == 422
    assert [(e["loc"], e["msg"]) for e in response.json["detail"]] == [(loc, msg)]
    assert char_count() == 0


def test_create_missing_fields_are_each_named(client, engineer):
    response = client.post(ROOT, json={}, headers=engineer)
    assert response.status_code == 422
    assert sorted(tuple(e["loc"]) for e in response.json["detail"]) == [
        ("body", "hierarchy_id"), ("body", "name")]


def test_create_roles_and_404(client, factory, plants, node, outsider):
    operator = factory.headers(factory.user("operator", plants[0]))
    denied = client.post(ROOT, json={}, headers=operator)
    assert (denied.status_code, denied.json) == (403, {"detail": ENGINEER_ANY})
    foreign = client.post(ROOT, json={"hierarchy_id": node.id, "name": "C"}, headers=outsider)
    assert (foreign.status_code, foreign.json) == (403, {"detail": ENGINEER_HERE})
    missing = client.post(ROOT, json={"hierarchy_id": 999, "name": "C"}, headers=outsider)
    assert (missing.status_code, missing.json) == (
        404, {"detail": "Hierarchy node 999 not found"})
    assert char_count() == 0


# GET /characteristics/

def test_list_counts_and_in_control(client, factory, node, engineer):
    """Counts and the in_control filter against values worked out by hand:

    - a: 3 samples (one excluded), 2 unacknowledged violations on the latest non-excluded
      sample → out of control, sample_count 3, unacknowledged 2;
    - b: latest sample clean, an older one has an unacknowledged violation → in control, 1;
    - c: only acknowledged violations → in control, 0;
    - d: no samples → in control.
    """
    a, b, c, d = (factory.characteristic(node).id for _ in range(4))
    add_sample(a)
    add_sample(a, violations=(1, 5))
    add_sample(a, violations=(2,), excluded=True)
    add_sample(b, violations=(1,))
    add_sample(b)
    add_sample(c, violations=(1,), acknowledged=True)

    everything = client.get(ROOT, headers=engineer)
    assert everything.status_code == 200
    assert everything.json["total"] == 4
    assert {i["id"]: (i["sample_count"], i["unacknowledged_violations"])
            for i in everything.json["items"]} == {a: (3, 3), b: (2, 1), c: (1, 0), d: (0, 0)}

    out = client.get(f"{ROOT}?in_control=false", headers=engineer).json
    assert ([i["id"] for i in out["items"]], out["total"]) == ([a], 1)
    inside = client.get(f"{ROOT}?in_control=true", headers=engineer).json
    assert [i["id"] for i in inside["items"]] == [b, c, d]


def test_list_pagination_and_filters(client, factory, plants, node, engineer):
    other_node = factory.hierarchy(plants[0])
    ids = [factory.characteristic(node).id for _ in range(3)]
    ids.append(factory.characteristic(other_node).id)
    db.session.add(MqttDataSource(characteristic_id=ids[0], topic="t"))
    server = OpcuaServer(name="s", endpoint_url="opc.tcp://localhost:4840")
    db.session.add(server)
    db.session.flush()
    db.session.add(OpcuaDataSource(characteristic_id=ids[1], server_id=server.id, node_id="n"))
    db.session.commit()

    def listed(query: str) -> tuple[list[int], int, int, int]:
        body = client.get(f"{ROOT}?{query}", headers=engineer).json
        return [i["id"] for i in body["items"]], body["total"], body["offset"], body["limit"]

    assert listed("offset=1&limit=2") == (ids[1:3], 4, 1, 2)
    assert listed("page=2&per_page=3") == (ids[3:], 4, 3, 3)
    assert listed("page=2") == ([], 4, 100, 100)
    assert listed(f"hierarchy_id={other_node.id}")[0] == ids[3:]
    assert listed(f"plant_id={plants[0].id}")[0] == ids
    assert listed(f"plant_id={plants[1].id}")[0] == []
    assert listed("provider_type=MANUAL")[0] == ids[2:]
    assert listed("provider_type=TAG")[0] == ids[:1]
    assert listed("provider_type=MQTT")[0] == ids[:1]
    assert listed("provider_type=OPCUA")[0] == ids[1:2]
    first = client.get(f"{ROOT}?limit=1", headers=engineer).json["items"][0]
    assert first["data_source"]["type"] == "mqtt"
    assert first["data_source"]["characteristic_id"] == ids[0]
    assert first["data_source"]["created_at"].endswith("Z")


def test_list_shows_only_readable_plants(client, factory, plants, node, outsider):
    mine = factory.characteristic(node).id
    theirs = factory.characteristic(factory.hierarchy(plants[1])).id
    assert [i["id"] for i in client.get(ROOT, headers=outsider).json["items"]] == [theirs]
    admin = factory.headers(factory.user("admin", plants[1]))
    assert [i["id"] for i in client.get(ROOT, headers=admin).json["items"]] == [mine, theirs]


@pytest.mark.parametrize(("query", "loc"), [
    ("limit=1001", ["query", "limit"]), ("limit=0", ["query", "limit"]),
    ("offset=-1", ["query", "offset"]), ("page=0", ["query", "page"]),
    ("in_control=perhaps", ["query", "in_control"]),
])
def test_list_bad_query_is_422(client, engineer, query, loc):
    response = client.get(f"{ROOT}?{query}", headers=engineer)
    assert response.status_code == 422
    assert response.json["detail"][0]["loc"] == loc


def test_list_query_count_does_not_grow_with_the_page(client, factory, node, engineer):
    """Counts come from grouped queries: 40 characteristics cost as many statements as 4."""
    def statements_for_listing() -> int:
        with statements_sent() as seen:
            assert client.get(ROOT, headers=engineer).status_code == 200
        return len(seen)

    for _ in range(4):
        add_sample(factory.characteristic(node).id, violations=(1,))
    few = statements_for_listing()
    for _ in range(36):
        add_sample(factory.characteristic(node).id, violations=(1,))
    assert statements_for_listing() == few


# GET /characteristics/{id}

def test_get_one_has_null_counts(client, factory, node, engineer):
    char = factory.characteristic(node, subgroup_size=4, ucl=12.0, lcl=8.0)
    add_sample(char.id, violations=(1,))
    response = client.get(f"{ROOT}{char.id}", headers=engineer)
    assert response.status_code == 200
    assert response.json["id"] == char.id
    assert (response.json["ucl"], response.json["lcl"]) == (12.0, 8.0)
    assert response.json["chart_type"] == "xbar_r"
    assert response.json["sample_count"] is None
    assert response.json["unacknowledged_violations"] is None


def test_get_one_errors(client, factory, node, outsider):
    char = factory.characteristic(node)
    foreign = client.get(f"{ROOT}{char.id}", headers=outsider)
    assert (foreign.status_code, foreign.json) == (403, {"detail": OPERATOR_HERE})
    missing = client.get(f"{ROOT}999", headers=outsider)
    assert (missing.status_code, missing.json) == (404, {"detail": "Characteristic 999 not found"})
    assert client.get(f"{ROOT}{char.id}").status_code == 401


# PATCH /characteristics/{id}

def test_patch_applies_present_keys_and_null_clears(client, factory, node, engineer):
    char = factory.characteristic(node, usl=5.0, lsl=1.0, description="keep")
    response = client.patch(f"{ROOT}{char.id}", json={"name": "Renamed", "usl": None,
                                                      "ucl": 4.0, "subgroup_size": 9},
                            headers=engineer)
    assert response.status_code == 200
    assert (response.json["name"], response.json["usl"], response.json["lsl"],
            response.json["ucl"], response.json["description"],
            response.json["subgroup_size"]) == ("Renamed", None, 1.0, 4.0, "keep", 1)


def test_patch_of_limits_drops_the_evaluator_state(client, factory, node, engineer):
    char = factory.characteristic(node)
    char.eval_state = {"window": [1, 2]}
    db.session.commit()
    client.patch(f"{ROOT}{char.id}", json={"name": "only a name"}, headers=engineer)
    db.session.expire_all()
    assert db.session.get(Characteristic, char.id).eval_state == {"window": [1, 2]}
    client.patch(f"{ROOT}{char.id}", json={"ucl": 3.0, "lcl": -3.0}, headers=engineer)
    db.session.expire_all()
    assert db.session.get(Characteristic, char.id).eval_state is None


def test_patch_of_ucl_and_lcl_is_a_new_limits_version(client, factory, node, engineer):
    char = factory.characteristic(node, subgroup_size=4, ucl=13.0, lcl=7.0, center_line=10.0,
                                  sigma=2.0)
    response = client.patch(f"{ROOT}{char.id}", json={"ucl": 14.0, "lcl": 6.0}, headers=engineer)
    assert response.status_code == 200
    versions = db.session.execute(
        sa.select(ControlLimitsVersion).where(ControlLimitsVersion.characteristic_id == char.id)
    ).scalars().all()
    assert [(v.version, v.method, v.ucl, v.lcl, v.center_line) for v in versions] == [
        (1, "manual", 14.0, 6.0, 10.0)]
    db.session.expire_all()
    assert db.session.get(Characteristic, char.id).limits_version == 1
    frames = [frame for row in db.session.execute(sa.select(OutboxEvent.frame)).scalars()
              for frame in row]
    assert {"type": "limits_update", "characteristic_id": char.id, "ucl": 14.0, "lcl": 6.0,
            "center_line": 10.0} in frames
    client.patch(f"{ROOT}{char.id}", json={"name": "no new limits"}, headers=engineer)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ControlLimitsVersion)) == 1


def test_patch_chart_type_before_and_after_samples(client, factory, node, engineer):
    char = factory.characteristic(node)
    changed = client.patch(f"{ROOT}{char.id}", json={"chart_type": "c"}, headers=engineer)
    assert (changed.status_code, changed.json["chart_type"]) == (200, "c")
    add_sample(char.id)
    refused = client.patch(f"{ROOT}{char.id}", json={"chart_type": "u", "name": "Z"},
                           headers=engineer)
    assert refused.status_code == 409
    assert refused.json == {"detail": "chart_type cannot change once samples exist"}
    db.session.expire_all()
    stored = db.session.get(Characteristic, char.id)
    assert (stored.chart_type, stored.name) == ("c", char.name)
    same = client.patch(f"{ROOT}{char.id}", json={"chart_type": "c"}, headers=engineer)
    assert same.status_code == 200


def test_patch_chart_type_that_does_not_fit_is_422(client, factory, node, engineer):
    char = factory.characteristic(node, subgroup_size=1)
    response = client.patch(f"{ROOT}{char.id}", json={"chart_type": "xbar_r"}, headers=engineer)
    assert response.status_code == 422
    assert response.json["detail"][0]["loc"] == ["body", "chart_type"]
    db.session.expire_all()
    assert db.session.get(Characteristic, char.id).chart_type == "i_mr"


@pytest.mark.parametrize(("body", "loc"), [
    ({"name": None}, ["body", "name"]),
    ({"min_measurements": 0}, ["body", "min_measurements"]),
    ({"decimal_precision": -1}, ["body", "decimal_precision"]),
    ({"ucl": "high"}, ["body", "ucl"]),
])
def test_patch_bad_input_changes_nothing(client, factory, node, engineer, body, loc):
    char = factory.characteristic(node, name="Keep")
    response = client.patch(f"{ROOT}{char.id}", json={**body, "description": "new"},
                            headers=engineer)
    assert response.status_code == 422
    assert [e["loc"] for e in response.json["detail"]] == [loc]
    db.session.expire_all()
    stored = db.session.get(Characteristic, char.id)
    assert (stored.name, stored.description) == ("Keep", None)


def test_patch_roles_and_404(client, factory, plants, node, outsider):
    char = factory.characteristic(node, name="Keep")
    operator = factory.headers(factory.user("operator", plants[0]))
    assert_patch_guarded(client, f"{ROOT}{char.id}", f"{ROOT}999", "Characteristic 999 not found",
                         operator=operator, outsider=outsider)
    db.session.expire_all()
    assert db.session.get(Characteristic, char.id).name == "Keep"


# DELETE /characteristics/{id}

def test_delete_removes_it_and_its_rules(client, factory, node, engineer):
    char_id = factory.characteristic(node).id
    response = client.delete(f"{ROOT}{char_id}", headers=engineer)
    assert (response.status_code, response.data) == (204, b"")
    assert char_count() == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CharacteristicRule)) == 0


def test_delete_with_samples_is_409(client, factory, node, engineer):
    char_id = factory.characteristic(node).id
    add_sample(char_id)
    add_sample(char_id, excluded=True)
    response = client.delete(f"{ROOT}{char_id}", headers=engineer)
    assert response.status_code == 409
    assert response.json == {
        "detail": f"Cannot delete characteristic {char_id} with 2 existing samples"
    }
    assert char_count() == 1


def test_delete_roles_and_404(client, factory, plants, node, outsider):
    char_id = factory.characteristic(node).id
    operator = factory.headers(factory.user("operator", plants[0]))
    denied = client.delete(f"{ROOT}{char_id}", headers=operator)
    assert (denied.status_code, denied.json) == (403, {"detail": ENGINEER_ANY})
    foreign = client.delete(f"{ROOT}{char_id}", headers=outsider)
    assert (foreign.status_code, foreign.json) == (403, {"detail": ENGINEER_HERE})
    missing = client.delete(f"{ROOT}999", headers=outsider)
    assert (missing.status_code, missing.json) == (404, {"detail": "Characteristic 999 not found"})
    assert char_count() == 1
