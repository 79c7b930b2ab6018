"""Brokers (api.md §12): the routes that need no live broker, roles, bad input, encryption at
rest, and status read from what the owning listener reports. Routes that open a connection
(test, connect, discover, topics) are exercised against Mosquitto in
tests/integration/test_mqtt_routes.py."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from openspc.credentials import credential_cipher
from openspc.extensions import db
from openspc.models import MqttBroker
from openspc.models.types import utcnow
from openspc.services.connection_status import report_status
from openspc.services.leases import claim_connections
from openspc.services.listener_config import config_generation
from tests.api.helpers import ENGINEER_ANY, assert_refused

URL = "/api/v1/brokers/"


@pytest.fixture
def admin(factory):
    return factory.headers(factory.user("admin"))


@pytest.fixture
def viewer(factory):
    """A user with no role at all: may read brokers (role "user")."""
    return factory.headers(factory.user())


def create(client, headers, **fields):
    body = {"name": "Line broker", "host": "mqtt.local", **fields}
    return client.post(URL, json=body, headers=headers)


def stored(broker_id: int) -> dict:
    db.session.expire_all()
    row = db.session.execute(
        sa.select(MqttBroker.__table__).where(MqttBroker.id == broker_id)).mappings().one()
    return dict(row)


def test_create_applies_defaults_and_encrypts_credentials(client, engineer, plants):
    response = create(client, engineer, username="plc-user", password="s3cret-pw",
                      plant_id=plants[0].id)
    assert response.status_code == 201
    body = response.json
    assert body == {
        "id": body["id"], "name": "Line broker", "host": "mqtt.local", "port": 1883,
        "username": "plc-user", "client_id": "openspc-client", "keepalive": 60,
        "max_reconnect_delay": 300, "use_tls": False, "is_active": True,
        "plant_id": plants[0].id, "outbound_enabled": False, "outbound_topic_prefix": "openspc",
        "outbound_format": "json", "outbound_rate_limit": 1.0,
        "created_at": body["created_at"], "updated_at": body["updated_at"],
    }
    assert body["created_at"].endswith("Z")
    row = stored(body["id"])
    assert "plc-user" not in row["username"] and "s3cret-pw" not in row["password"]
    assert row["username"].startswith("gAAAA") and row["password"].startswith("gAAAA")
    assert "s3cret-pw" not in response.get_data(as_text=True)


def test_the_database_file_holds_no_clear_credential(client, engineer, app, tmp_path):
    create(client, engineer, username="plc-user-xyz", password="pw-never-in-clear")
    db.session.remove()
    db.engine.dispose()
    raw = (tmp_path / "openspc.db").read_bytes()
    assert b"pw-never-in-clear" not in raw and b"plc-user-xyz" not in raw


def test_create_refuses_bad_fields_and_stores_nothing(client, engineer):
    assert_refused(create(client, engineer, port=70000), ["body", "port"], "less_than_equal")
    assert_refused(create(client, engineer, keepalive=2), ["body", "keepalive"],
                   "greater_than_equal")
    assert_refused(create(client, engineer, outbound_format="xml"),
                   ["body", "outbound_format"], "string_pattern_mismatch")
    assert_refused(create(client, engineer, name=""), ["body", "name"], "string_too_short")
    assert_refused(client.post(URL, json={"host": "h"}, headers=engineer), ["body", "name"],
                   "missing")
    assert_refused(create(client, engineer, password="x" * 256), ["body", "password"],
                   "string_too_long")
    assert db.session.execute(sa.select(sa.func.count()).select_from(MqttBroker)).scalar() == 0


def test_names_are_unique_across_plants(client, engineer, plants):
    assert create(client, engineer, plant_id=plants[0].id).status_code == 201
    clash = create(client, engineer, plant_id=plants[1].id)
    assert (clash.status_code, clash.json) == (
        409, {"detail": "Broker with name 'Line broker' already exists"})


def test_roles(client, operator, viewer, engineer, admin):
    broker_id = create(client, engineer).json["id"]
    assert create(client, operator, name="X").json == {"detail": ENGINEER_ANY}
    assert client.get(URL, headers=viewer).status_code == 200
    assert client.get(f"{URL}{broker_id}", headers=viewer).status_code == 200
    assert client.get(f"{URL}{broker_id}/status", headers=viewer).status_code == 200
    assert client.get(f"{URL}all/status", headers=viewer).status_code == 200
    assert client.get(f"{URL}current/status", headers=viewer).status_code == 200
    for method, path in [("patch", f"{broker_id}"), ("post", f"{broker_id}/activate"),
                         ("post", f"{broker_id}/connect"), ("post", f"{broker_id}/discover"),
                         ("delete", f"{broker_id}/discover"), ("get", f"{broker_id}/topics"),
                         ("post", "disconnect"), ("post", "test")]:
        denied = getattr(client, method)(f"{URL}{path}", json={}, headers=operator)
        assert (denied.status_code, denied.json) == (403, {"detail": ENGINEER_ANY}), path
    denied = client.delete(f"{URL}{broker_id}", headers=engineer)
    assert (denied.status_code, denied.json) == (403, {"detail": "Admin privileges required"})
    assert client.get(URL).status_code == 401
    assert client.delete(f"{URL}{broker_id}", headers=admin).status_code == 204


def test_list_pages_and_filters(client, engineer, plants):
    ids = [create(client, engineer, name=f"B{i}", plant_id=plants[i % 2].id,
                  is_active=i != 1).json["id"] for i in range(4)]
    page = client.get(f"{URL}?offset=1&limit=2", headers=engineer).json
    assert ([b["id"] for b in page["items"]], page["total"], page["offset"], page["limit"]) == (
        ids[1:3], 4, 1, 2)
    active = client.get(f"{URL}?active_only=true", headers=engineer).json
    assert [b["id"] for b in active["items"]] == [ids[0], ids[2], ids[3]]
    at_b = client.get(f"{URL}?plant_id={plants[1].id}", headers=engineer).json
    assert [b["id"] for b in at_b["items"]] == [ids[1], ids[3]]
    assert_refused(client.get(f"{URL}?limit=0", headers=engineer), ["query", "limit"],
                   "greater_than_equal")


def test_get_patch_delete(client, engineer, admin):
    broker_id = create(client, engineer, password="old").json["id"]
    before = config_generation("mqtt")
    patched = client.patch(f"{URL}{broker_id}", json={"port": 8883, "username": "u2",
                                                       "password": "new-pw"}, headers=engineer)
    assert patched.status_code == 200
    assert (patched.json["port"], patched.json["username"]) == (8883, "u2")
    assert "password" not in patched.json
    assert config_generation("mqtt") == before + 1, "a running listener must reconnect"
    row = stored(broker_id)
    assert credential_cipher().decrypt(row["password"]) == "new-pw"
    assert client.get(f"{URL}{broker_id}", headers=engineer).json["port"] == 8883
    assert_refused(client.patch(f"{URL}{broker_id}", json={"port": 0}, headers=engineer),
                   ["body", "port"], "greater_than_equal")
    other = create(client, engineer, name="Other").json["id"]
    clash = client.patch(f"{URL}{other}", json={"name": "Line broker"}, headers=engineer)
    assert clash.status_code == 409
    before = config_generation("mqtt")
    assert client.delete(f"{URL}{broker_id}", headers=admin).status_code == 204
    assert config_generation("mqtt") == before + 1, "a running listener must disconnect"
    for method in ("get", "patch", "delete"):
        missing = getattr(client, method)(f"{URL}{broker_id}", json={}, headers=admin)
        assert (missing.status_code, missing.json) == (
            404, {"detail": f"Broker {broker_id} not found"})


def test_activate_leaves_other_brokers_alone(client, engineer):
    first = create(client, engineer, name="A").json["id"]
    second = create(client, engineer, name="B", is_active=False).json["id"]
    response = client.post(f"{URL}{second}/activate", headers=engineer)
    assert (response.status_code, response.json["is_active"]) == (200, True)
    assert client.get(f"{URL}{first}", headers=engineer).json["is_active"] is True
    assert client.post(f"{URL}999/activate", headers=engineer).status_code == 404


def test_disconnect_deactivates_every_broker(client, engineer):
    ids = [create(client, engineer, name=n).json["id"] for n in ("A", "B")]
    response = client.post(f"{URL}disconnect", headers=engineer)
    assert response.json == {"message": "Disconnected from MQTT broker"}
    assert [client.get(f"{URL}{i}", headers=engineer).json["is_active"] for i in ids] == [
        False, False]


def test_status_is_what_the_owning_listener_reports(client, engineer):
    first = create(client, engineer, name="A").json["id"]
    second = create(client, engineer, name="B").json["id"]
    assert client.get(f"{URL}{first}/status", headers=engineer).json == {
        "broker_id": first, "broker_name": "A", "is_connected": False, "last_connected": None,
        "error_message": "Broker is not connected", "subscribed_topics": []}
    assert client.get(f"{URL}current/status", headers=engineer).json["broker_id"] == first
    claim_connections("mqtt", [second], "listener-1")
    report_status("mqtt", second, "listener-1", is_connected=True,
                  last_connected=utcnow(), subscribed=["plant/+/temp"])
    live = client.get(f"{URL}{second}/status", headers=engineer).json
    assert (live["is_connected"], live["error_message"], live["subscribed_topics"]) == (
        True, None, ["plant/+/temp"])
    assert live["last_connected"].endswith("Z")
    states = client.get(f"{URL}all/status", headers=engineer).json["states"]
    assert [(s["broker_id"], s["is_connected"], s["error_message"]) for s in states] == [
        (first, False, "Not connected"), (second, True, None)]
    assert client.get(f"{URL}current/status", headers=engineer).json["broker_id"] == second
    assert client.get(f"{URL}999/status", headers=engineer).status_code == 404


def test_current_status_without_brokers(client, engineer):
    assert client.get(f"{URL}current/status", headers=engineer).json == {
        "broker_id": 0, "broker_name": "None", "is_connected": False, "last_connected": None,
        "error_message": "No broker configured", "subscribed_topics": []}


def test_topics_without_discovery(client, engineer):
    broker_id = create(client, engineer).json["id"]
    assert client.get(f"{URL}{broker_id}/topics", headers=engineer).json == []
    assert client.get(f"{URL}{broker_id}/topics?format=tree", headers=engineer).json == {
        "name": "root", "full_topic": None, "children": [], "message_count": 0,
        "is_sparkplug": False, "sparkplug_metrics": []}
    assert_refused(client.get(f"{URL}{broker_id}/topics?format=xml", headers=engineer),
                   ["query", "format"], "enum")
    assert client.delete(f"{URL}{broker_id}/discover", headers=engineer).json == {
        "message": "Discovery was not active"}
    assert client.get(f"{URL}999/topics", headers=engineer).status_code == 404


def test_connection_test_refuses_bad_input(client, engineer):
    assert_refused(client.post(f"{URL}test", json={}, headers=engineer), ["body", "host"],
                   "missing")
