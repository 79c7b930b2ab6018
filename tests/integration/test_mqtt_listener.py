"""The listener process end to end: a Mosquitto of the test's own (persistent, so it can be
killed and restarted), ``python -m workers.mqtt_listener`` as a real process, paho (not our
code) as the publishing device, and REST to configure. Every count of stored samples is
compared with what was published."""

from __future__ import annotations

import getpass
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion

from openspc.connectors.mqtt import openspc_sparkplug_b_pb2 as pb
from openspc.extensions import db
from openspc.models import Sample, Violation
from tests.conftest import require_service
from tests.integration.processes import stop_process

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mosquitto:
    """A broker with persistence on a port of its own."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.folder = folder
        folder.mkdir(exist_ok=True)
        (folder / "mosquitto.conf").write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {folder}/\nmax_inflight_messages 0\n"
            "max_queued_messages 0\nautosave_interval 1\n"
            # run as root, mosquitto would switch to user "mosquitto" and fail to save
            f"user {getpass.getuser()}\n")
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(["mosquitto", "-c", str(self.folder / "mosquitto.conf")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "mosquitto did not start"
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: mosquitto saves its persistence file
            self.process.wait(10)
            self.process = None


@pytest.fixture
def mosquitto(tmp_path) -> Iterator[Mosquitto]:
    try:
        subprocess.run(["mosquitto", "-h"], capture_output=True, check=False)
    except FileNotFoundError:
        require_service(False, "mosquitto binary not installed")
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    yield broker
    broker.stop()


class Listeners:
    """``python -m workers.mqtt_listener`` processes on the test's database."""

    def __init__(self, tmp_path: Path):
        self.env = {**os.environ, "OPENSPC_DATABASE_URL": f"sqlite:///{tmp_path / 'openspc.db'}",
                    "OPENSPC_JWT_SECRET": "test-secret-" + "x" * 40,
                    "OPENSPC_DATA_DIR": str(tmp_path), "OPENSPC_LOG_LEVEL": "WARNING",
                    "OPENSPC_SPARKPLUG_HOST_ID": "openspc-test-host"}
        self.env.pop("OPENSPC_BROKER_URL", None)
        self.processes: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-m", "workers.mqtt_listener"], cwd=ROOT,
                                   env=self.env, start_new_session=True)
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                stop_process(process, 20)


@pytest.fixture
def listeners(tmp_path, app) -> Iterator[Listeners]:
    running = Listeners(tmp_path)
    yield running
    running.stop_all()


@pytest.fixture
def engineer(factory):
    return factory.headers(factory.user("engineer"))


