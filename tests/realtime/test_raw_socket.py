"""/ws/samples with flask-sock under the Werkzeug threaded server and a websocket-client client.

Replies are compared with the literal frames of api.md §R.1.
"""

from __future__ import annotations

import contextlib
import json
import time

import pytest
import websocket
from flask_jwt_extended import create_refresh_token

from openspc.auth.tokens import issue_access_token
from openspc.extensions import db
from openspc.models import User
from openspc.realtime.emit import emit
from openspc.realtime.hub import hub
from tests.realtime.clients import ask, close_status, raw_socket, receive, send
from tests.realtime.conftest import HEARTBEAT, ack_frame, limits_frame


@pytest.fixture
def operator_socket(live_server, world):
    ws = raw_socket(live_server, world.operator_token)
    yield ws
    ws.close()


def test_subscribe_with_a_list_echoes_the_ids(operator_socket, world):
    reply = ask(operator_socket, {"type": "subscribe", "characteristic_ids": [world.a1, world.a2]})
    assert reply == {"type": "subscribed", "characteristic_ids": [world.a1, world.a2]}


def test_a_single_id_is_wrapped_in_a_list_and_action_is_read_when_type_is_missing(
        operator_socket, world):
    reply = ask(operator_socket, {"action": "subscribe", "characteristic_id": world.a1})
    assert reply == {"type": "subscribed", "characteristic_ids": [world.a1]}
    reply = ask(operator_socket, {"action": "unsubscribe", "characteristic_id": world.a1})
    assert reply == {"type": "unsubscribed", "characteristic_ids": [world.a1]}


def test_ping_gets_pong(operator_socket):
    assert ask(operator_socket, {"type": "ping"}) == {"type": "pong"}


@pytest.mark.parametrize(("message", "error"), [
    ({"characteristic_ids": [1]}, "Message must contain 'type' or 'action' field"),
    ({"type": "dance"}, "Unknown message type: dance"),
    ({"type": "subscribe"},
     "Subscribe message must contain 'characteristic_ids' or 'characteristic_id' field"),
    ({"type": "unsubscribe", "characteristic_ids": None},
     "Unsubscribe message must contain 'characteristic_ids' or 'characteristic_id' field"),
    ({"type": "subscribe", "characteristic_ids": ["1"]}, "characteristic_ids must be integers"),
    ({"type": "subscribe", "characteristic_id": True}, "characteristic_ids must be integers"),
])
def test_bad_messages_get_an_error_frame_and_the_socket_stays_open(
        operator_socket, message, error):
    assert ask(operator_socket, message) == {"type": "error", "message": error}
    assert ask(operator_socket, {"type": "ping"}) == {"type": "pong"}


def test_a_frame_that_is_not_a_json_object_closes_the_socket(operator_socket):
    send(operator_socket, "[1, 2]")
    assert close_status(operator_socket) == (1003, "Message must be a JSON object")


@pytest.mark.parametrize(("token", "message"), [
    (None, "Authentication required"),
    ("", "Authentication required"),
    ("not-a-jwt", "Invalid or expired token"),
])
def test_auth_failure_sends_the_error_then_closes_4001(live_server, token, message):
    ws = raw_socket(live_server, token)
    assert receive(ws) == {"type": "error", "message": message}
    assert close_status(ws) == (4001, "Authentication failed")


def test_refresh_token_inactive_and_deleted_users_are_refused(app, live_server, factory):
    refused = factory.user("operator")
    gone = factory.user("operator")
    tokens = [create_refresh_token(identity=str(refused.id))]
    tokens += [issue_access_token(refused), issue_access_token(gone)]
    refused.is_active = False
    db.session.delete(db.session.get(User, gone.id))
    db.session.commit()
    for token in tokens:
        ws = raw_socket(live_server, token)
        assert receive(ws) == {"type": "error", "message": "Invalid or expired token"}
        assert close_status(ws) == (4001, "Authentication failed")


def test_an_access_token_ended_by_logout_opens_no_socket(app, live_server, factory):
    factory.user("operator", username="olivia")
    client = app.test_client(use_cookies=False)
    login = client.post("/api/v1/auth/login",
                        json={"username": "olivia", "password": "password123"})
    token = login.json["access_token"]
    cookie = login.headers["Set-Cookie"].split(";")[0]
    assert client.post("/api/v1/auth/logout", headers={"Cookie": cookie}).status_code == 200
    ws = raw_socket(live_server, token)
    assert receive(ws) == {"type": "error", "message": "Invalid or expired token"}
    assert close_status(ws) == (4001, "Authentication failed")


