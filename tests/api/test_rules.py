"""Rule settings: GET/PUT rules (api.md §5), parameters and severity (§X.3), presets, G-17."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from openspc.extensions import db
from openspc.models import Characteristic, CharacteristicRule
from openspc.services.rules import PARAMETER_BOUNDS, rule_settings
from openspc.spc import RuleConfig, SPCError, make_setting

ROOT = "/api/v1/characteristics"
DEFAULTS = {1: {}, 2: {"run_length": 9}, 3: {"run_length": 6}, 4: {"run_length": 14},
            5: {"k": 2, "m": 3}, 6: {"k": 4, "m": 5}, 7: {"run_length": 15},
            8: {"run_length": 8}}


def nelson_defaults() -> list[dict]:
    return [{"rule_id": i, "is_enabled": True, "require_acknowledgement": True,
             "parameters": DEFAULTS[i], "severity": "CRITICAL" if i == 1 else "WARNING"}
            for i in range(1, 9)]


def stored_rows(char_id: int) -> list[tuple]:
    db.session.expire_all()
    rows = db.session.scalars(sa.select(CharacteristicRule)
                              .where(CharacteristicRule.char_id == char_id)
                              .order_by(CharacteristicRule.rule_id))
    return [(r.rule_id, r.is_enabled, r.require_acknowledgement, r.parameters, r.severity)
            for r in rows]


# GET rules

def test_get_rules_fills_every_default(client, factory, plants, char):
    operator = factory.headers(factory.user("operator", plants[0]))
    response = client.get(f"{ROOT}/{char.id}/rules", headers=operator)
    assert response.status_code == 200
    assert response.json == nelson_defaults()


def test_get_rules_fills_missing_rows_as_enabled(client, char, engineer):
    db.session.execute(sa.delete(CharacteristicRule).where(CharacteristicRule.rule_id > 6))
    db.session.commit()
    assert client.get(f"{ROOT}/{char.id}/rules", headers=engineer).json == nelson_defaults()


def test_get_rules_errors(client, char, outsider):
    foreign = client.get(f"{ROOT}/{char.id}/rules", headers=outsider)
    assert (foreign.status_code, foreign.json) == (
        403, {"detail": "operator or higher privileges required for this plant"})
    missing = client.get(f"{ROOT}/999/rules", headers=outsider)
    assert (missing.status_code, missing.json) == (404, {"detail": "Characteristic 999 not found"})


# PUT rules

def test_put_subset_updates_only_the_listed_rules(client, char, engineer):
    """G-17: the reference deleted the rules a PUT did not list; ours keeps them."""
    first = client.put(f"{ROOT}/{char.id}/rules", json=[
        {"rule_id": 3, "is_enabled": False, "require_acknowledgement": False},
    ], headers=engineer)
    assert first.status_code == 200
    second = client.put(f"{ROOT}/{char.id}/rules", json=[
        {"rule_id": 5, "is_enabled": True, "parameters": {"k": 3, "m": 4}, "severity": "INFO"},
        {"rule_id": 2, "is_enabled": False},
    ], headers=engineer)
    assert second.status_code == 200
    assert second.json == [
        {"rule_id": 2, "is_enabled": False, "require_acknowledgement": True,
         "parameters": {"run_length": 9}, "severity": "WARNING"},
        {"rule_id": 5, "is_enabled": True, "require_acknowledgement": True,
         "parameters": {"k": 3, "m": 4}, "severity": "INFO"},
    ]
    expected = nelson_defaults()
    expected[1]["is_enabled"] = False
    expected[2].update(is_enabled=False, require_acknowledgement=False)
    expected[4].update(parameters={"k": 3, "m": 4}, severity="INFO")
    assert client.get(f"{ROOT}/{char.id}/rules", headers=engineer).json == expected
    assert len(stored_rows(char.id)) == 8


def test_put_absent_extension_fields_keep_and_null_resets(client, char, engineer):
    url = f"{ROOT}/{char.id}/rules"
    client.put(url, json=[{"rule_id": 7, "parameters": {"run_length": 12}, "severity": "INFO"}],
               headers=engineer)
    kept = client.put(url, json=[{"rule_id": 7, "is_enabled": False}], headers=engineer).json
    assert kept == [{"rule_id": 7, "is_enabled": False, "require_acknowledgement": True,
                     "parameters": {"run_length": 12}, "severity": "INFO"}]
    reset = client.put(url, json=[{"rule_id": 7, "parameters": None, "severity": None}],
                       headers=engineer).json
    assert reset == [{"rule_id": 7, "is_enabled": True, "require_acknowledgement": True,
                      "parameters": {"run_length": 15}, "severity": "WARNING"}]
    assert stored_rows(char.id)[6] == (7, True, True, None, None)


def test_put_partial_parameters_merge_with_the_defaults(client, char, engineer):
    response = client.put(f"{ROOT}/{char.id}/rules", json=[{"rule_id": 6, "parameters": {"k": 5}}],
                          headers=engineer)
    assert response.status_code == 200
    assert response.json[0]["parameters"] == {"k": 5, "m": 5}


def test_put_drops_the_evaluator_state(client, char, engineer):
    char.eval_state = {"window": [0.1]}
    db.session.commit()
    client.put(f"{ROOT}/{char.id}/rules", json=[{"rule_id": 1, "is_enabled": False}],
               headers=engineer)
    db.session.expire_all()
    assert db.session.get(Characteristic, char.id).eval_state is None


@pytest.mark.parametrize(("item", "loc", "msg"), [
    ({"rule_id": 2, "parameters": {"run_length": 51}}, ["body", 0, "parameters", "run_length"],
     "Input should be less than or equal to 50"),
    ({"rule_id": 2, "parameters": {"run_length": 1}}, ["body", 0, "parameters", "run_length"],
     "Input should be greater than or equal to 2"),
    ({"rule_id": 3, "parameters": {"run_length": 2}}, ["body", 0, "parameters", "run_length"],
     "Input should be greater than or equal to 3"),
    ({"rule_id": 2, "parameters": {"run_length": "x"}}, ["body", 0, "parameters", "run_length"],
     "Input should be a valid integer"),
    ({"rule_id": 2, "parameters": {"run_length": 8.5}}, ["body", 0, "parameters", "run_length"],
     "Input should be a valid integer"),
    ({"rule_id": 2, "parameters": {"k": 2}}, ["body", 0, "parameters", "k"],
     "Extra inputs are not permitted"),
    ({"rule_id": 1, "parameters": {"run_length": 3}}, ["body", 0, "parameters", "run_length"],
     "Extra inputs are not permitted"),
    ({"rule_id": 5, "parameters": {"k": 4}}, ["body", 0, "parameters", "k"],
     "Value error, k must not exceed m (3)"),
    ({"rule_id": 6, "parameters": {"k": 0, "m": 5}}, ["body", 0, "parameters", "k"],
     "Input should be greater than or equal to 1"),
    ({"rule_id": 9}, ["body", 0, "rule_id"], "Input should be less than or equal to 8"),
    ({"rule_id": 0}, ["body", 0, "rule_id"], "Input should be greater than or equal to 1"),
    ({}, ["body", 0, "rule_id"], "Field required"),
    ({"rule_id": 2, "severity": "FATAL"}, ["body", 0, "severity"],
     "Input should be 'CRITICAL', 'WARNING' or 'INFO'"),
    ({"rule_id": 2, "parameters": [9]}, ["body", 0, "parameters"],
     "Input should be a valid dictionary"),
])
def test_put_bad_item_is_422_naming_the_field_and_stores_nothing(client, char, engineer,
                                                                   item, loc, msg):
    before = stored_rows(char.id)
    response = client.put(f"{ROOT}/{char.id}/rules",
                          json=[item, {"rule_id": 4, "is_enabled": False}], headers=engineer)
    assert response.status_code == 422
    assert [(e["loc"], e["msg"]) for e in response.json["detail"]] == [(loc, msg)]
    assert stored_rows(char.id) == before


def test_put_a_rule_twice_is_422(client, char, engineer):
    before = stored_rows(char.id)
    response = client.put(f"{ROOT}/{char.id}/rules",
                          json=[{"rule_id": 2, "is_enabled": False}, {"rule_id": 2}],
                          headers=engineer)
    assert response.status_code == 422
    assert response.json["detail"][0]["loc"] == ["body", 1, "rule_id"]
    assert stored_rows(char.id) == before


def test_put_body_must_be_a_list(client, char, engineer):
    response = client.put(f"{ROOT}/{char.id}/rules", json={"rule_id": 1}, headers=engineer)
    assert response.status_code == 422
    assert response.json["detail"][0]["loc"][0] == "body"


def test_put_roles_and_404(client, factory, plants, char, outsider):
    before = stored_rows(char.id)
    body = [{"rule_id": 1, "is_enabled": False}]
    operator = factory.headers(factory.user("operator", plants[0]))
    denied = client.put(f"{ROOT}/{char.id}/rules", json=body, headers=operator)
    assert (denied.status_code, denied.json) == (
        403, {"detail": "Engineer or higher privileges required"})
    foreign = client.put(f"{ROOT}/{char.id}/rules", json=body, headers=outsider)
    assert (foreign.status_code, foreign.json) == (
        403, {"detail": "engineer or higher privileges required for this plant"})
    missing = client.put(f"{ROOT}/999/rules", json=body, headers=outsider)
    assert (missing.status_code, missing.json) == (404, {"detail": "Characteristic 999 not found"})
    assert stored_rows(char.id) == before


# Presets

WESTERN_ELECTRIC = {1: (True, {}), 2: (True, {"run_length": 8}), 3: (False, None),
                    4: (False, None), 5: (True, {}), 6: (True, {}), 7: (False, None),
                    8: (False, None)}


def assert_western_electric(rules: list[dict]) -> None:
    for rule in rules:
        enabled, parameters = WESTERN_ELECTRIC[rule["rule_id"]]
        assert rule["is_enabled"] is enabled, rule
        if parameters:
            assert rule["parameters"] == parameters


def test_create_with_the_western_electric_preset(client, factory, plants, engineer):
    node = factory.hierarchy(plants[0])
    created = client.post(f"{ROOT}/", json={"hierarchy_id": node.id, "name": "WE",
                                            "rule_preset": "western_electric"}, headers=engineer)
    assert created.status_code == 201
    rules = client.get(f"{ROOT}/{created.json['id']}/rules", headers=engineer).json
    assert [r["is_enabled"] for r in rules] == [True, True, False, False, True, True, False, False]
    assert rules[1]["parameters"] == {"run_length": 8}
    assert_western_electric(rules)


def test_patch_preset_rewrites_rules_and_custom_keeps_them(client, char, engineer):
    client.put(f"{ROOT}/{char.id}/rules", json=[{"rule_id": 3, "severity": "INFO"}],
               headers=engineer)
    patched = client.patch(f"{ROOT}/{char.id}", json={"rule_preset": "western_electric"},
                           headers=engineer)
    assert patched.status_code == 200
    rules = client.get(f"{ROOT}/{char.id}/rules", headers=engineer).json
    assert_western_electric(rules)
    assert rules[2]["severity"] == "WARNING"
    client.patch(f"{ROOT}/{char.id}", json={"rule_preset": "custom"}, headers=engineer)
    assert client.get(f"{ROOT}/{char.id}/rules", headers=engineer).json == rules
    client.patch(f"{ROOT}/{char.id}", json={"rule_preset": "nelson"}, headers=engineer)
    assert client.get(f"{ROOT}/{char.id}/rules", headers=engineer).json == nelson_defaults()


# The evaluator's view

def test_rule_settings_feed_the_engine(client, char, engineer):
    """What the API stores is what the engine runs: rule_settings → RuleConfig agree."""
    client.put(f"{ROOT}/{char.id}/rules", json=[
        {"rule_id": 2, "parameters": {"run_length": 7}},
        {"rule_id": 4, "is_enabled": False},
        {"rule_id": 1, "severity": "WARNING"},
    ], headers=engineer)
    db.session.expire_all()
    config = RuleConfig.from_dict(rule_settings(db.session.get(Characteristic, char.id)))
    assert config.setting(2).parameters == {"run_length": 7}
    assert config.setting(2).length == 7
    assert config.setting(4).enabled is False
    assert config.setting(1).severity == "WARNING"
    assert config.setting(6).parameters == {"k": 4, "m": 5}


@pytest.mark.parametrize("rule_id", [2, 3, 4, 5, 6, 7, 8])
def test_api_bounds_are_exactly_the_engines(rule_id):
    """Every value the API accepts the engine accepts, and the first one beyond is refused."""
    for name, (low, high) in PARAMETER_BOUNDS[rule_id].items():
        base = {"k": 1, "m": high} if name == "k" else {"k": 1} if name == "m" else {}
        make_setting(rule_id, parameters={**base, name: low})
        make_setting(rule_id, parameters={**base, name: high})
        for outside in (low - 1, high + 1):
            with pytest.raises(SPCError):
                make_setting(rule_id, parameters={**base, name: outside})
