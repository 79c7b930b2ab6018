"""The one emit helper: every realtime frame leaves through here, from any process.

Frames go to the Socket.IO client manager (``relay.py``). With a message queue configured
that manager publishes them on Redis, a list of frames as one message, so a frame emitted by
a Celery worker reaches Socket.IO clients on every web process, and each web process's
manager also hands it to its own raw ``/ws/samples`` sockets. Embedded, both happen
in-process.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openspc.extensions import socketio

NAMESPACE = "/samples"
PUSH_TYPES = frozenset({"sample", "violation", "limits_update", "ack_update"})
_ROOM_PREFIX = "char:"


def room_for(characteristic_id: int) -> str:
    return f"{_ROOM_PREFIX}{characteristic_id}"


def characteristic_of_room(room: str) -> int | None:
    """The characteristic id of a ``char:{id}`` room; None for any other room."""
    if room.startswith(_ROOM_PREFIX) and room[len(_ROOM_PREFIX):].isdigit():
        return int(room[len(_ROOM_PREFIX):])
    return None


def emit(frame: dict[str, Any], characteristic_id: int | None = None) -> None:
    """Send ``frame`` to the subscribers of ``characteristic_id`` (or to everyone when None)."""
    emit_many([(frame, characteristic_id)])


def emit_many(events: Sequence[tuple[dict[str, Any], int | None]]) -> None:
    """:func:`emit` for many frames, in order, crossing the message queue as one message."""
    socketio.server.manager.emit_pushes([
        (frame["type"], frame, room_for(characteristic_id) if characteristic_id is not None
         else None)
        for frame, characteristic_id in events
    ])
