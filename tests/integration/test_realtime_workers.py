"""Realtime across processes: gunicorn web processes, Redis, and frames emitted elsewhere.

Two web processes run under gunicorn (``-k gthread``) with the Redis message queue and a
Celery worker on the same Redis; frames are emitted by another process (a plain Python
process with the app context calling ``openspc.realtime.emit.emit``), by the test process
acting as a third web process, and by the real pipeline: ``POST /api/v1/samples`` evaluated
by the Celery worker, then set-limits and acknowledge on the web processes. A python-socketio
client and raw WebSocket clients, spread over the web processes, must each receive exactly
the frames of the characteristics they subscribed to, once, and nothing else.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests
import socketio
import websocket
from werkzeug.serving import make_server

from openspc import create_app
from openspc.auth.tokens import issue_access_token
from openspc.extensions import db
from openspc.realtime.emit import emit
from openspc.realtime.relay import channel_for
from tests.conftest import Factory, make_settings
from tests.integration.processes import REPO, free_port, start_gunicorn, stop_process, wait_healthy
from tests.realtime.clients import ask, raw_socket, receive, socketio_client

pytestmark = pytest.mark.integration

REDIS_DB = 6
QUIET = 0.5  # how long "nothing else arrives" is watched, after the last expected frame

EMITTER = """
import json, sys
from openspc import create_app
from openspc.realtime.emit import emit
app = create_app()
with app.app_context():
    for frame, characteristic_id in json.loads(sys.argv[1]):
        emit(frame, characteristic_id)
"""


@dataclass
class Stack:
    env: dict[str, str]
    web: list[str]           # host:port of each gunicorn web process
    worker_log: Path
    operator_token: str      # operator at plant A
    admin_token: str
    a1: int
    a2: int
    b1: int                  # plant B
    c1: int                  # plant A, with limits (ucl 13, lcl 7)
    c2: int                  # plant A, with limits (ucl 13, lcl 7)


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
               "-Q", "evaluate,publish,maintenance", "--pool", "solo", "--without-mingle",
               "--without-gossip", "-n", f"realtime-{os.getpid()}@%h", "--loglevel", "INFO"]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def _wait_worker_ready(stack: Stack) -> None:
    deadline = time.monotonic() + 90
    while " ready." not in stack.worker_log.read_text():
        assert time.monotonic() < deadline, f"worker not ready:\n{stack.worker_log.read_text()}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, migrated_template, redis_url) -> Iterator[Stack]:
    """Seeded SQLite file, two gunicorn web processes on it, and this process's app."""
    tmp_path = tmp_path_factory.mktemp("realtime")
    queue = f"{redis_url}/{REDIS_DB}"
    overrides = {"OPENSPC_REDIS_URL": queue, "OPENSPC_BROKER_URL": queue}
    shutil.copy(migrated_template, tmp_path / "openspc.db")
    settings = make_settings(tmp_path, **overrides)
    app = create_app({"RATELIMIT_ENABLED": False}, settings=settings)
    with app.app_context():
        factory = Factory(app)
        plant_a, plant_b = factory.plant(), factory.plant()
        node_a, node_b = factory.hierarchy(plant_a), factory.hierarchy(plant_b)
        seeded = {
            "operator_token": issue_access_token(factory.user("operator", plant_a)),
            "admin_token": issue_access_token(factory.user("admin", plant_b)),
            "a1": factory.characteristic(node_a).id,
            "a2": factory.characteristic(node_a).id,
            "b1": factory.characteristic(node_b).id,
            **{name: factory.characteristic(node_a, ucl=13.0, lcl=7.0, center_line=10.0,
                                            sigma=1.0).id for name in ("c1", "c2")},
        }
        db.engine.dispose()

    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSPC_")}
    env.update({
        "OPENSPC_DATABASE_URL": settings.database_url,
        "OPENSPC_JWT_SECRET": settings.jwt_secret,
        "OPENSPC_DATA_DIR": str(tmp_path),
        "OPENSPC_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(REPO),
        **overrides,
    })
    logs = [tmp_path / f"gunicorn{n}.log" for n in range(2)]
    addresses = [f"127.0.0.1:{free_port()}" for _ in logs]
    worker_log = tmp_path / "worker.log"
    redis.Redis.from_url(queue).flushdb()  # no task left over from an earlier run
    processes = [_start_worker(env, worker_log)]
    try:
        for address, log in zip(addresses, logs, strict=True):
            processes.append(start_gunicorn(env, int(address.rpartition(":")[2]), log))
        for address, process, log in zip(addresses, processes[1:], logs, strict=True):
            wait_healthy(address, process, log)
        with app.app_context():
            yield Stack(env=env, web=addresses, worker_log=worker_log, **seeded)
            db.engine.dispose()
    finally:
        for process in processes:
            stop_process(process, timeout=15)


