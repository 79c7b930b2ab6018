"""The broker routes that open connections, against the real Mosquitto, with paho (an MQTT
client we did not write) publishing: connection test, discovery (flat and tree), preview."""

from __future__ import annotations

import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from openspc.connectors.mqtt import openspc_sparkplug_b_pb2 as pb

URL = "/api/v1/brokers/"


@pytest.fixture
def engineer(factory):
    return factory.headers(factory.user("engineer"))


@pytest.fixture
def publisher(mqtt_address):
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.connect(*mqtt_address)
    client.loop_start()
    yield client
    client.disconnect()
    client.loop_stop()


@pytest.fixture
def broker_id(client, engineer, mqtt_address):
    host, port = mqtt_address
    return client.post(URL, json={"name": "Real", "host": host, "port": port},
                       headers=engineer).json["id"]


def test_connection_test(client, engineer, mqtt_address):
    host, port = mqtt_address
    ok = client.post(f"{URL}test", json={"host": host, "port": port}, headers=engineer).json
    assert (ok["success"], ok["message"]) == (True, f"Successfully connected to {host}:{port}")
    assert ok["latency_ms"] > 0
    refused = client.post(f"{URL}test", json={"host": host, "port": 1}, headers=engineer).json
    assert refused["success"] is False and refused["message"].startswith("Connection failed")
    assert refused["latency_ms"] is None


def _keep_publishing(publisher, topic: str, payload: bytes, stop: threading.Event) -> None:
    while not stop.is_set():
        publisher.publish(topic, payload, qos=0)
        time.sleep(0.1)


@pytest.fixture
def discovery_stopped():
    from openspc.services import discovery

    yield
    discovery.stop_all()


def test_discovery_lists_topics_flat_and_as_a_tree(client, engineer, broker_id, publisher,
                                                   discovery_stopped):
    prefix = f"openspc-test/{uuid.uuid4().hex[:8]}"
    started = client.post(f"{URL}{broker_id}/discover", headers=engineer)
    assert (started.status_code, started.json) == (202, {"message":
                                                          "Discovery started on broker Real"})
    again = client.post(f"{URL}{broker_id}/discover", headers=engineer)
    assert again.json == {"message": "Discovery already active on broker Real"}
    birth = pb.Payload(timestamp=1, seq=0)
    metric = birth.metrics.add(name="Temp", alias=1, datatype=pb.Double)
    metric.double_value = 20.5
    publisher.publish(f"{prefix}/line1/temp", b"12.5")
    publisher.publish(f"{prefix}/line1/temp", b"12.6")
    publisher.publish(f"spBv1.0/{prefix.replace('/', '-')}/DBIRTH/node1/dev1",
                      birth.SerializeToString())
    deadline = time.monotonic() + 5
    while True:
        flat = client.get(f"{URL}{broker_id}/topics?search={prefix}", headers=engineer).json
        sparkplug = client.get(f"{URL}{broker_id}/topics?search="
                               f"{prefix.replace('/', '-')}", headers=engineer).json
        done = flat and flat[0]["message_count"] == 2 and sparkplug
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [t["topic"] for t in flat] == [f"{prefix}/line1/temp"]
    assert flat[0]["message_count"] == 2 and flat[0]["last_payload_size"] in (4,)
    assert flat[0]["is_sparkplug"] is False
    (spb,) = sparkplug
    assert (spb["is_sparkplug"], spb["sparkplug_message_type"], spb["sparkplug_node"],
            spb["sparkplug_device"], spb["sparkplug_metrics"]) == (
        True, "DBIRTH", "node1", "dev1", [{"name": "Temp", "data_type": "Double"}])
    tree = client.get(f"{URL}{broker_id}/topics?format=tree", headers=engineer).json
    assert tree["name"] == "root"
    top = next(c for c in tree["children"] if c["name"] == "openspc-test")
    leaf = top["children"][0]["children"][0]["children"][0]
    assert (leaf["name"], leaf["full_topic"], leaf["message_count"]) == (
        "temp", f"{prefix}/line1/temp", 2)
    stopped = client.delete(f"{URL}{broker_id}/discover", headers=engineer)
    assert stopped.json == {"message": "Discovery stopped on broker Real"}
    assert client.get(f"{URL}{broker_id}/topics", headers=engineer).json == []


def test_discovery_and_preview_of_an_unreachable_broker(client, engineer, discovery_stopped):
    broker_id = client.post(URL, json={"name": "Down", "host": "127.0.0.1", "port": 1},
                            headers=engineer).json["id"]
    for response in (client.post(f"{URL}{broker_id}/discover", headers=engineer),
                     client.post("/api/v1/tags/preview", json={
                         "broker_id": broker_id, "topic": "a", "duration_seconds": 1},
                         headers=engineer)):
        assert (response.status_code, response.json) == (
            400, {"detail": f"Broker {broker_id} is not connected"})


def test_preview_collects_plain_and_sparkplug_values(client, engineer, broker_id, publisher):
    topic = f"openspc-test/{uuid.uuid4().hex[:8]}/temp"
    stop = threading.Event()
    feeder = threading.Thread(target=_keep_publishing, args=(publisher, topic, b"12.5", stop))
    feeder.start()
    try:
        preview = client.post("/api/v1/tags/preview", json={
            "broker_id": broker_id, "topic": topic, "duration_seconds": 1}, headers=engineer)
    finally:
        stop.set()
        feeder.join()
    body = preview.json
    assert preview.status_code == 200
    assert body["topic"] == topic and body["sample_count"] == len(body["values"]) >= 3
    assert body["values"][0] | {"timestamp": None} == {
        "value": 12.5, "timestamp": None, "raw_payload": "12.5", "metric_name": None}
    assert 1.0 <= body["duration_seconds"] < 2.0

    spb_topic = f"spBv1.0/g{uuid.uuid4().hex[:6]}/DDATA/node1/dev1"
    data = pb.Payload(timestamp=1_700_000_000_000, seq=3)
    metric = data.metrics.add(name="Pressure", datatype=pb.Int32, timestamp=1_700_000_000_500)
    metric.int_value = (1 << 32) - 5  # -5 as an Int32 travels in two's complement
    stop.clear()
    feeder = threading.Thread(target=_keep_publishing,
                              args=(publisher, spb_topic, data.SerializeToString(), stop))
    feeder.start()
    try:
        preview = client.post("/api/v1/tags/preview", json={
            "broker_id": broker_id, "topic": spb_topic, "duration_seconds": 1},
            headers=engineer).json
    finally:
        stop.set()
        feeder.join()
    assert preview["values"][0] == {"value": -5, "timestamp": "2023-11-14T22:13:20.500000Z",
                                    "raw_payload": "Pressure (Int32)",
                                    "metric_name": "Pressure"}