def publisher(port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"device-{port}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def configure(client, headers, port: int, char_id: int, topic: str, **mapping) -> int:
    broker = client.post("/api/v1/brokers/", json={"name": "Plant broker", "host": "127.0.0.1",
                                                   "port": port}, headers=headers)
    assert broker.status_code == 201, broker.json
    mapped = client.post("/api/v1/tags/map", json={
        "characteristic_id": char_id, "broker_id": broker.json["id"], "mqtt_topic": topic,
        **mapping}, headers=headers)
    assert mapped.status_code == 200, mapped.json
    return broker.json["id"]


def wait_connected(client, headers, broker_id: int, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(f"/api/v1/brokers/{broker_id}/status", headers=headers).json
        if status["is_connected"] and status["subscribed_topics"]:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.2)


def samples_of(char_id: int) -> list[Sample]:
    db.session.expire_all()
    rows = db.session.execute(sa.select(Sample).where(Sample.char_id == char_id)
                              .order_by(Sample.timestamp, Sample.id)).scalars().all()
    db.session.rollback()
    return rows


def wait_samples(char_id: int, count: int, timeout: float = 30) -> list[Sample]:
    deadline = time.monotonic() + timeout
    while True:
        rows = samples_of(char_id)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def publish_all(device: mqtt.Client, topic: str, payloads: list[bytes]) -> None:
    infos = [device.publish(topic, p, qos=1) for p in payloads]
    for info in infos:
        info.wait_for_publish(10)


def test_json_and_plain_values_become_evaluated_samples(client, engineer, factory, mosquitto,
                                                        listeners):
    chart = factory.characteristic(ucl=13.0, lcl=7.0, center_line=10.0, sigma=1.0)
    broker_id = configure(client, engineer, mosquitto.port, chart.id, "plant/+/bore",
                          value_path="reading.value", timestamp_path="reading.ts")
    listeners.start()
    assert wait_connected(client, engineer, broker_id)["subscribed_topics"] == ["plant/+/bore"]
    device = publisher(mosquitto.port)
    payloads = [b'{"reading": {"value": 10.2, "ts": "2026-01-05T08:00:00Z"}}',
                b'{"reading": {"value": 14.5, "ts": "2026-01-05T08:01:00Z"}}',
                b'{"reading": {"value": NaN, "ts": "2026-01-05T08:02:00Z"}}',
                b'{"reading": {"value": "high", "ts": "2026-01-05T08:02:30Z"}}',
                b'[{"reading": {"value": 9.5, "ts": "2026-01-05T08:03:00Z"}},'
                b' {"reading": {"value": 9.9, "ts": "2026-01-05T08:04:00Z"}}]']
    publish_all(device, "plant/line1/bore", payloads)
    rows = wait_samples(chart.id, 4)
    assert [(r.mean, r.timestamp.minute) for r in rows] == [(10.2, 0), (14.5, 1), (9.5, 3),
                                                           (9.9, 4)]
    deadline = time.monotonic() + 10
    while any(r.status != "evaluated" for r in samples_of(chart.id)):
        assert time.monotonic() < deadline, "samples were not evaluated"
        time.sleep(0.2)
    violations = db.session.execute(sa.select(Violation.sample_id, Violation.rule_id)).all()
    assert violations == [(rows[1].id, 1)], "14.5 is beyond UCL 13: rule 1, nothing else"
    status = client.get("/api/v1/providers/status", headers=engineer).json
    deadline = time.monotonic() + 5
    while status["brokers"][0]["counters"].get("refused_non_finite") != 1:
        assert time.monotonic() < deadline, status
        time.sleep(0.3)
        status = client.get("/api/v1/providers/status", headers=engineer).json
    counters = status["brokers"][0]["counters"]
    assert (counters["refused_wrong_type"], counters["samples"]) == (1, 4)
    assert status["tag_provider"]["is_running"] is True
    device.disconnect()


def test_subgroups_persist_across_a_listener_restart(client, engineer, factory, mosquitto,
                                                     listeners):
    chart = factory.characteristic(subgroup_size=3)
    broker_id = configure(client, engineer, mosquitto.port, chart.id, "cell/diameter")
    first = listeners.start()
    wait_connected(client, engineer, broker_id)
    device = publisher(mosquitto.port)
    publish_all(device, "cell/diameter", [b"1.0", b"2.0"])
    time.sleep(1.5)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    publish_all(device, "cell/diameter", [b"3.0", b"4.0", b"5.0", b"6.0"])
    listeners.start()
    rows = wait_samples(chart.id, 2)
    assert [sorted(m.value for m in r.measurements) for r in rows] == [[1.0, 2.0, 3.0],
                                                                       [4.0, 5.0, 6.0]]
    device.disconnect()


def test_killed_listener_and_restarted_broker_lose_and_duplicate_nothing(
        client, engineer, factory, mosquitto, listeners):
    chart = factory.characteristic()
    broker_id = configure(client, engineer, mosquitto.port, chart.id, "line/load")
    first = listeners.start()
    wait_connected(client, engineer, broker_id)
    device = publisher(mosquitto.port)
    confirmed: list[float] = []
    uncertain: list[float] = []
    stop = threading.Event()

    def feed() -> None:
        """Publish 0.5, 1.5, ...; a value counts once the broker acknowledged it (PUBACK).
        While the broker is down a publish fails; paho may still send it later."""
        number = 0
        while not stop.is_set():
            value = number + 0.5
            number += 1
            try:
                device.publish("line/load", str(value).encode(), qos=1).wait_for_publish(5)
            except (RuntimeError, ValueError):
                uncertain.append(value)
                time.sleep(0.1)
                continue
            confirmed.append(value)
            time.sleep(0.002)

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        time.sleep(2)
        os.killpg(first.pid, signal.SIGKILL)  # mid-stream, batches in hand
        first.wait(10)
        time.sleep(1)
        listeners.start()
        time.sleep(3)
        mosquitto.stop()  # the broker restarts from its persistence file
        mosquitto.start()
        time.sleep(3)
    finally:
        stop.set()
        feeder.join(60)
    rows = wait_samples(chart.id, len(confirmed), timeout=60)
    values = [r.mean for r in rows]
    assert len(values) == len(set(values)), "a message was stored twice"
    missing = sorted(set(confirmed) - set(values))
    assert not missing, (len(values), len(confirmed), missing[:5], missing[-5:])
    assert set(values) <= set(confirmed) | set(uncertain)
    device.disconnect()


def test_two_listeners_store_each_message_once(client, engineer, factory, mosquitto,
                                               listeners):
    chart = factory.characteristic()
    broker_id = configure(client, engineer, mosquitto.port, chart.id, "two/listeners")
    listeners.start()
    listeners.start()
    wait_connected(client, engineer, broker_id)
    device = publisher(mosquitto.port)
    publish_all(device, "two/listeners", [f"{i}.25".encode() for i in range(200)])
    wait_samples(chart.id, 200)
    time.sleep(2)
    assert sorted(r.mean for r in samples_of(chart.id)) == [i + 0.25 for i in range(200)]
    device.disconnect()


def test_sparkplug_edge_node_with_aliases_gaps_and_signed_integers(
        client, engineer, factory, mosquitto, listeners):
    chart = factory.characteristic()
    broker_id = configure(client, engineer, mosquitto.port, chart.id,
                          "spBv1.0/Plant/DDATA/gw1/plc1", metric_name="Offset")
    listeners.start()
    wait_connected(client, engineer, broker_id)
    commands: list[bytes] = []
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="watcher")
    watcher.on_message = lambda _c, _u, m: commands.append(m.payload)
    watcher.connect("127.0.0.1", mosquitto.port)
    watcher.subscribe("spBv1.0/Plant/NCMD/gw1", qos=1)
    watcher.loop_start()
    device = publisher(mosquitto.port)

    def payload(seq, metrics, timestamp=1_767_600_000_000):
        message = pb.Payload(timestamp=timestamp, seq=seq)
        for fields, kind, value in metrics:
            metric = message.metrics.add(**fields)
            setattr(metric, kind, value)
        return message.SerializeToString()

    nbirth = payload(0, [({"name": "bdSeq", "datatype": pb.Int64}, "long_value", 0)])
    dbirth = payload(1, [({"name": "Offset", "alias": 7, "datatype": pb.Int16}, "int_value",
                          (1 << 16) - 3)])
    data = payload(2, [({"alias": 7}, "int_value", (1 << 16) - 12)])  # alias only: -12
    historical = payload(3, [({"alias": 7, "timestamp": 1_767_500_000_000,
                               "is_historical": True}, "int_value", 5)])
    gap = payload(9, [({"alias": 7}, "int_value", 6)])  # seq 4-8 missing
    for topic, body in [("spBv1.0/Plant/NBIRTH/gw1", nbirth),
                        ("spBv1.0/Plant/DBIRTH/gw1/plc1", dbirth),
                        ("spBv1.0/Plant/DDATA/gw1/plc1", data),
                        ("spBv1.0/Plant/DDATA/gw1/plc1", historical),
                        ("spBv1.0/Plant/DDATA/gw1/plc1", gap)]:
        device.publish(topic, body, qos=1).wait_for_publish(10)
    rows = wait_samples(chart.id, 3)
    assert sorted((r.mean, r.timestamp.timestamp()) for r in rows) == [
        (-12.0, 1_767_600_000.0), (5.0, 1_767_500_000.0), (6.0, 1_767_600_000.0)]
    deadline = time.monotonic() + 10
    while not commands:
        assert time.monotonic() < deadline, "no rebirth request after the seq gap"
        time.sleep(0.1)
    request = pb.Payload()
    request.ParseFromString(commands[0])
    assert [(m.name, m.boolean_value) for m in request.metrics] == [
        ("Node Control/Rebirth", True)]
    watcher.disconnect()
    device.disconnect()


