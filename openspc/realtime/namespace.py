"""Socket.IO namespace ``/samples``: the §R.1 messages as events (api.md §R.2).

Connect with ``auth={"token": ...}`` (or ``?token=``); a refused connection gets
``connect_error`` whose ``data`` is the R.1 error frame plus ``"code": 4001`` (the
Socket.IO JS client exposes it as ``err.data``, and ``err.message`` is the frame's message).
``subscribe``/``unsubscribe`` join and leave the ``char:{id}`` rooms; each answer is emitted
to the caller and is also the ack value. Bad payloads and unknown events get an ``error``
event and the connection stays open.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask_socketio import ConnectionRefusedError, Namespace, emit, join_room, leave_room

from openspc.realtime.access import AUTH_CLOSE_CODE, AuthenticationFailed, authenticate
from openspc.realtime.emit import room_for
from openspc.realtime.protocol import Frame, reply

_LIFECYCLE_EVENTS = ("connect", "disconnect")
_UNKNOWN = "unknown_event"


class _RoomSubscriptions:
    """Subscriptions of the current Socket.IO connection, kept as room membership."""

    def __init__(self, user_id: int):
        self.user_id = user_id

    def add(self, characteristic_ids: list[int]) -> None:
        for char_id in characteristic_ids:
            join_room(room_for(char_id))

    def remove(self, characteristic_ids: list[int]) -> None:
        for char_id in characteristic_ids:
            leave_room(room_for(char_id))


class SamplesNamespace(Namespace):
    def on_connect(self, auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            user_id = authenticate(token or request.args.get("token"))
        except AuthenticationFailed as exc:
            raise ConnectionRefusedError(
                exc.message, {**exc.frame, "code": AUTH_CLOSE_CODE}
            ) from None
        self.socketio.server.save_session(request.sid, {"user_id": user_id},
                                          namespace=self.namespace)

    def on_subscribe(self, payload: Any = None) -> Frame:
        return self._answer("subscribe", payload)

    def on_unsubscribe(self, payload: Any = None) -> Frame:
        return self._answer("unsubscribe", payload)

    def on_ping(self, payload: Any = None) -> Frame:
        return self._answer("ping", payload)

    def on_unknown_event(self, event: str, *_payload: Any) -> Frame:
        return self._answer(event, {})

    def trigger_event(self, event: str, *args: Any) -> Any:
        """Route events without a handler to ``on_unknown_event`` (R.1 "Unknown message type")."""
        known = event != _UNKNOWN and hasattr(self, f"on_{event}")
        if event not in _LIFECYCLE_EVENTS and not known:
            sid, *payload = args
            return super().trigger_event(_UNKNOWN, sid, event, *payload)
        return super().trigger_event(event, *args)

    def _answer(self, kind: str, payload: Any) -> Frame:
        session = self.socketio.server.get_session(request.sid, namespace=self.namespace)
        message = payload if isinstance(payload, dict) else {}
        frames = reply(kind, message, _RoomSubscriptions(session["user_id"]))
        for frame in frames:
            emit(frame["type"], frame)
        return frames[0]
