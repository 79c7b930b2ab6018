"""This process's raw ``/ws/samples`` sockets and what each one subscribed to.

The fan-out never blocks on a socket: ``deliver`` only queues the encoded frame on each
client (``RawClient.push``), whose own writer thread sends it.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Protocol


class Recipient(Protocol):
    characteristic_ids: set[int]

    def push(self, text: str) -> None: ...


def encode(frame: dict[str, Any]) -> str:
    """The frame's JSON text, encoded as python-socketio encodes the same frame."""
    return json.dumps(frame, separators=(",", ":"))


class RawHub:
    """Registry ``characteristic_id -> sockets``; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: set[Recipient] = set()
        self._by_characteristic: dict[int, set[Recipient]] = {}

    def __len__(self) -> int:
        """How many raw sockets this process holds."""
        with self._lock:
            return len(self._clients)

    def register(self, client: Recipient) -> None:
        with self._lock:
            self._clients.add(client)

    def unregister(self, client: Recipient) -> None:
        with self._lock:
            self._clients.discard(client)
            self._forget(client, list(client.characteristic_ids))

    def subscribe(self, client: Recipient, characteristic_ids: list[int]) -> None:
        with self._lock:
            if client not in self._clients:
                return
            for char_id in characteristic_ids:
                client.characteristic_ids.add(char_id)
                self._by_characteristic.setdefault(char_id, set()).add(client)

    def unsubscribe(self, client: Recipient, characteristic_ids: list[int]) -> None:
        with self._lock:
            self._forget(client, characteristic_ids)

    def deliver(self, frame: dict[str, Any], characteristic_id: int | None) -> None:
        """Queue ``frame`` for the subscribers of ``characteristic_id`` (None: every socket)."""
        with self._lock:
            if characteristic_id is None:
                targets = list(self._clients)
            else:
                targets = list(self._by_characteristic.get(characteristic_id, ()))
        if not targets:
            return
        text = encode(frame)
        for client in targets:
            client.push(text)

    def _forget(self, client: Recipient, characteristic_ids: list[int]) -> None:
        for char_id in characteristic_ids:
            client.characteristic_ids.discard(char_id)
            subscribers = self._by_characteristic.get(char_id)
            if subscribers is not None:
                subscribers.discard(client)
                if not subscribers:
                    del self._by_characteristic[char_id]


hub = RawHub()
