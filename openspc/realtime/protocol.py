"""The client → server message protocol of api.md §R.1, shared by both transports.

The raw socket reads the message kind from ``type`` (falling back to ``action``); Socket.IO
uses the event name. Either way ``reply`` validates the payload, applies the subscription
change through the transport's ``Subscriptions`` and returns the frames to send back, the
main reply first.
"""

from __future__ import annotations

from typing import Any, Protocol

from openspc.realtime.access import readable_characteristic_ids

MISSING_KIND = "Message must contain 'type' or 'action' field"
MISSING_IDS = "{verb} message must contain 'characteristic_ids' or 'characteristic_id' field"
BAD_IDS = "characteristic_ids must be integers"
REFUSED_IDS = "Characteristic not found or not accessible: {ids}"

Frame = dict[str, Any]


class Subscriptions(Protocol):
    """One connection's subscriptions, kept by its transport."""

    user_id: int

    def add(self, characteristic_ids: list[int]) -> None: ...

    def remove(self, characteristic_ids: list[int]) -> None: ...


def error_frame(message: str) -> Frame:
    return {"type": "error", "message": message}


def message_kind(message: dict[str, Any]) -> Any:
    """The kind of a raw-socket message: ``type``, else ``action`` (None when neither)."""
    return message.get("type") or message.get("action")


def reply(kind: Any, message: dict[str, Any], subscriptions: Subscriptions) -> list[Frame]:
    """Handle one client message and return the frames that answer it."""
    if not kind:
        return [error_frame(MISSING_KIND)]
    if kind == "ping":
        return [{"type": "pong"}]
    if kind not in ("subscribe", "unsubscribe"):
        return [error_frame(f"Unknown message type: {kind}")]
    ids = _requested_ids(message)
    if ids is None:
        return [error_frame(MISSING_IDS.format(verb=kind.capitalize()))]
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        return [error_frame(BAD_IDS)]
    if kind == "unsubscribe":
        subscriptions.remove(ids)
        return [{"type": "unsubscribed", "characteristic_ids": ids}]
    return _subscribe(ids, subscriptions)


def _subscribe(ids: list[int], subscriptions: Subscriptions) -> list[Frame]:
    allowed = readable_characteristic_ids(subscriptions.user_id, ids)
    granted = [i for i in ids if i in allowed]
    refused = [i for i in ids if i not in allowed]
    subscriptions.add(granted)
    frames = []
    if granted or not refused:
        frames.append({"type": "subscribed", "characteristic_ids": granted})
    if refused:
        frames.append(error_frame(REFUSED_IDS.format(ids=", ".join(map(str, refused)))))
    return frames


def _requested_ids(message: dict[str, Any]) -> list[Any] | None:
    """``characteristic_ids``, else ``characteristic_id``; a single value becomes a list."""
    ids = message.get("characteristic_ids")
    if ids is None:
        ids = message.get("characteristic_id")
    if ids is None:
        return None
    return ids if isinstance(ids, list) else [ids]