def test_configuration_changes_reach_a_running_listener(client, engineer, admin_headers,
                                                        factory, mosquitto, listeners):
    chart = factory.characteristic()
    broker_id = client.post("/api/v1/brokers/", json={
        "name": "Live", "host": "127.0.0.1", "port": mosquitto.port}, headers=engineer).json["id"]
    listeners.start()
    deadline = time.monotonic() + 20
    while not client.get(f"/api/v1/brokers/{broker_id}/status",
                         headers=engineer).json["is_connected"]:
        assert time.monotonic() < deadline, "the listener never connected"
        time.sleep(0.2)
    device = publisher(mosquitto.port)
    mapped_at = time.monotonic()
    client.post("/api/v1/tags/map", json={"characteristic_id": chart.id, "broker_id": broker_id,
                                          "mqtt_topic": "late/mapping"}, headers=engineer)
    while not samples_of(chart.id):
        assert time.monotonic() - mapped_at < 5, "the new mapping was not applied"
        device.publish("late/mapping", b"1.5", qos=1).wait_for_publish(5)
        time.sleep(0.1)
    patched = client.patch(f"/api/v1/brokers/{broker_id}", json={"keepalive": 30},
                           headers=engineer)
    assert patched.status_code == 200
    time.sleep(2)
    status = client.get(f"/api/v1/brokers/{broker_id}/status", headers=engineer).json
    assert (status["is_connected"], status["subscribed_topics"]) == (True, ["late/mapping"])
    assert client.delete(f"/api/v1/brokers/{broker_id}", headers=admin_headers).status_code == 204
    time.sleep(2)
    stored = len(samples_of(chart.id))
    device.publish("late/mapping", b"2.5", qos=1).wait_for_publish(5)
    time.sleep(2)
    assert len(samples_of(chart.id)) == stored, "a deleted broker is still ingested"
    device.disconnect()