def _wait_for_listeners(stack: Stack, count: int) -> None:
    """Every web process subscribes to the Redis channel when its first client connects."""
    url = stack.env["OPENSPC_REDIS_URL"]
    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 10
        while dict(client.pubsub_numsub(channel_for(url)))[channel_for(url).encode()] < count:
            assert time.monotonic() < deadline, "web processes did not subscribe to Redis"
            time.sleep(0.05)
    finally:
        client.close()


def _emit_from_another_process(stack: Stack, frames: list[tuple[dict, int | None]]) -> None:
    subprocess.run([sys.executable, "-c", EMITTER, json.dumps(frames)], cwd=REPO,
                   env=stack.env, check=True, timeout=60)


def _frames_for(characteristic_id: int, sample_id: int) -> list[tuple[dict, int | None]]:
    """One ``sample``, ``violation`` and ``limits_update`` frame in the exact §R.1 shapes."""
    stamp = "2026-03-01T08:00:00+00:00"
    violation = {"id": sample_id * 10, "sample_id": sample_id,
                 "characteristic_id": characteristic_id, "rule_id": 1,
                 "rule_name": "Outlier", "severity": "CRITICAL", "timestamp": stamp}
    return [
        ({"type": "sample", "characteristic_id": characteristic_id,
          "sample": {"id": sample_id, "characteristic_id": characteristic_id,
                     "timestamp": stamp, "mean": 12.5, "zone": "beyond_ucl",
                     "in_control": False},
          "violations": [violation]}, characteristic_id),
        ({"type": "violation", "violation": violation}, characteristic_id),
        ({"type": "limits_update", "characteristic_id": characteristic_id, "ucl": 11.0,
          "lcl": 9.0, "center_line": 10.0}, characteristic_id),
    ]


def _ack(violation_id: int, characteristic_id: int) -> tuple[dict, None]:
    return ({"type": "ack_update", "violation_id": violation_id, "ack_user": "alice",
             "ack_reason": "tool change", "characteristic_id": characteristic_id,
             "acknowledged": True}, None)


def _raw_frames(ws: websocket.WebSocket, count: int) -> list[dict]:
    frames = [receive(ws) for _ in range(count)]
    ws.settimeout(QUIET)
    with pytest.raises(websocket.WebSocketTimeoutException):
        ws.recv()
    return frames


def _socketio_frames(client: socketio.SimpleClient, count: int) -> list[dict]:
    frames = []
    for _ in range(count):
        event, frame = client.receive(timeout=10)
        assert event == frame["type"]
        frames.append(frame)
    with pytest.raises(socketio.exceptions.TimeoutError):
        client.receive(timeout=QUIET)
    return frames


def _only(frames: list[tuple[dict, int | None]], characteristic_ids: set[int]) -> list[dict]:
    """What a subscriber of ``characteristic_ids`` must get: theirs and every ack_update."""
    return [f for f, c in frames if c is None or c in characteristic_ids]


