"""The OPC-UA listener against a real asyncua server started by the test.

Everything is set up through REST (server, mapping); values are written into the server's
address space with their own quality and source time; what is checked is what the database
and the status routes show.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from asyncua import Client, ua

from openspc.extensions import db
from openspc.models import Sample, SubgroupBuffer, Violation
from openspc.services.leases import lease_holders
from openspc.services.opcua_listener import OpcuaListener
from tests.integration.processes import stop_process
from tests.opcua_server import PASSWORD, USER, ServerThread, free_port

BASE = "/api/v1/opcua-servers"
ROOT = Path(__file__).resolve().parents[2]


def wait_for(check: Callable[[], object], timeout: float = 20.0, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.rollback()
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or check}")


def samples_of(char_id: int) -> list[Sample]:
    db.session.rollback()
    return list(db.session.execute(
        sa.select(Sample).where(Sample.char_id == char_id).order_by(Sample.timestamp)).scalars())


def measurements(sample: Sample) -> list[float]:
    return [m.value for m in sorted(sample.measurements, key=lambda m: m.id)]


@pytest.fixture
def admin(factory):
    return factory.headers(factory.user("admin"))


@pytest.fixture
def opcua(tmp_path) -> Iterator[ServerThread]:
    server = ServerThread(tmp_path / "server-certs").start()
    yield server
    server.stop()


class ListenerThread:
    """The listener as ``workers.opcua_listener`` runs it, in a thread of this process."""

    def __init__(self, app):
        self.stop = threading.Event()
        self.listener = OpcuaListener(app)
        self.thread = threading.Thread(target=self.listener.run, args=(self.stop,), daemon=True)

    def __enter__(self) -> OpcuaListener:
        self.thread.start()
        return self.listener

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive()


def add_server(client, headers, url: str, **fields) -> int:
    response = client.post(f"{BASE}/", headers=headers, json={
        "name": fields.pop("name", "Line 1 PLC"), "endpoint_url": url, **fields})
    assert response.status_code == 201, response.json
    return response.json["id"]


def map_node(client, headers, char_id: int, server_id: int, node: str, **fields) -> None:
    response = client.post(f"{BASE}/map", headers=headers, json={
        "characteristic_id": char_id, "server_id": server_id, "node_id": node, **fields})
    assert response.status_code == 200, response.json


def status(client, headers, server_id: int) -> dict:
    return client.get(f"{BASE}/{server_id}/status", headers=headers).json


def test_values_become_evaluated_samples_at_their_source_time(client, admin, factory, opcua):
    chart = factory.characteristic(ucl=13.0, lcl=7.0, center_line=10.0, sigma=1.0)
    server_id = add_server(client, admin, opcua.url, sampling_interval=50,
                           publishing_interval=100)
    map_node(client, admin, chart.id, server_id, "ns=2;s=Line1.Temperature")
    opcua.write("Line1.Temperature", 10.1)
    with ListenerThread(client.application):
        wait_for(lambda: samples_of(chart.id), what="the current value on subscribing")
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
        values = [10.0, 10.5, 9.5, 14.0, 10.2]
        for offset, value in enumerate(values):
            opcua.write("Line1.Temperature", value, source=start + timedelta(seconds=offset))
            time.sleep(0.15)
        opcua.write("Line1.Temperature", 99.0,
                    status=ua.StatusCode(ua.StatusCodes.BadSensorFailure),
                    source=start + timedelta(seconds=10))
        time.sleep(0.15)
        opcua.write("Line1.Temperature", 12.0,
                    status=ua.StatusCode(ua.StatusCodes.UncertainLastUsableValue),
                    source=start + timedelta(seconds=11))
        wait_for(lambda: len(samples_of(chart.id)) == 1 + len(values), what="samples")
        wait_for(lambda: all(s.status == "evaluated" for s in samples_of(chart.id)),
                 what="evaluation")
        live = wait_for(lambda: (s := status(client, admin, server_id))["counters"].get(
            "refused_uncertain_quality") and s, what="status counters")
    initial, *stored = samples_of(chart.id)
    assert measurements(initial) == [10.1]
    assert [measurements(s) for s in stored] == [[v] for v in values]
    assert [s.timestamp for s in stored] == [start + timedelta(seconds=i)
                                             for i in range(len(values))]
    violations = db.session.execute(sa.select(Violation)).scalars().all()
    assert [(v.sample_id, v.rule_id) for v in violations] == [(stored[3].id, 1)]
    assert live["is_connected"] is True
    assert live["counters"]["refused_bad_quality"] == 1
    assert live["counters"]["refused_uncertain_quality"] == 1
    assert live["last_data_at"] is not None


def test_subgroups_assemble_and_a_partial_one_survives_a_restart(client, admin, factory, opcua):
    """The node's current value (7) on subscribing is the subgroup's first measurement."""
    chart = factory.characteristic(subgroup_size=3)
    server_id = add_server(client, admin, opcua.url, publishing_interval=100)
    map_node(client, admin, chart.id, server_id, "ns=2;s=Line1.Count", sampling_interval=20)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)

    def write(offset: int, value: int) -> None:
        opcua.write("Line1.Count", value, source=start + timedelta(seconds=offset),
                    kind=ua.VariantType.Int32)
        time.sleep(0.1)

    with ListenerThread(client.application):
        wait_for(lambda: db.session.get(SubgroupBuffer, chart.id), what="current value")
        for offset, value in enumerate((1, 2, 3, 4)):
            write(offset, value)
        wait_for(lambda: samples_of(chart.id), what="first subgroup")
        wait_for(lambda: (row := db.session.get(SubgroupBuffer, chart.id)) is not None
                 and len(row.values) == 2, what="partial subgroup stored")
    with ListenerThread(client.application):
        wait_for(lambda: status(client, admin, server_id)["monitored_nodes"], what="resubscribed")
        write(4, 5)
        wait_for(lambda: len(samples_of(chart.id)) == 2, what="second subgroup")
    first, second = samples_of(chart.id)
    assert (measurements(first), measurements(second)) == ([7, 1, 2], [3, 4, 5])
    assert second.timestamp == start + timedelta(seconds=4)
    assert db.session.get(SubgroupBuffer, chart.id) is None


def test_booleans_are_zero_or_one_and_strings_are_refused(client, admin, factory, opcua):
    flag, label = factory.characteristic(), factory.characteristic()
    server_id = add_server(client, admin, opcua.url, publishing_interval=100)
    map_node(client, admin, flag.id, server_id, "ns=2;s=Line1.Running")
    map_node(client, admin, label.id, server_id, "ns=2;s=Line1.Label")
    with ListenerThread(client.application):
        wait_for(lambda: len(status(client, admin, server_id)["monitored_nodes"]) == 2,
                 what="subscribed")
        opcua.write("Line1.Running", False, kind=ua.VariantType.Boolean)
        wait_for(lambda: len(samples_of(flag.id)) == 2, what="boolean samples")
        counters = wait_for(lambda: status(client, admin, server_id)["counters"].get(
            "refused_not_numeric"), what="refusal counted")
    assert [measurements(s) for s in samples_of(flag.id)] == [[1.0], [0.0]]
    assert samples_of(label.id) == [] and counters == 1


def test_a_mapping_added_through_rest_reaches_the_running_listener(client, admin, factory,
                                                                   opcua):
    chart = factory.characteristic()
    server_id = add_server(client, admin, opcua.url, publishing_interval=100)
    with ListenerThread(client.application):
        wait_for(lambda: status(client, admin, server_id)["is_connected"], what="connected")
        mapped_at = time.monotonic()
        map_node(client, admin, chart.id, server_id, "ns=2;s=Line1.Pressure")
        wait_for(lambda: status(client, admin, server_id)["monitored_nodes"], what="subscribed")
        assert time.monotonic() - mapped_at < 5
        opcua.write("Line1.Pressure", 2.5, kind=ua.VariantType.Float)
        wait_for(lambda: any(measurements(s) == [2.5] for s in samples_of(chart.id)),
                 what="value")
        client.delete(f"{BASE}/map/{chart.id}", headers=admin)
        wait_for(lambda: status(client, admin, server_id)["monitored_nodes"] == [],
                 what="unsubscribed")


class ServerProcess:
    """The test server in its own process, streaming a value every ``stream_ms``."""

    def __init__(self, port: int, cert_dir: Path, stream_ms: int):
        self.args = [sys.executable, "-m", "tests.opcua_server", "--port", str(port),
                     "--cert-dir", str(cert_dir), "--stream-ms", str(stream_ms)]
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.args, cwd=ROOT, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True,
                                        start_new_session=True)
        assert self.process.stdout.readline().strip() == "ready"

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


@pytest.fixture
def streaming(tmp_path) -> Iterator[tuple[ServerProcess, str]]:
    port = free_port()
    server = ServerProcess(port, tmp_path / "stream-certs", stream_ms=100)
    server.start()
    yield server, f"opc.tcp://127.0.0.1:{port}/openspc/"
    if server.process.poll() is None:
        server.kill()


def server_monitored_items(url: str) -> list[list]:
    """What the restarted server holds, read by a client of our own (tests.opcua_server)."""
    async def read() -> str:
        async with Client(url) as client:
            return await client.get_node("ns=2;s=Diagnostics.MonitoredItems").read_value()

    return json.loads(asyncio.run(read()))


def stream_values(char_id: int) -> list[float]:
    return [measurements(s)[0] for s in samples_of(char_id)]


def test_the_listener_reconnects_after_a_server_restart(client, admin, factory, streaming):
    """Kill the server under a steady stream and start it again on the same port: the
    listener reconnects by itself and the node comes back with its own 20 ms sampling (the
    server's default is 1 s, which would skip most of the 100 ms stream)."""
    server, url = streaming
    chart = factory.characteristic()
    server_id = add_server(client, admin, url, sampling_interval=1000, publishing_interval=100)
    map_node(client, admin, chart.id, server_id, "ns=2;s=Line1.Stream", sampling_interval=20)
    with ListenerThread(client.application):
        wait_for(lambda: len(stream_values(chart.id)) >= 10, what="stream before restart")
        server.kill()
        down = wait_for(lambda: (s := status(client, admin, server_id))["is_connected"] is False
                        and s, what="disconnected status")
        assert down["error_message"]
        time.sleep(1.5)
        before = len(stream_values(chart.id))
        restarted_at = datetime.now(UTC)
        server.start()
        wait_for(lambda: len([s for s in samples_of(chart.id) if s.timestamp > restarted_at])
                 >= 20, timeout=40, what="stream after restart")
        live = wait_for(lambda: (s := status(client, admin, server_id))["is_connected"] and s,
                        what="connected again")
        items = server_monitored_items(url)
    after = [measurements(s)[0] for s in samples_of(chart.id) if s.timestamp > restarted_at]
    steps = [b - a for a, b in zip(after, after[1:], strict=False)]
    assert steps.count(1.0) >= len(steps) - 1, steps
    assert live["counters"]["reconnects"] >= 1
    assert before >= 10
    # 20 ms sampling, 100 ms publishing: 5 samples a publish, queue 10 times that; the
    # server default of 1 s would have asked for 10
    assert ["ns=2;s=Line1.Stream", 50, "StatusValueTimestamp"] in items, items


def test_a_killed_listener_process_is_replaced_and_resumes(client, admin, factory, opcua,
                                                           app, tmp_path):
    chart = factory.characteristic()
    server_id = add_server(client, admin, opcua.url, publishing_interval=100)
    map_node(client, admin, chart.id, server_id, "ns=2;s=Line1.Temperature")
    settings = app.extensions["openspc_settings"]
    env = {**os.environ, "OPENSPC_DATABASE_URL": settings.database_url,
           "OPENSPC_DATA_DIR": str(tmp_path), "OPENSPC_LOG_LEVEL": "WARNING",
           "OPENSPC_JWT_SECRET": settings.jwt_secret}

    def start() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "workers.opcua_listener"], cwd=ROOT,
                                env=env, start_new_session=True)

    first = start()
    try:
        wait_for(lambda: samples_of(chart.id), timeout=30, what="first listener subscribed")
        start_time = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
        opcua.write("Line1.Temperature", 11.0, source=start_time + timedelta(seconds=1))
        wait_for(lambda: any(measurements(s) == [11.0] for s in samples_of(chart.id)),
                 what="first value")
        killed_holder = lease_holders("opcua")[server_id]
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        second = start()
        try:
            wait_for(lambda: lease_holders("opcua").get(server_id) not in (None, killed_holder)
                     and status(client, admin, server_id)["monitored_nodes"], timeout=40,
                     what="second listener took over")
            opcua.write("Line1.Temperature", 12.0, source=start_time + timedelta(seconds=2))
            wait_for(lambda: any(measurements(s) == [12.0] for s in samples_of(chart.id)),
                     what="value after takeover")
        finally:
            stop_process(second, 20)
        assert second.returncode == 0
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    values = [measurements(s) for s in samples_of(chart.id) if s.timestamp > start_time]
    assert values == [[11.0], [12.0]]
    assert status(client, admin, server_id)["is_connected"] is False


