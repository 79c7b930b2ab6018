"""Publishing frames to a Redis that stopped answering fails within a bound, so that a
request or a worker sending its frames after its commit does not hang; the frames stay in
the outbox for the sweeper (see tests/integration/test_broker_outage.py)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from openspc.realtime.relay import PUBLISH_TIMEOUT, RedisRelayManager


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP peer that accepts connections and never answers: a hung or unreachable Redis."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def test_a_publish_to_a_silent_redis_fails_within_two_attempts(silent_server):
    manager = RedisRelayManager(f"redis://127.0.0.1:{silent_server}/0", "openspc-test")
    frame = {"type": "sample", "characteristic_id": 1, "sample": {"id": 1}}
    started = time.monotonic()

    with pytest.raises(redis.RedisError):
        manager.emit_pushes([("sample", frame, "char:1")])

    assert time.monotonic() - started < 2 * PUBLISH_TIMEOUT + 1
