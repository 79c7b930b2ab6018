"""The one emit helper: every realtime frame leaves through here, from any process.

With a message queue configured, ``socketio.emit`` publishes through Redis, so a frame emitted
by a Celery worker reaches Socket.IO clients on every web process, and each web process relays
it to its own raw ``/ws/samples`` sockets. Embedded, both happen in-process.
"""

from __future__ import annotations

from typing import Any

from openspc.extensions import socketio

NAMESPACE = "/samples"


def room_for(characteristic_id: int) -> str:
    return f"char:{characteristic_id}"


def emit(frame: dict[str, Any], characteristic_id: int | None = None) -> None:
    """Send ``frame`` to the subscribers of ``characteristic_id`` (or to everyone when None)."""
    room = room_for(characteristic_id) if characteristic_id is not None else None
    socketio.emit(frame["type"], frame, to=room, namespace=NAMESPACE)
