"""Characteristic config routes (api.md §6, schemas in §S "Characteristic config")."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from openspc.extensions import db
from openspc.models import CharacteristicConfig, MqttDataSource

MANUAL = {"config_type": "MANUAL", "instructions": "Measure the bore",
          "schedule": {"schedule_type": "INTERVAL", "interval_minutes": 60}}
TAG = {"config_type": "TAG", "source_tag_path": "line1/bore", "min_valid_value": 0.1,
       "max_valid_value": "12.50",
       "trigger": {"trigger_type": "ON_VALUE_CHANGE", "deadband": 0.5}}


def config_rows() -> list[CharacteristicConfig]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(CharacteristicConfig)))


@pytest.fixture
def tagged(factory, plants):
    """A characteristic fed by an MQTT data source."""
    characteristic = factory.characteristic(factory.hierarchy(plants[0]))
    db.session.add(MqttDataSource(characteristic_id=characteristic.id, topic="t"))
    db.session.commit()
    return characteristic


def url(char_id: int) -> str:
    return f"/api/v1/characteristics/{char_id}/config"


def test_get_without_config_is_literal_null(client, char, engineer):
    response = client.get(url(char.id), headers=engineer)
    assert response.status_code == 200
    assert response.data.strip() == b"null"


def test_put_manual_fills_defaults_and_upserts(client, factory, plants, char, engineer):
    created = client.put(url(char.id), json={"config": MANUAL}, headers=engineer)
    assert created.status_code == 200
    assert created.json == {
        "characteristic_id": char.id, "is_active": True,
        "config": {"config_type": "MANUAL", "instructions": "Measure the bore",
                   "grace_period_minutes": 30,
                   "schedule": {"schedule_type": "INTERVAL", "interval_minutes": 60,
                                "align_to_hour": True}},
    }
    shift = {"config_type": "MANUAL", "schedule": {"schedule_type": "SHIFT"}}
    updated = client.put(url(char.id), json={"config": shift}, headers=engineer)
    assert updated.json["config"]["schedule"] == {
        "schedule_type": "SHIFT", "shift_count": 3, "shift_times": ["06:00", "14:00", "22:00"],
        "samples_per_shift": 1}
    assert len(config_rows()) == 1
    operator = factory.headers(factory.user("operator", plants[0]))
    assert client.get(url(char.id), headers=operator).json == updated.json


def test_put_tag_config_emits_decimals_as_strings(client, tagged, engineer):
    response = client.put(url(tagged.id), json={"config": TAG}, headers=engineer)
    assert response.status_code == 200
    config = response.json["config"]
    assert (config["min_valid_value"], config["max_valid_value"]) == ("0.1", "12.50")
    assert config["trigger"] == {"trigger_type": "ON_VALUE_CHANGE", "deadband": "0.5",
                                 "deadband_type": "ABSOLUTE", "min_interval_seconds": 1}
    assert config["batch_tag_path"] is None
    assert json.loads(config_rows()[0].config_json)["min_valid_value"] == "0.1"
    assert client.get(url(tagged.id), headers=engineer).json == response.json


def test_config_kind_must_match_the_data_source(client, char, tagged, engineer):
    manual_needed = client.put(url(char.id), json={"config": TAG}, headers=engineer)
    assert (manual_needed.status_code, manual_needed.json) == (
        400, {"detail": "Manual characteristic requires ManualConfig"})
    tag_needed = client.put(url(tagged.id), json={"config": MANUAL}, headers=engineer)
    assert (tag_needed.status_code, tag_needed.json) == (
        400, {"detail": "Data source characteristic requires TagConfig"})
    assert config_rows() == []


@pytest.mark.parametrize(("config", "kind", "loc", "msg"), [
    ({}, "union_tag_not_found", ["body", "config"],
     "Unable to extract tag using discriminator 'config_type'"),
    ({"config_type": "AUTO"}, "union_tag_invalid", ["body", "config"],
     "Input tag 'AUTO' found using 'config_type' does not match any of the expected tags: "
     "'MANUAL', 'TAG'"),
    ({"config_type": "MANUAL"}, "missing", ["body", "config", "MANUAL", "schedule"],
     "Field required"),
    ({"config_type": "MANUAL", "schedule": {"schedule_type": "INTERVAL"}}, "missing",
     ["body", "config", "MANUAL", "schedule", "INTERVAL", "interval_minutes"], "Field required"),
    ({"config_type": "MANUAL", "schedule": {"schedule_type": "NONE"},
      "grace_period_minutes": 481}, "less_than_equal",
     ["body", "config", "MANUAL", "grace_period_minutes"],
     "Input should be less than or equal to 480"),
    ({"config_type": "MANUAL", "schedule": {"schedule_type": "HOURLY"}}, "union_tag_invalid",
     ["body", "config", "MANUAL", "schedule"],
     "Input tag 'HOURLY' found using 'schedule_type' does not match any of the expected tags: "
     "'NONE', 'INTERVAL', 'SHIFT', 'CRON', 'BATCH_START'"),
    ({**TAG, "trigger": {"trigger_type": "ON_VALUE_CHANGE", "deadband": -1}},
     "greater_than_equal", ["body", "config", "TAG", "trigger", "ON_VALUE_CHANGE", "deadband"],
     "Input should be greater than or equal to 0"),
    ({**TAG, "min_valid_value": "low"}, "decimal_parsing",
     ["body", "config", "TAG", "min_valid_value"], "Input should be a valid decimal"),
])
def test_bad_config_is_422_naming_the_field(client, char, engineer, config, kind, loc, msg):
    response = client.put(url(char.id), json={"config": config}, headers=engineer)
    assert response.status_code == 422
    assert [(e["type"], e["loc"], e["msg"]) for e in response.json["detail"]] == [(kind, loc, msg)]
    assert config_rows() == []


def test_missing_config_is_422(client, char, engineer):
    response = client.put(url(char.id), json={}, headers=engineer)
    assert response.status_code == 422
    assert response.json["detail"][0]["loc"] == ["body", "config"]


def test_delete_then_404(client, char, engineer):
    client.put(url(char.id), json={"config": MANUAL}, headers=engineer)
    deleted = client.delete(url(char.id), headers=engineer)
    assert (deleted.status_code, deleted.data) == (204, b"")
    assert config_rows() == []
    again = client.delete(url(char.id), headers=engineer)
    assert (again.status_code, again.json) == (
        404, {"detail": f"Config for characteristic {char.id} not found"})


def test_roles_and_unknown_characteristic(client, factory, plants, char, engineer, outsider):
    client.put(url(char.id), json={"config": MANUAL}, headers=engineer)
    operator = factory.headers(factory.user("operator", plants[0]))
    for method in ("put", "delete"):
        denied = getattr(client, method)(url(char.id), json={"config": MANUAL}, headers=operator)
        assert (denied.status_code, denied.json) == (
            403, {"detail": "Engineer or higher privileges required"})
        foreign = getattr(client, method)(url(char.id), json={"config": MANUAL},
                                          headers=outsider)
        assert (foreign.status_code, foreign.json) == (
            403, {"detail": "engineer or higher privileges required for this plant"})
        missing = getattr(client, method)(url(999), json={"config": MANUAL}, headers=outsider)
        assert (missing.status_code, missing.json) == (
            404, {"detail": "Characteristic 999 not found"})
    read = client.get(url(char.id), headers=outsider)
    assert (read.status_code, read.json) == (
        403, {"detail": "operator or higher privileges required for this plant"})
    assert client.get(url(999), headers=outsider).json == {
        "detail": "Characteristic 999 not found"}
    assert len(config_rows()) == 1
