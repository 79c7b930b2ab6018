"""The raw WebSocket ``/ws/samples``: the reference protocol of api.md §R.1, exactly.

Each socket has three threads: the request thread reads and answers client messages,
simple-websocket's own thread reads the wire and sends the WebSocket-level pings, and the
client's writer thread sends everything else from a bounded queue, so a slow socket never
holds up the fan-out to the others.

Heartbeat (§R.1 "Ours"): a WebSocket ping every ``HEARTBEAT_SECONDS`` (simple-websocket's
``ping_interval``; browsers answer pings by themselves). Any client frame counts as an
answer. A socket is dropped only when a ping goes unanswered until the next one or a send
fails, and then it is really closed so that the client reconnects.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading

from flask import Blueprint, request
from simple_websocket import ConnectionClosed, Server

from openspc.extensions import sock
from openspc.realtime.access import (
    AUTH_CLOSE_CODE,
    AUTH_CLOSE_REASON,
    AuthenticationFailed,
    authenticate,
)
from openspc.realtime.hub import RawHub, encode, hub
from openspc.realtime.protocol import message_kind, reply
from openspc.realtime.relay import start_listening

HEARTBEAT_SECONDS = 30
MAX_MESSAGE_BYTES = 64 * 1024
SEND_QUEUE_LIMIT = 1000
CLOSE_UNSUPPORTED_DATA = 1003

ws_blueprint = Blueprint("raw_websocket", __name__)


class RawClient:
    """One connected raw socket: its user, its subscriptions and its send queue."""

    def __init__(self, ws: Server, user_id: int, registry: RawHub):
        self.ws = ws
        self.user_id = user_id
        self.characteristic_ids: set[int] = set()
        self._registry = registry
        self._outgoing: queue.Queue[str | None] = queue.Queue(maxsize=SEND_QUEUE_LIMIT)
        self._closed = threading.Event()
        self._writer = threading.Thread(target=self._write_loop, name="ws-samples-writer",
                                        daemon=True)
        self._writer.start()
        registry.register(self)

    def add(self, characteristic_ids: list[int]) -> None:
        self._registry.subscribe(self, characteristic_ids)

    def remove(self, characteristic_ids: list[int]) -> None:
        self._registry.unsubscribe(self, characteristic_ids)

    def push(self, text: str) -> None:
        """Queue one frame; a socket too slow to drain its queue is dropped."""
        if self._closed.is_set():
            return
        try:
            self._outgoing.put_nowait(text)
        except queue.Full:
            self.drop()

    def stop(self) -> None:
        """The connection ended: forget it and let the writer thread finish."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._registry.unregister(self)
        # A full queue means the writer is busy with the backlog: it sees ``_closed`` next.
        with contextlib.suppress(queue.Full):
            self._outgoing.put_nowait(None)

    def drop(self) -> None:
        """Forget the socket and shut its TCP connection down, so that the client reconnects.

        No close frame: the socket either failed a send or is too slow to drain its queue,
        and a close frame would block on it. The shutdown also wakes the request thread.
        """
        self.stop()
        with contextlib.suppress(OSError):
            self.ws.sock.shutdown(socket.SHUT_RDWR)

    def _write_loop(self) -> None:
        while True:
            text = self._outgoing.get()
            if text is None or self._closed.is_set():
                return
            try:
                self.ws.send(text)
            except (ConnectionClosed, OSError):
                self.drop()
                return


@sock.route("/ws/samples", bp=ws_blueprint)
def samples_socket(ws: Server) -> None:
    """Authenticate from ``?token=``, then answer messages until the socket closes."""
    try:
        user_id = authenticate(request.args.get("token"))
    except AuthenticationFailed as exc:
        ws.send(encode(exc.frame))
        ws.close(AUTH_CLOSE_CODE, AUTH_CLOSE_REASON)
        return
    start_listening()
    client = RawClient(ws, user_id, hub)
    try:
        _serve(ws, client)
    finally:
        client.stop()


def _serve(ws: Server, client: RawClient) -> None:
    while True:
        data = ws.receive()
        ws.pong_received = True  # any client frame is a heartbeat
        try:
            message = json.loads(data)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            ws.close(CLOSE_UNSUPPORTED_DATA, "Message must be a JSON object")
            return
        for frame in reply(message_kind(message), message, client):
            client.push(encode(frame))


def socket_options() -> dict[str, int]:
    """simple-websocket options for this endpoint (flask-sock's ``SOCK_SERVER_OPTIONS``)."""
    return {"ping_interval": HEARTBEAT_SECONDS, "max_message_size": MAX_MESSAGE_BYTES}
