"""Real clients for the realtime endpoints: websocket-client and python-socketio."""

from __future__ import annotations

import json
import struct
from typing import Any

import socketio
import websocket

NAMESPACE = "/samples"
OPCODE_CLOSE = websocket.ABNF.OPCODE_CLOSE


def raw_socket(address: str, token: str | None = None, timeout: float = 5) -> websocket.WebSocket:
    query = "" if token is None else f"?token={token}"
    return websocket.create_connection(f"ws://{address}/ws/samples{query}", timeout=timeout)


def send(ws: websocket.WebSocket, message: Any) -> None:
    ws.send(message if isinstance(message, str) else json.dumps(message))


def receive(ws: websocket.WebSocket) -> dict[str, Any]:
    return json.loads(ws.recv())


def ask(ws: websocket.WebSocket, message: Any) -> dict[str, Any]:
    send(ws, message)
    return receive(ws)


def close_status(ws: websocket.WebSocket) -> tuple[int, str]:
    """Read frames (without answering any) until the server's close frame; its (code, reason)."""
    while True:
        frame = ws.recv_frame()
        if frame.opcode == OPCODE_CLOSE:
            return struct.unpack("!H", frame.data[:2])[0], frame.data[2:].decode()


def socketio_client(address: str, token: str | None, **kwargs: Any) -> socketio.SimpleClient:
    client = socketio.SimpleClient()
    auth = {"token": token} if token is not None else None
    client.connect(f"http://{address}", namespace=NAMESPACE, auth=auth,
                   transports=["websocket"], wait_timeout=5, **kwargs)
    return client