def test_characteristics_of_other_plants_or_unknown_ids_are_refused(operator_socket, world):
    assert ask(operator_socket, {"type": "subscribe", "characteristic_id": world.b1}) == {
        "type": "error",
        "message": f"Characteristic not found or not accessible: {world.b1}",
    }
    send(operator_socket, {"type": "subscribe", "characteristic_ids": [world.a1, world.b1, 999]})
    assert receive(operator_socket) == {"type": "subscribed", "characteristic_ids": [world.a1]}
    assert receive(operator_socket) == {
        "type": "error",
        "message": f"Characteristic not found or not accessible: {world.b1}, 999",
    }
    emit(limits_frame(world.b1), world.b1)
    emit(limits_frame(world.a1), world.a1)
    assert receive(operator_socket) == limits_frame(world.a1)


def test_an_admin_may_follow_any_plant(live_server, world):
    ws = raw_socket(live_server, world.admin_token)
    reply = ask(ws, {"type": "subscribe", "characteristic_ids": [world.a1, world.b1]})
    assert reply == {"type": "subscribed", "characteristic_ids": [world.a1, world.b1]}
    ws.close()


def test_frames_reach_only_subscribers_and_ack_update_reaches_everyone(live_server, world):
    first = raw_socket(live_server, world.admin_token)
    second = raw_socket(live_server, world.admin_token)
    ask(first, {"type": "subscribe", "characteristic_id": world.a1})
    ask(second, {"type": "subscribe", "characteristic_id": world.a2})

    emit(limits_frame(world.a2, ucl=1.0), world.a2)
    emit(limits_frame(world.a1, ucl=2.0), world.a1)
    emit(ack_frame(7), None)

    assert receive(first) == limits_frame(world.a1, ucl=2.0)
    assert receive(first) == ack_frame(7)
    assert receive(second) == limits_frame(world.a2, ucl=1.0)
    assert receive(second) == ack_frame(7)
    first.close()
    second.close()


def test_unsubscribe_stops_the_frames(operator_socket, world):
    ask(operator_socket, {"type": "subscribe", "characteristic_ids": [world.a1, world.a2]})
    ask(operator_socket, {"type": "unsubscribe", "characteristic_ids": [world.a1]})
    emit(limits_frame(world.a1), world.a1)
    emit(limits_frame(world.a2), world.a2)
    assert receive(operator_socket) == limits_frame(world.a2)


def test_a_silent_client_that_does_not_answer_pings_is_closed(live_server, world):
    ws = raw_socket(live_server, world.operator_token)
    ask(ws, {"type": "subscribe", "characteristic_id": world.a1})
    registered = len(hub)
    time.sleep(HEARTBEAT * 3)  # pings arrive but nobody reads them, so no pong goes back
    assert close_status(ws) == (1008, "Ping/Pong timeout")
    _wait_until(lambda: len(hub) < registered)
    assert _tcp_connection_ends(ws)


def test_client_frames_count_as_heartbeat(live_server, world):
    ws = raw_socket(live_server, world.operator_token)
    ask(ws, {"type": "subscribe", "characteristic_id": world.a1})
    deadline = time.monotonic() + HEARTBEAT * 4
    while time.monotonic() < deadline:
        send(ws, {"type": "ping"})
        assert _next_text_frame(ws) == '{"type":"pong"}'  # WebSocket pings are left unanswered
        time.sleep(HEARTBEAT / 4)
    emit(limits_frame(world.a1), world.a1)
    assert json.loads(_next_text_frame(ws)) == limits_frame(world.a1)
    ws.close()


def test_a_client_that_answers_pings_stays_connected_without_sending(live_server, world):
    ws = raw_socket(live_server, world.operator_token, timeout=HEARTBEAT / 2)
    deadline = time.monotonic() + HEARTBEAT * 4
    while time.monotonic() < deadline:
        with contextlib.suppress(websocket.WebSocketTimeoutException):
            ws.recv()  # answers the server's pings
    ws.settimeout(5)
    assert ask(ws, {"type": "ping"}) == {"type": "pong"}
    ws.close()


def _next_text_frame(ws) -> str:
    while True:
        frame = ws.recv_frame()
        if frame.opcode == frame.OPCODE_TEXT:
            return frame.data.decode()


def _tcp_connection_ends(ws) -> bool:
    """Read to EOF. (Werkzeug's dev server writes a stray HTTP response after a WebSocket
    handler returns, before closing; those bytes are ignored.)"""
    ws.sock.settimeout(5)
    while ws.sock.recv(4096):
        pass
    return True


def _wait_until(condition, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)
