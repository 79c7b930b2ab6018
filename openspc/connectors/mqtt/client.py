"""paho-mqtt clients built one way for every use: the listener, a connection test, discovery
and preview. Each of those opens a connection of its own, so a preview or a discovery never
shares (and never unsubscribes) the listener's subscriptions (integration.md §11.2 G-4)."""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion


@dataclass(frozen=True)
class BrokerAddress:
    """Where and how to connect, credentials already decrypted."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None
    use_tls: bool = False
    keepalive: int = 60


class ConnectFailed(Exception):
    """The broker could not be reached or refused the connection; the text says why."""


def new_client(address: BrokerAddress, client_id: str, *, clean_session: bool = True,
               manual_ack: bool = False) -> mqtt.Client:
    """A paho client (MQTT 3.1.1) with the address's credentials and TLS applied; not connected.

    ``clean_session=False`` keeps the broker-side session (subscriptions and QoS 1 messages
    queued while disconnected) across reconnects; ``manual_ack`` withholds PUBACK until the
    caller acknowledges, so the broker redelivers what was never committed.
    """
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         clean_session=clean_session, protocol=MQTTProtocolVersion.MQTTv311,
                         manual_ack=manual_ack)
    if address.username:
        client.username_pw_set(address.username, address.password)
    if address.use_tls:
        client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
    return client


def connect_and_wait(client: mqtt.Client, address: BrokerAddress, timeout: float) -> float:
    """Connect, start the network thread and wait for the CONNACK; returns the latency in ms.

    Raises ``ConnectFailed`` (with the client stopped) on a socket error, a refusal or no
    answer within ``timeout`` seconds.
    """
    answered = threading.Event()
    outcome: dict[str, object] = {}

    def on_connect(_client, _userdata, _flags, reason_code, _properties) -> None:
        outcome["reason"] = reason_code
        answered.set()

    client.on_connect = on_connect
    client.connect_timeout = timeout
    started = time.perf_counter()
    try:
        client.connect(address.host, address.port, keepalive=address.keepalive)
    except (OSError, ValueError) as error:
        raise ConnectFailed(f"Connection failed: {error}") from None
    client.loop_start()
    if not answered.wait(timeout):
        stop(client)
        raise ConnectFailed(f"Connection timeout connecting to {address.host}:{address.port}")
    reason = outcome["reason"]
    if reason.is_failure:  # type: ignore[attr-defined]
        stop(client)
        raise ConnectFailed(f"Connection failed: {reason}")
    return (time.perf_counter() - started) * 1000.0


def stop(client: mqtt.Client) -> None:
    """Disconnect and stop the network thread; safe on a client that never connected."""
    try:
        client.disconnect()
    finally:
        client.loop_stop()


def topic_filter_problem(topic: str) -> str | None:
    """Why ``topic`` is not a valid MQTT topic filter, or None (MQTT 3.1.1 §4.7)."""
    if not topic:
        return "topic must not be empty"
    if "\x00" in topic:
        return "topic must not contain a null character"
    levels = topic.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            return "'#' must be a whole level and the last one"
        if "+" in level and level != "+":
            return "'+' must be a whole level"
    return None


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether ``topic`` (of a received message) matches ``topic_filter`` (with wildcards)."""
    return mqtt.topic_matches_sub(topic_filter, topic)