def test_frames_emitted_by_another_process_reach_each_subscriber_once(stack):
    sio = socketio_client(stack.web[0], stack.operator_token)
    assert sio.call("subscribe", {"characteristic_id": stack.a1})["characteristic_ids"] == [
        stack.a1]
    sio.receive(timeout=5)
    raw_a2 = raw_socket(stack.web[1], stack.operator_token)
    assert ask(raw_a2, {"type": "subscribe", "characteristic_ids": [stack.a2]}) == {
        "type": "subscribed", "characteristic_ids": [stack.a2]}
    assert ask(raw_a2, {"type": "subscribe", "characteristic_id": stack.b1})["type"] == "error"
    raw_b1 = raw_socket(stack.web[0], stack.admin_token)
    ask(raw_b1, {"type": "subscribe", "characteristic_id": stack.b1})
    _wait_for_listeners(stack, 2)

    frames = (_frames_for(stack.a1, 1) + _frames_for(stack.a2, 2) + _frames_for(stack.b1, 3)
              + [_ack(10, stack.a1), _ack(30, stack.b1)])
    _emit_from_another_process(stack, frames)

    assert _socketio_frames(sio, 5) == _only(frames, {stack.a1})
    assert _raw_frames(raw_a2, 5) == _only(frames, {stack.a2})
    assert _raw_frames(raw_b1, 5) == _only(frames, {stack.b1})
    sio.disconnect()
    raw_a2.close()
    raw_b1.close()


def test_a_frame_emitted_by_a_web_process_reaches_its_own_sockets_once(stack, app_server):
    local = raw_socket(app_server, stack.operator_token)
    ask(local, {"type": "subscribe", "characteristic_id": stack.a1})
    remote = raw_socket(stack.web[0], stack.operator_token)
    ask(remote, {"type": "subscribe", "characteristic_id": stack.a1})
    sio = socketio_client(stack.web[1], stack.operator_token)
    sio.call("subscribe", {"characteristic_ids": [stack.a1, stack.a2]})
    sio.receive(timeout=5)
    _wait_for_listeners(stack, 3)

    frames = _frames_for(stack.a1, 4) + _frames_for(stack.a2, 5) + [_ack(40, stack.a1)]
    for frame, characteristic_id in frames:
        emit(frame, characteristic_id)  # this test process is a web process too

    assert _raw_frames(local, 4) == _only(frames, {stack.a1})
    assert _raw_frames(remote, 4) == _only(frames, {stack.a1})
    assert _socketio_frames(sio, 7) == _only(frames, {stack.a1, stack.a2})
    local.close()
    remote.close()
    sio.disconnect()


