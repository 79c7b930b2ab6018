"""Socket.IO client managers that also feed this process's raw ``/ws/samples`` sockets.

Every push frame already travels through the Socket.IO client manager, so the raw sockets
hang off the same path instead of a second channel: embedded, ``LocalRelayManager`` hands
each frame to the local raw sockets as it emits it; distributed, ``RedisRelayManager`` does
so in ``_handle_emit``, which python-socketio runs exactly once per web process for each
published frame (directly in the emitting process, from the Redis listener in every other
one, which skips its own messages). A frame therefore reaches each raw socket once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlparse

import redis
import socketio as python_socketio
from redis.backoff import NoBackoff
from redis.retry import Retry

from openspc import jsoncodec
from openspc.extensions import socketio
from openspc.realtime.emit import NAMESPACE, PUSH_TYPES, characteristic_of_room
from openspc.realtime.hub import hub


def relay_to_raw(event: str, frame: Any, namespace: str | None, room: Any) -> None:
    """Pass a Socket.IO push on the ``/samples`` namespace to the matching raw sockets."""
    if namespace != NAMESPACE or event not in PUSH_TYPES or not isinstance(frame, dict):
        return
    if room is None:
        hub.deliver(frame, None)
        return
    characteristic_id = characteristic_of_room(room) if isinstance(room, str) else None
    if characteristic_id is not None:
        hub.deliver(frame, characteristic_id)


Push = tuple[str, dict[str, Any], str | None]
"""A push on the ``/samples`` namespace: event name, frame, room (None: everyone)."""


class LocalRelayManager(python_socketio.Manager):
    """Embedded mode: no message queue, everything in this process."""

    def emit(self, event, data, namespace, room=None, skip_sid=None, callback=None, to=None,
             **kwargs):
        super().emit(event, data, namespace, room=room, skip_sid=skip_sid, callback=callback,
                     to=to, **kwargs)
        relay_to_raw(event, data, namespace, to or room)

    def emit_pushes(self, pushes: Sequence[Push]) -> None:
        for event, frame, room in pushes:
            self.emit(event, frame, NAMESPACE, to=room)


PUBLISH_TIMEOUT = 2.0
"""Seconds one attempt to publish frames may take, connecting included. Requests and workers
send their frames right after their commit: a Redis that stops answering must fail the send
(the frames then wait in the outbox for the sweeper), not hang the request or the worker.
The listener keeps python-socketio's own client, without a timeout: it waits for frames."""


class RedisRelayManager(python_socketio.RedisManager):
    """Distributed mode: frames cross processes on one Redis pub/sub channel.

    ``initialize`` (which starts the Redis listener) is idempotent because two callers start
    it: the Socket.IO server on its first connection and the raw endpoint on its first
    socket (a web process may serve raw sockets only).
    """

    def __init__(self, url: str, channel: str):
        super().__init__(url, channel=channel, json=jsoncodec)
        self._publisher = redis.Redis.from_url(
            url, socket_timeout=PUBLISH_TIMEOUT, socket_connect_timeout=PUBLISH_TIMEOUT,
            retry=Retry(NoBackoff(), 1),
        )
        self._start_lock = threading.Lock()
        self._started = False

    def set_server(self, server: python_socketio.Server) -> None:
        """Keep the channel's codec (``openspc.jsoncodec``): python-socketio would put the
        server's packet codec, the standard library's, in its place."""
        super().set_server(server)
        self.json = jsoncodec

    def initialize(self) -> None:
        with self._start_lock:
            if self._started:
                return
            self._started = True
        super().initialize()

    def emit_pushes(self, pushes: Sequence[Push]) -> None:
        """Many pushes as one Redis message: a batch of 1,000 samples sends 1,000+ frames,
        and one PUBLISH per frame made the publisher, not the evaluation, the bottleneck.
        Each receiving process unpacks the batch in ``_handle_emit``, in order.

        Raises when Redis cannot take the message, so that the outbox keeps the frames for
        its sweeper (python-socketio's own ``_publish`` logs and gives up: a frame sent
        while Redis restarts would have been marked sent and lost). The message is
        published before this process's own clients get it, so a failure sends nothing
        twice here. A process with no client of its own (a worker) skips that step: ~7 %
        of a worker's CPU in batches."""
        messages = [
            {"method": "emit", "event": event, "data": [frame], "binary": False,
             "namespace": NAMESPACE, "room": room, "skip_sid": None, "callback": None,
             "host_id": self.host_id}
            for event, frame, room in pushes
        ]
        if not messages:
            return
        self._publish_or_raise({"method": "emit", "host_id": self.host_id, "batch": messages})
        if self._has_clients():
            for message in messages:
                self._handle_emit(message)

    def _has_clients(self) -> bool:
        """Whether a Socket.IO client or a raw socket is connected to this process."""
        return any(self.rooms.values()) or len(hub) > 0

    def _listen(self) -> Iterator[bytes]:
        """The channel's messages, skipped unread while this process has no client: every
        web process receives every frame, and decoding and dispatching a batch's 1,000
        frames for nobody cost each web process ~2.4 ms of CPU."""
        for message in super()._listen():
            if self._has_clients():
                yield message

    def _publish_or_raise(self, data: dict[str, Any]) -> None:
        """PUBLISH ``data`` on the publishing client: once more on a new connection if the
        first attempt fails (a Redis restart), each attempt bounded by ``PUBLISH_TIMEOUT``."""
        self._publisher.publish(self.channel, self.json.dumps(data))

    def _handle_emit(self, message: dict[str, Any]) -> None:
        batch = message.get("batch")
        if batch is not None:
            for inner in batch:
                self._handle_emit(inner)
            return
        super()._handle_emit(message)
        data = message.get("data")
        if isinstance(data, list) and len(data) == 1 and not message.get("binary"):
            relay_to_raw(message.get("event", ""), data[0], message.get("namespace"),
                         message.get("room"))


def client_manager_for(message_queue_url: str) -> python_socketio.Manager:
    if not message_queue_url:
        return LocalRelayManager()
    return RedisRelayManager(message_queue_url, channel=channel_for(message_queue_url))


def channel_for(message_queue_url: str) -> str:
    """The pub/sub channel, named after the Redis database number.

    Pub/sub channels are global to a Redis server whatever the database number, while
    Celery queues are per database; naming the channel after the database keeps two
    installations that share a server on different databases from seeing each other's frames.
    """
    database = urlparse(message_queue_url).path.strip("/") or "0"
    return f"openspc-realtime-db{database}"


def start_listening() -> None:
    """Make sure this process receives frames published by others (idempotent)."""
    socketio.server.manager.initialize()
