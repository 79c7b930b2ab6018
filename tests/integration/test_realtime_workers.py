"""Realtime across processes: gunicorn web processes, Redis, and frames emitted elsewhere.

Two web processes run under gunicorn (``-k gthread``) with the Redis message queue; frames
are emitted by another process (a plain Python process with the app context calling
``openspc.realtime.emit.emit``, as the Celery publish task does) and by the test process
acting as a third web process. A python-socketio client and raw WebSocket clients, spread
over the web processes, must each receive exactly the frames of the characteristics they
subscribed to, once, and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
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
from tests.realtime.clients import ask, raw_socket, receive, socketio_client

pytestmark = pytest.mark.integration

REDIS_DB = 6
REPO = Path(__file__).resolve().parents[2]
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
    operator_token: str      # operator at plant A
    admin_token: str
    a1: int
    a2: int
    b1: int                  # plant B


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_gunicorn(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    """The documented web command, on a port of its own and without gunicorn's control socket
    (whose default path is shared by every gunicorn on the machine)."""
    command = [
        str(Path(sys.executable).parent / "gunicorn"), "-k", "gthread", "--threads", "32",
        "-w", "1", "--no-control-socket", "-b", f"127.0.0.1:{port}", "wsgi:app",
    ]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def _wait_healthy(address: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited:\n{log.read_text()}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"http://{address}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    pytest.fail(f"gunicorn did not become healthy:\n{log.read_text()}")


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, migrated_template, redis_url) -> Iterator[Stack]:
    """Seeded SQLite file, two gunicorn web processes on it, and this process's app."""
    tmp_path = tmp_path_factory.mktemp("realtime")
    overrides = {"OPENSPC_REDIS_URL": f"{redis_url}/{REDIS_DB}"}
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
    addresses = [f"127.0.0.1:{_free_port()}" for _ in logs]
    processes = []
    try:
        for address, log in zip(addresses, logs, strict=True):
            processes.append(_start_gunicorn(env, int(address.rpartition(":")[2]), log))
        for address, process, log in zip(addresses, processes, logs, strict=True):
            _wait_healthy(address, process, log)
        with app.app_context():
            yield Stack(env=env, web=addresses, **seeded)
            db.engine.dispose()
    finally:
        for process in processes:
            _stop(process)


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