def test_frames_of_the_real_pipeline_reach_the_subscribers(stack):
    """Samples posted to one web process through a batch route (a single ``POST /samples``
    is judged by the web process itself) are evaluated by the Celery worker, whose
    ``sample`` and ``violation`` frames reach clients on both web processes; set-limits and
    acknowledge (run by the web processes) push ``limits_update`` and ``ack_update``."""
    _wait_worker_ready(stack)
    sio = socketio_client(stack.web[0], stack.operator_token)
    sio.call("subscribe", {"characteristic_id": stack.c1})
    sio.receive(timeout=5)
    raw = raw_socket(stack.web[1], stack.operator_token)
    ask(raw, {"type": "subscribe", "characteristic_id": stack.c2})
    _wait_for_listeners(stack, 2)
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {stack.admin_token}"

    def post_sample(address: str, characteristic_id: int, value: float) -> dict:
        response = api.post(f"http://{address}/api/v1/data-entry/batch", timeout=30, json={
            "samples": [{"characteristic_id": characteristic_id, "measurements": [value]}]})
        assert response.status_code == 201, response.text
        [result] = response.json()["results"]
        listed = api.get(f"http://{address}/api/v1/violations/", timeout=30,
                         params={"sample_id": result["sample_id"]}).json()["items"]
        result["violations"] = [
            {"violation_id": v["id"], "rule_id": v["rule_id"], "rule_name": v["rule_name"],
             "severity": v["severity"]} for v in sorted(listed, key=lambda v: v["rule_id"])]
        return result

    out_c1 = post_sample(stack.web[1], stack.c1, 20.0)      # beyond UCL: rule 1
    in_c2 = post_sample(stack.web[0], stack.c2, 10.0)       # in control
    out_c2 = post_sample(stack.web[0], stack.c2, 0.0)       # beyond LCL: rule 1
    assert [len(r["violations"]) for r in (out_c1, in_c2, out_c2)] == [1, 0, 1]
    evaluated = [line for line in stack.worker_log.read_text().splitlines()
                 if "spc.evaluate_pending[" in line and "succeeded" in line]
    assert evaluated, "the samples were not evaluated by the Celery worker"
    limits = {"ucl": 14.0, "lcl": 6.0, "center_line": 10.0, "sigma": 1.2}
    response = api.post(f"http://{stack.web[1]}/api/v1/characteristics/{stack.c1}/set-limits",
                        json=limits, timeout=30)
    assert response.status_code == 200, response.text
    acknowledged = []
    for result, characteristic_id in ((out_c1, stack.c1), (out_c2, stack.c2)):
        violation_id = result["violations"][0]["violation_id"]
        response = api.post(f"http://{stack.web[0]}/api/v1/violations/{violation_id}/acknowledge",
                            json={"user": "alice", "reason": "tool change"}, timeout=30)
        assert response.status_code == 200, response.text
        acknowledged.append((violation_id, characteristic_id))

    c1_frames = _socketio_frames(sio, 5)
    c2_frames = _raw_frames(raw, 5)
    assert [f["type"] for f in c1_frames] == [
        "sample", "violation", "limits_update", "ack_update", "ack_update"]
    assert [f["type"] for f in c2_frames] == [
        "sample", "sample", "violation", "ack_update", "ack_update"]
    _check_sample_frames(c1_frames[:2], out_c1, stack.c1)
    _check_sample_frames([c2_frames[0]], in_c2, stack.c2)
    _check_sample_frames(c2_frames[1:3], out_c2, stack.c2)
    assert c1_frames[2] == {"type": "limits_update", "characteristic_id": stack.c1,
                            "ucl": 14.0, "lcl": 6.0, "center_line": 10.0}
    for frames in (c1_frames[3:], c2_frames[3:]):
        assert [(f["violation_id"], f["characteristic_id"], f["ack_user"], f["ack_reason"],
                 f["acknowledged"]) for f in frames] == [
            (v, c, "alice", "tool change", True) for v, c in acknowledged]
    sio.disconnect()
    raw.close()


def _check_sample_frames(frames: list[dict], result: dict, characteristic_id: int) -> None:
    """A ``sample`` frame (and its ``violation`` frame, if any) against the POST's result."""
    sample_frame, *violation_frames = frames
    assert sample_frame["characteristic_id"] == characteristic_id
    sample = sample_frame["sample"]
    assert (sample["id"], sample["characteristic_id"], sample["mean"], sample["in_control"],
            sample["zone"]) == (result["sample_id"], characteristic_id, result["mean"],
                                result["in_control"], result["zone"])
    expected = [(v["violation_id"], v["rule_id"], v["rule_name"], v["severity"])
                for v in result["violations"]]
    pushed = [(v["id"], v["rule_id"], v["rule_name"], v["severity"])
              for v in sample_frame["violations"]]
    announced = [(f["violation"]["id"], f["violation"]["rule_id"], f["violation"]["rule_name"],
                  f["violation"]["severity"]) for f in violation_frames]
    assert pushed == expected
    assert announced == expected
    for violation in sample_frame["violations"] + [f["violation"] for f in violation_frames]:
        assert violation["sample_id"] == result["sample_id"]
        assert violation["characteristic_id"] == characteristic_id


@pytest.fixture
def app_server(stack) -> Iterator[str]:
    """The test's own app (Redis message queue) served in this process by Werkzeug."""
    from flask import current_app

    server = make_server("127.0.0.1", 0, current_app._get_current_object(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)