@pytest.fixture
def admin_headers(factory):
    return factory.headers(factory.user("admin"))


def test_payloads_of_an_independent_sparkplug_implementation(client, engineer, factory,
                                                             mosquitto, listeners):
    """pysparkplug encodes the edge node's BIRTH/DATA/DEATH (its own MQTT client needs paho
    1.x, so paho publishes them). Its DATA carry aliases without datatypes."""
    try:
        import pysparkplug as spb
    except ImportError:
        require_service(False, "pysparkplug not installed: pip install --no-deps pysparkplug")
    chart = factory.characteristic()
    broker_id = configure(client, engineer, mosquitto.port, chart.id,
                          "spBv1.0/Line/DDATA/edge/press", metric_name="Force")
    listeners.start()
    wait_connected(client, engineer, broker_id)
    device = publisher(mosquitto.port)
    t = 1_767_600_000_000
    messages = [
        ("spBv1.0/Line/NBIRTH/edge", spb.NBirth(timestamp=t, seq=0, metrics=(
            spb.Metric(timestamp=t, name="bdSeq", datatype=spb.DataType.INT64, value=1),))),
        ("spBv1.0/Line/DBIRTH/edge/press", spb.DBirth(timestamp=t, seq=1, metrics=(
            spb.Metric(timestamp=t, name="Force", alias=11, datatype=spb.DataType.INT32,
                       value=-40),))),
        *[("spBv1.0/Line/DDATA/edge/press", spb.DData(timestamp=t + i, seq=2 + i, metrics=(
            spb.Metric(timestamp=t + i, name=None, alias=11, datatype=spb.DataType.INT32,
                       value=-(i + 1)),))) for i in range(5)],
        ("spBv1.0/Line/NDEATH/edge", spb.NDeath(timestamp=t + 9, bd_seq_metric=spb.Metric(
            timestamp=t + 9, name="bdSeq", datatype=spb.DataType.INT64, value=1))),
    ]
    for topic, payload in messages:
        device.publish(topic, payload.encode(), qos=1).wait_for_publish(10)
    rows = wait_samples(chart.id, 5)
    assert sorted(r.mean for r in rows) == [-5.0, -4.0, -3.0, -2.0, -1.0]
    deadline = time.monotonic() + 10
    while True:
        counters = client.get("/api/v1/providers/status", headers=engineer).json[
            "brokers"][0]["counters"]
        if counters.get("stale_nodes") == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert counters["stale_nodes"] == 2, "NDEATH makes the node and its device stale"
    device.disconnect()
