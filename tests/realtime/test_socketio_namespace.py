"""Socket.IO namespace /samples with a real python-socketio client over the websocket transport."""

from __future__ import annotations

import pytest
import requests
import socketio

from openspc.realtime.emit import emit
from tests.realtime.clients import NAMESPACE, raw_socket, receive, socketio_client
from tests.realtime.conftest import ack_frame, limits_frame


@pytest.fixture
def operator_client(live_server, world):
    client = socketio_client(live_server, world.operator_token)
    yield client
    client.disconnect()


def test_subscribe_replies_by_event_and_by_ack(operator_client, world):
    ack = operator_client.call("subscribe", {"characteristic_ids": [world.a1, world.a2]})
    assert ack == {"type": "subscribed", "characteristic_ids": [world.a1, world.a2]}
    assert operator_client.receive(timeout=5) == ["subscribed", ack]


def test_token_in_the_query_string_is_accepted(live_server, world):
    client = socketio.SimpleClient()
    client.connect(f"http://{live_server}?token={world.operator_token}", namespace=NAMESPACE,
                   transports=["websocket"], wait_timeout=5)
    assert client.call("ping") == {"type": "pong"}
    client.disconnect()


@pytest.mark.parametrize(("auth", "message"), [
    (None, "Authentication required"),
    ({"token": "garbage"}, "Invalid or expired token"),
])
def test_refused_connection_gets_connect_error_with_the_error_frame(live_server, auth, message):
    client = socketio.Client(reconnection=False)
    errors = []
    client.on("connect_error", errors.append, namespace=NAMESPACE)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(f"http://{live_server}", namespaces=[NAMESPACE], auth=auth,
                       transports=["websocket"], wait_timeout=5)
    assert errors == [{
        "message": message,
        "data": {"type": "error", "message": message, "code": 4001},
    }]
    client.disconnect()


def test_frames_arrive_only_for_subscribed_characteristics(operator_client, world):
    operator_client.call("subscribe", {"characteristic_id": world.a1})
    operator_client.receive(timeout=5)  # the "subscribed" event

    emit(limits_frame(world.a2), world.a2)
    emit(limits_frame(world.a1), world.a1)
    emit(ack_frame(3), None)
    emit(limits_frame(world.a1, ucl=99.0), world.a1)

    assert operator_client.receive(timeout=5) == ["limits_update", limits_frame(world.a1)]
    assert operator_client.receive(timeout=5) == ["ack_update", ack_frame(3)]
    assert operator_client.receive(timeout=5) == ["limits_update", limits_frame(world.a1, 99.0)]


def test_unsubscribe_leaves_the_room(operator_client, world):
    operator_client.call("subscribe", {"characteristic_ids": [world.a1, world.a2]})
    ack = operator_client.call("unsubscribe", {"characteristic_ids": [world.a1]})
    assert ack == {"type": "unsubscribed", "characteristic_ids": [world.a1]}
    emit(limits_frame(world.a1), world.a1)
    emit(limits_frame(world.a2), world.a2)
    events = [operator_client.receive(timeout=5) for _ in range(3)]
    assert events[-1] == ["limits_update", limits_frame(world.a2)]


def test_other_plants_are_refused_with_an_error_event(operator_client, world):
    ack = operator_client.call("subscribe", {"characteristic_ids": [world.b1]})
    error = {"type": "error", "message": f"Characteristic not found or not accessible: {world.b1}"}
    assert ack == error
    assert operator_client.receive(timeout=5) == ["error", error]
    emit(limits_frame(world.b1), world.b1)
    assert operator_client.call("ping") == {"type": "pong"}
    assert operator_client.receive(timeout=5) == ["pong", {"type": "pong"}]


@pytest.mark.parametrize(("event", "payload", "message"), [
    ("subscribe", {},
     "Subscribe message must contain 'characteristic_ids' or 'characteristic_id' field"),
    ("subscribe", "7",
     "Subscribe message must contain 'characteristic_ids' or 'characteristic_id' field"),
    ("unsubscribe", {"characteristic_ids": [1.5]}, "characteristic_ids must be integers"),
    ("dance", {}, "Unknown message type: dance"),
    ("unknown_event", {}, "Unknown message type: unknown_event"),
])
def test_bad_payloads_get_an_error_event_and_the_connection_stays(
        operator_client, event, payload, message):
    assert operator_client.call(event, payload) == {"type": "error", "message": message}
    assert operator_client.receive(timeout=5) == ["error", {"type": "error", "message": message}]
    assert operator_client.call("ping") == {"type": "pong"}


def test_both_transports_carry_the_same_frame(live_server, operator_client, world):
    ws = raw_socket(live_server, world.operator_token)
    ws.send(f'{{"type":"subscribe","characteristic_id":{world.a1}}}')
    receive(ws)
    operator_client.call("subscribe", {"characteristic_id": world.a1})
    operator_client.receive(timeout=5)
    frame = {"type": "sample", "characteristic_id": world.a1, "violations": [], "sample": {
        "id": 1, "characteristic_id": world.a1, "timestamp": "2026-01-01T00:00:00+00:00",
        "mean": 1.5, "zone": "zone_c_upper", "in_control": True}}
    emit(frame, world.a1)
    char = world.a1
    assert ws.recv() == (
        f'{{"type":"sample","characteristic_id":{char},"violations":[],"sample":{{"id":1,'
        f'"characteristic_id":{char},"timestamp":"2026-01-01T00:00:00+00:00","mean":1.5,'
        f'"zone":"zone_c_upper","in_control":true}}}}'
    )
    assert operator_client.receive(timeout=5) == ["sample", frame]
    ws.close()


@pytest.mark.parametrize(("origin", "status"), [
    ("http://localhost:5173", 200),   # a configured CORS origin
    (None, 200),                      # the server's own origin (filled in below)
    ("http://evil.example", 400),
])
def test_engineio_accepts_configured_origins_and_its_own(live_server, origin, status):
    response = requests.get(f"http://{live_server}/socket.io/",
                            params={"EIO": "4", "transport": "polling"},
                            headers={"Origin": origin or f"http://{live_server}"}, timeout=5)
    assert response.status_code == status
