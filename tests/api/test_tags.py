"""Tag mappings (api.md §13) and provider status (§15): routes, roles, bad input with nothing
stored, and the listener generation bumped by every change. Preview against a real broker is
in tests/integration/test_mqtt_routes.py."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from openspc.extensions import db
from openspc.models import DataSource, MqttBroker, OpcuaDataSource, OpcuaServer
from openspc.models.connectivity import MqttPartialSubgroup
from openspc.services.connection_status import report_status
from openspc.services.leases import claim_connections
from openspc.services.listener_config import config_generation
from tests.api.helpers import ENGINEER_ANY, assert_refused

MAP = "/api/v1/tags/map"


@pytest.fixture
def broker(plants):
    row = MqttBroker(name="Line", host="localhost", plant_id=plants[0].id, client_id="c")
    db.session.add(row)
    db.session.commit()
    return row


def mapping(client, headers, char, broker, **fields):
    body = {"characteristic_id": char.id, "broker_id": broker.id,
            "mqtt_topic": "plant/line1/+/temp", **fields}
    return client.post(MAP, json=body, headers=headers)


def sources() -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(DataSource)).scalar()


def test_map_list_and_unmap(client, engineer, char, broker, plants):
    before = config_generation("mqtt")
    response = mapping(client, engineer, char, broker, value_path="data.temp",
                       timestamp_path="ts")
    assert response.status_code == 200
    created = response.json
    assert created == {
        "data_source_id": created["data_source_id"], "characteristic_id": char.id,
        "characteristic_name": char.name, "mqtt_topic": "plant/line1/+/temp",
        "trigger_strategy": "on_change", "trigger_tag": None, "broker_id": broker.id,
        "broker_name": "Line", "metric_name": None, "is_active": True,
        "value_path": "data.temp", "timestamp_path": "ts", "timer_seconds": None,
    }
    assert config_generation("mqtt") == before + 1
    listed = client.get("/api/v1/tags/mappings", headers=engineer).json
    assert listed == [created]
    assert client.get(f"/api/v1/tags/mappings?broker_id={broker.id + 1}",
                      headers=engineer).json == []
    assert client.get(f"/api/v1/tags/mappings?plant_id={plants[0].id}",
                      headers=engineer).json == [created]
    assert client.delete(f"{MAP}/{char.id}", headers=engineer).status_code == 204
    assert config_generation("mqtt") == before + 2
    missing = client.delete(f"{MAP}/{char.id}", headers=engineer)
    assert (missing.status_code, missing.json) == (
        404, {"detail": f"No data source mapping for characteristic {char.id}"})


def test_mapping_replaces_a_source_of_any_type(client, engineer, char, broker):
    server = OpcuaServer(name="S", endpoint_url="opc.tcp://x:4840")
    db.session.add(server)
    db.session.flush()
    db.session.add(OpcuaDataSource(characteristic_id=char.id, server_id=server.id, node_id="i=1"))
    db.session.commit()
    assert mapping(client, engineer, char, broker, metric_name="Temp").status_code == 200
    kinds = db.session.execute(sa.select(DataSource.type)).scalars().all()
    assert kinds == ["mqtt"]


def test_mapping_refuses_bad_input_and_stores_nothing(client, engineer, char, broker, plants,
                                                      factory):
    assert_refused(mapping(client, engineer, char, broker, mqtt_topic="a/#/b"),
                   ["body", "mqtt_topic"], "value_error")
    assert_refused(mapping(client, engineer, char, broker, mqtt_topic="a/b+"),
                   ["body", "mqtt_topic"], "value_error")
    assert_refused(mapping(client, engineer, char, broker, trigger_strategy="on_trigger"),
                   ["body", "trigger_tag"], "value_error")
    assert_refused(mapping(client, engineer, char, broker, trigger_strategy="sometimes"),
                   ["body", "trigger_strategy"], "string_pattern_mismatch")
    assert_refused(mapping(client, engineer, char, broker, mqtt_topic=""),
                   ["body", "mqtt_topic"], "string_too_short")
    assert_refused(mapping(client, engineer, char, broker, timer_seconds=0),
                   ["body", "timer_seconds"], "greater_than_equal")
    assert_refused(client.post(MAP, json={"mqtt_topic": "a", "broker_id": broker.id},
                               headers=engineer), ["body", "characteristic_id"], "missing")
    elsewhere = factory.characteristic(factory.hierarchy(plants[1]))
    assert_refused(mapping(client, engineer, elsewhere, broker), ["body", "broker_id"],
                   "value_error")
    no_char = client.post(MAP, json={"characteristic_id": 999, "broker_id": broker.id,
                                     "mqtt_topic": "a"}, headers=engineer)
    assert (no_char.status_code, no_char.json) == (
        404, {"detail": "Characteristic 999 not found"})
    no_broker = client.post(MAP, json={"characteristic_id": char.id, "broker_id": 999,
                                       "mqtt_topic": "a"}, headers=engineer)
    assert (no_broker.status_code, no_broker.json) == (404, {"detail": "Broker 999 not found"})
    assert sources() == 0


def test_tag_routes_need_engineer(client, operator, char, broker):
    for method, path, body in [("get", "/api/v1/tags/mappings", None),
                               ("post", MAP, {}), ("delete", f"{MAP}/{char.id}", None),
                               ("post", "/api/v1/tags/preview", {})]:
        denied = getattr(client, method)(path, json=body, headers=operator)
        assert (denied.status_code, denied.json) == (403, {"detail": ENGINEER_ANY}), path


def test_preview_refuses_bad_input(client, engineer, broker):
    assert_refused(client.post("/api/v1/tags/preview", json={"broker_id": broker.id,
                                                             "topic": "a",
                                                             "duration_seconds": 31},
                               headers=engineer),
                   ["body", "duration_seconds"], "less_than_equal")


def test_provider_status_follows_the_listeners(client, engineer, operator, char, broker):
    mapping(client, engineer, char, broker)
    idle = client.get("/api/v1/providers/status", headers=operator).json
    assert idle["mqtt"] == {"is_connected": False, "broker_id": broker.id, "broker_name": "Line",
                            "last_connected": None, "error_message": "Broker is not connected",
                            "subscribed_topics": []}
    assert idle["tag_provider"]["is_running"] is False
    assert idle["tag_provider"]["characteristics_count"] == 1
    refused = client.post("/api/v1/providers/tag/refresh", headers=engineer)
    assert (refused.status_code, refused.json) == (503, {"detail": "TAG provider is not running"})
    refused = client.post("/api/v1/providers/tag/restart", headers=engineer)
    assert (refused.status_code, refused.json) == (
        503, {"detail": "Cannot restart TAG provider: MQTT not connected"})

    claim_connections("mqtt", [broker.id], "listener-1")
    report_status("mqtt", broker.id, "listener-1", is_connected=True,
                  subscribed=["plant/line1/+/temp"],
                  counters={"messages": 12, "samples": 10, "last_sample_at": 1.8e9})
    live = client.get("/api/v1/providers/status", headers=operator).json
    assert live["mqtt"]["is_connected"] is True
    assert live["tag_provider"] == {
        "is_running": True, "subscribed_topics": ["plant/line1/+/temp"],
        "characteristics_count": 1, "samples_processed": 10,
        "last_sample_time": "2027-01-15T08:00:00Z", "error_message": None}
    assert live["brokers"][0]["counters"]["messages"] == 12
    assert live["brokers"][0]["buffered_subgroups"] == []
    source_id = db.session.execute(sa.select(DataSource.id)).scalar()
    db.session.add(MqttPartialSubgroup(data_source_id=source_id, readings=[[1.0, None],
                                                                           [2.0, None]]))
    db.session.commit()
    (held,) = client.get("/api/v1/providers/status",
                         headers=operator).json["brokers"][0]["buffered_subgroups"]
    assert (held["characteristic_id"], held["values"]) == (char.id, 2)
    before = config_generation("mqtt")
    refreshed = client.post("/api/v1/providers/tag/refresh", headers=engineer)
    assert refreshed.json == {"message": "Refreshed subscriptions for 1 characteristics",
                              "characteristics_count": 1}
    restarted = client.post("/api/v1/providers/tag/restart", headers=engineer)
    assert restarted.json["is_running"] is True
    assert config_generation("mqtt") == before + 2
    for path in ("/api/v1/providers/tag/refresh", "/api/v1/providers/tag/restart"):
        assert client.post(path, headers=operator).json == {"detail": ENGINEER_ANY}