def test_a_signed_session_with_a_user_delivers_and_a_wrong_password_is_reported(
        client, admin, factory, opcua):
    chart = factory.characteristic()
    secured = add_server(client, admin, opcua.url, name="secured",
                         security_policy="Basic256Sha256", security_mode="Sign",
                         auth_mode="username_password", username=USER, password=PASSWORD,
                         publishing_interval=100)
    refused = add_server(client, admin, opcua.url, name="wrong password",
                         auth_mode="username_password", username=USER, password="nope")
    map_node(client, admin, chart.id, secured, "ns=2;s=Line1.Pressure")
    with ListenerThread(client.application):
        wait_for(lambda: samples_of(chart.id), what="current value over the signed session")
        opcua.write("Line1.Pressure", 3.25, kind=ua.VariantType.Float)
        wait_for(lambda: any(measurements(s) == [3.25] for s in samples_of(chart.id)),
                 what="value over the signed session")
        error = wait_for(lambda: status(client, admin, refused)["error_message"]
                         not in (None, "Server is not connected", "Connecting")
                         and status(client, admin, refused)["error_message"],
                         what="refusal reported")
    assert "BadUserAccessDenied" in error
    assert status(client, admin, refused)["is_connected"] is False


def test_two_listeners_never_subscribe_the_same_server(client, admin, factory, opcua):
    chart = factory.characteristic()
    server_id = add_server(client, admin, opcua.url, publishing_interval=100)
    map_node(client, admin, chart.id, server_id, "ns=2;s=Line1.Pressure")
    with ListenerThread(client.application) as first, \
            ListenerThread(client.application) as second:
        wait_for(lambda: samples_of(chart.id), what="current value")
        time.sleep(2 * 10 / 3)  # two claim rounds of each listener
        owners = [listener for listener in (first, second) if listener.sessions]
        assert len(owners) == 1
        source = datetime.now(UTC) + timedelta(seconds=1)
        opcua.write("Line1.Pressure", 4.5, source=source, kind=ua.VariantType.Float)
        wait_for(lambda: any(measurements(s) == [4.5] for s in samples_of(chart.id)),
                 what="value")
        time.sleep(1)
    assert [measurements(s) for s in samples_of(chart.id)] == [[1.5], [4.5]]
