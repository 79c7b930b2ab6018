"""Fan-out registry and the raw client's send path, with stand-in sockets."""

from __future__ import annotations

import socket
import threading
import time

from openspc.realtime.hub import RawHub
from openspc.realtime.raw import SEND_QUEUE_LIMIT, RawClient


class _Sock:
    def __init__(self):
        self.shutdowns = []

    def shutdown(self, how):
        self.shutdowns.append(how)


class _Ws:
    """Records sends; ``fail`` makes send raise, ``gate`` makes it block until set."""

    def __init__(self, fail: bool = False, gate: threading.Event | None = None):
        self.sock = _Sock()
        self.sent: list[str] = []
        self.fail = fail
        self.gate = gate

    def send(self, text):
        if self.gate is not None:
            self.gate.wait(10)
        if self.fail:
            raise BrokenPipeError("peer gone")
        self.sent.append(text)


def _wait_until(condition, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_frames_go_to_subscribers_of_their_characteristic_and_none_goes_to_all():
    registry = RawHub()
    one, two = _Ws(), _Ws()
    first, second = RawClient(one, 1, registry), RawClient(two, 1, registry)
    first.add([1, 2])
    second.add([2])
    registry.deliver({"type": "limits_update", "characteristic_id": 1}, 1)
    registry.deliver({"type": "limits_update", "characteristic_id": 2}, 2)
    registry.deliver({"type": "ack_update", "violation_id": 5}, None)
    _wait_until(lambda: len(one.sent) == 3 and len(two.sent) == 2)
    assert one.sent == ['{"type":"limits_update","characteristic_id":1}',
                        '{"type":"limits_update","characteristic_id":2}',
                        '{"type":"ack_update","violation_id":5}']
    assert two.sent == ['{"type":"limits_update","characteristic_id":2}',
                        '{"type":"ack_update","violation_id":5}']
    first.stop()
    second.stop()
    assert len(registry) == 0


def test_a_failed_send_drops_the_socket_and_shuts_its_connection_down():
    registry = RawHub()
    ws = _Ws(fail=True)
    client = RawClient(ws, 1, registry)
    client.add([3])
    registry.deliver({"type": "limits_update", "characteristic_id": 3}, 3)
    _wait_until(lambda: len(registry) == 0)
    assert ws.sock.shutdowns == [socket.SHUT_RDWR]
    assert client.characteristic_ids == set()


def test_a_socket_that_cannot_keep_up_is_dropped_without_blocking_the_fan_out():
    registry = RawHub()
    gate = threading.Event()
    slow, fast = _Ws(gate=gate), _Ws()
    RawClient(slow, 1, registry).add([4])
    RawClient(fast, 1, registry).add([4])
    started = time.monotonic()
    for n in range(SEND_QUEUE_LIMIT):
        registry.deliver({"type": "limits_update", "n": n}, 4)
    # The fast socket's writer drains its queue meanwhile (given the time to run on a busy
    # machine); the slow one is stuck on its first send with a full queue behind it.
    _wait_until(lambda: len(fast.sent) == SEND_QUEUE_LIMIT)
    assert len(registry) == 2
    for n in range(SEND_QUEUE_LIMIT, SEND_QUEUE_LIMIT + 2):
        registry.deliver({"type": "limits_update", "n": n}, 4)
    assert time.monotonic() - started < 5
    assert len(registry) == 1
    assert slow.sock.shutdowns == [socket.SHUT_RDWR]
    gate.set()
    _wait_until(lambda: len(fast.sent) == SEND_QUEUE_LIMIT + 2)
