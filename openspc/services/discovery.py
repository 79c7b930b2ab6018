"""Topic discovery and tag preview: short-lived connections of the web process, each with a
client id of its own, so neither ever touches the listener's session (G-4).

Discovery subscribes ``#`` on its own connection and keeps the topic cache in this process's
memory (as the reference did): with several web processes, ``/topics`` is answered by the
process that started the discovery only. Preview subscribes the one topic for the request's
duration and returns what arrived.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt

from openspc.connectors.mqtt.client import ConnectFailed, connect_and_wait, new_client, stop
from openspc.connectors.mqtt.discovery import TopicCache, empty_tree
from openspc.connectors.mqtt.payloads import PayloadRefused, preview_value
from openspc.connectors.mqtt.sparkplug import data_type_name, decode_payload, parse_topic
from openspc.errors import BadRequest
from openspc.services.brokers import broker_address, get_broker

CONNECT_TIMEOUT = 5.0

_sessions: dict[int, tuple[mqtt.Client, TopicCache]] = {}
_lock = threading.Lock()


def _connect(broker_id: int, purpose: str) -> mqtt.Client:
    broker = get_broker(broker_id)
    address = broker_address(broker)
    client = new_client(address, f"openspc-{purpose}-{broker_id}-{uuid.uuid4().hex[:8]}")
    try:
        connect_and_wait(client, address, CONNECT_TIMEOUT)
    except ConnectFailed:
        raise BadRequest(f"Broker {broker_id} is not connected") from None
    return client


def start_discovery(broker_id: int) -> str:
    name = get_broker(broker_id).name
    with _lock:
        if broker_id in _sessions:
            return f"Discovery already active on broker {name}"
    client = _connect(broker_id, "discovery")
    cache = TopicCache()
    client.on_message = lambda _c, _u, message: cache.record(
        message.topic, message.payload, datetime.now(UTC))
    client.subscribe("#", qos=0)
    with _lock:
        if broker_id in _sessions:
            stop(client)
            return f"Discovery already active on broker {name}"
        _sessions[broker_id] = (client, cache)
    return f"Discovery started on broker {name}"


def stop_discovery(broker_id: int) -> str:
    with _lock:
        session = _sessions.pop(broker_id, None)
    if session is None:
        return "Discovery was not active"
    stop(session[0])
    return f"Discovery stopped on broker {get_broker(broker_id).name}"


def stop_all() -> None:
    with _lock:
        sessions = list(_sessions.values())
        _sessions.clear()
    for client, _cache in sessions:
        stop(client)


def flat_topics(broker_id: int, search: str | None = None) -> list[Any]:
    session = _sessions.get(broker_id)
    return [] if session is None else session[1].flat(datetime.now(UTC), search)


def topic_tree(broker_id: int) -> dict[str, Any]:
    session = _sessions.get(broker_id)
    return empty_tree() if session is None else session[1].tree(datetime.now(UTC))


def preview_topic(broker_id: int, topic: str, duration_seconds: float) -> dict[str, Any]:
    """Collect what arrives on ``topic`` for ``duration_seconds`` (TagPreviewResponse)."""
    client = _connect(broker_id, "preview")
    values: list[dict[str, Any]] = []
    lock = threading.Lock()

    def on_message(_client, _userdata, message: mqtt.MQTTMessage) -> None:
        received = _preview_values(message.topic, message.payload)
        with lock:
            values.extend(received)

    client.on_message = on_message
    started_at = datetime.now(UTC)
    started = time.monotonic()
    try:
        client.subscribe(topic, qos=0)
        time.sleep(duration_seconds)
    finally:
        stop(client)
    with lock:
        collected = list(values)
    return {"topic": topic, "values": collected, "sample_count": len(collected),
            "started_at": started_at, "duration_seconds": round(time.monotonic() - started, 3)}


def _preview_values(topic: str, payload: bytes) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    if parse_topic(topic) is None:
        return [{"value": preview_value(payload), "timestamp": now,
                 "raw_payload": payload.decode("utf-8", errors="replace")[:200],
                 "metric_name": None}]
    try:
        decoded = decode_payload(payload)
    except PayloadRefused:
        return []
    return [{"value": metric.value if isinstance(metric.value, int | float | bool | str)
             else str(metric.value),
             "timestamp": metric.timestamp or decoded.timestamp or now,
             "raw_payload": f"{metric.name} ({data_type_name(metric.datatype)})",
             "metric_name": metric.name}
            for metric in decoded.metrics]
