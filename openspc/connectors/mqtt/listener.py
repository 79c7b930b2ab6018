"""The MQTT listener loop: leases, connections, the receive queue and acknowledgements.

Threads and their jobs (Telegraf's ``mqtt_consumer`` shape: acknowledge only what the
output wrote, bound what is undelivered):

- the **control** thread (``run``): every ``POLL_SECONDS`` reads the configuration
  generation; every ``CLAIM_SECONDS`` claims the leases of the active brokers
  (``services.leases``) and reports each connection's status. It opens, re-subscribes or
  closes connections to match what it owns and what the configuration says;
- each connection's paho **network** thread: puts received messages on one bounded queue
  (``QUEUE_SIZE``; when full, the network thread waits, which is the backpressure) and
  reconnects with backoff up to the broker's ``max_reconnect_delay``;
- the **ingest** thread: takes batches off the queue, calls ``services.mqtt_ingest`` (one
  transaction per broker per batch) and acknowledges (PUBACK) each message after the commit.
  A failed commit is retried with backoff, unacknowledged, so nothing is lost.

Sessions are persistent (MQTT 3.1.1, clean session off, a stable client id per broker), so
the broker keeps queueing QoS 1 messages while the listener is away and redelivers the
unacknowledged ones. On SIGTERM, ``stop`` lets the ingest thread finish and acknowledge the
batch in hand, disconnects, and releases the leases so another listener takes over at once.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
import structlog
from flask import Flask

from openspc.connectors.mqtt.client import BrokerAddress, new_client
from openspc.connectors.mqtt.sparkplug import (
    encode_rebirth_request,
    encode_state,
    rebirth_topic,
    state_topic,
)
from openspc.connectors.mqtt.sparkplug_host import SparkplugHost

log = structlog.get_logger(__name__)

KIND = "mqtt"
POLL_SECONDS = 0.5
CLAIM_SECONDS = 1.0
LEASE_TTL = 10.0
QUEUE_SIZE = 10_000
BATCH_SIZE = 2000
BATCH_WAIT = 0.01


@dataclass
class BrokerConfig:
    broker_id: int
    name: str
    address: BrokerAddress
    client_id: str
    max_reconnect_delay: int

    def fingerprint(self) -> str:
        return hashlib.sha256(repr((self.address, self.client_id,
                                    self.max_reconnect_delay)).encode()).hexdigest()


@dataclass
class Connection:
    config: BrokerConfig
    client: mqtt.Client
    fingerprint: str
    rules: list = field(default_factory=list)
    subscribed: list[str] = field(default_factory=list)
    host: SparkplugHost = field(default_factory=SparkplugHost)
    connected: bool = False
    last_connected: Any = None
    last_message_at: Any = None
    error: str | None = "Connecting"
    counters: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


class MqttListener:
    """One listener process (or, embedded, one set of threads of the serving process)."""

    def __init__(self, app: Flask, holder: str, sparkplug_host_id: str = ""):
        self.app = app
        self.holder = holder
        self.sparkplug_host_id = sparkplug_host_id
        self.connections: dict[int, Connection] = {}
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
        self.stopping = threading.Event()
        self._ingest_thread = threading.Thread(target=self._ingest_loop, name="mqtt-ingest",
                                               daemon=True)

    # -- control -------------------------------------------------------------------------

    def run(self) -> None:
        """Run until ``stop``; returns after the leases are released."""
        from openspc.services.listener_config import config_generation

        self._ingest_thread.start()
        generation = None
        next_claim = 0.0
        log.info("mqtt_listener_started", holder=self.holder)
        try:
            while not self.stopping.is_set():
                with self.app.app_context():
                    current = config_generation(KIND)
                    now = time.monotonic()
                    if current != generation or now >= next_claim:
                        self._reconcile(reload=current != generation)
                        generation = current
                        next_claim = now + CLAIM_SECONDS
                self.stopping.wait(POLL_SECONDS)
        finally:
            self._shutdown()

    def stop(self) -> None:
        self.stopping.set()

    def _reconcile(self, reload: bool) -> None:
        from openspc.services import leases
        from openspc.services.mqtt_ingest import load_rules, subscriptions

        configs = self._active_brokers()
        owned = leases.claim_connections(KIND, configs, self.holder, LEASE_TTL)
        for broker_id in list(self.connections):
            connection = self.connections[broker_id]
            if broker_id not in owned or connection.fingerprint != configs[broker_id].fingerprint():
                self._close(broker_id)
        for broker_id in sorted(owned):
            connection = self.connections.get(broker_id)
            if connection is None:
                # Rules first: a persistent session delivers its backlog right after CONNACK
                connection = self._open(configs[broker_id], load_rules(broker_id))
            elif reload:
                rules = load_rules(broker_id)
                with connection.lock:
                    connection.rules = rules
            self._subscribe(connection, subscriptions(connection.rules))
        gone = [i for i in leases.lease_holders(KIND) if i not in configs]
        if gone:
            leases.release_connections(KIND, self.holder, gone)
        self._report()

    def _active_brokers(self) -> dict[int, BrokerConfig]:
        import sqlalchemy as sa

        from openspc.extensions import db
        from openspc.models import MqttBroker
        from openspc.services.brokers import broker_address, listener_client_id

        brokers = db.session.execute(
            sa.select(MqttBroker).where(MqttBroker.is_active.is_(True)).order_by(MqttBroker.id)
        ).scalars().all()
        configs = {}
        for broker in brokers:
            try:
                address = broker_address(broker)
            except Exception as error:  # a credential the key cannot read
                log.error("mqtt_broker_unusable", broker_id=broker.id, error=str(error))
                continue
            configs[broker.id] = BrokerConfig(broker.id, broker.name, address,
                                              listener_client_id(broker),
                                              broker.max_reconnect_delay)
        db.session.rollback()
        return configs

    def _open(self, config: BrokerConfig, rules: list) -> Connection:
        from openspc.services.mqtt_ingest import load_sparkplug_host, subscriptions

        client = new_client(config.address, config.client_id, clean_session=False,
                            manual_ack=True)
        connection = Connection(config, client, config.fingerprint(), rules=rules,
                                subscribed=subscriptions(rules),
                                host=load_sparkplug_host(config.broker_id))
        client.reconnect_delay_set(min_delay=1, max_delay=config.max_reconnect_delay)
        if self.sparkplug_host_id:
            client.will_set(state_topic(self.sparkplug_host_id),
                            encode_state(False, int(time.time() * 1000)), qos=1, retain=True)

        def on_connect(_client, _userdata, _flags, reason_code, _properties) -> None:
            if reason_code.is_failure:
                connection.connected, connection.error = False, f"Connection refused: {reason_code}"
                return
            connection.connected, connection.error = True, None
            connection.last_connected = _utcnow()
            if self.sparkplug_host_id:
                client.publish(state_topic(self.sparkplug_host_id),
                               encode_state(True, int(time.time() * 1000)), qos=1, retain=True)
            with connection.lock:
                topics = list(connection.subscribed)
            for topic in topics:
                client.subscribe(topic, qos=1)
            log.info("mqtt_connected", broker_id=config.broker_id, topics=len(topics))

        def on_disconnect(_client, _userdata, _flags, reason_code, _properties) -> None:
            connection.connected = False
            connection.error = f"Disconnected: {reason_code}"
            log.warning("mqtt_disconnected", broker_id=config.broker_id, reason=str(reason_code))

        def on_message(_client, _userdata, message: mqtt.MQTTMessage) -> None:
            connection.last_message_at = _utcnow()
            while not self.stopping.is_set():
                try:
                    self.queue.put((config.broker_id, message), timeout=0.5)
                    return
                except queue.Full:
                    continue

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_message = on_message
        client.connect_async(config.address.host, config.address.port,
                             keepalive=config.address.keepalive)
        client.loop_start()
        self.connections[config.broker_id] = connection
        log.info("mqtt_connecting", broker_id=config.broker_id, client_id=config.client_id)
        return connection

    def _subscribe(self, connection: Connection, topics: list[str]) -> None:
        with connection.lock:
            old = set(connection.subscribed) if connection.connected else set()
            connection.subscribed = topics
        if not connection.connected:
            return  # on_connect subscribes everything
        removed = sorted(old - set(topics))
        if removed:
            connection.client.unsubscribe(removed)
        for topic in sorted(set(topics) - old):
            connection.client.subscribe(topic, qos=1)

    def _close(self, broker_id: int) -> None:
        connection = self.connections.pop(broker_id)
        if self.sparkplug_host_id and connection.connected:
            connection.client.publish(state_topic(self.sparkplug_host_id),
                                      encode_state(False, int(time.time() * 1000)), qos=1,
                                      retain=True)
        connection.client.disconnect()
        connection.client.loop_stop()
        log.info("mqtt_closed", broker_id=broker_id)

    def _report(self) -> None:
        from openspc.services.connection_status import report_status

        for broker_id, connection in list(self.connections.items()):
            counters = dict(connection.counters)
            counters["stale_nodes"] = len(connection.host.stale())
            report_status(KIND, broker_id, self.holder, is_connected=connection.connected,
                          error_message=connection.error,
                          last_connected=connection.last_connected,
                          last_message_at=connection.last_message_at,
                          subscribed=list(connection.subscribed) if connection.connected else [],
                          counters=counters)

    def _shutdown(self) -> None:
        self.stopping.set()
        self._ingest_thread.join(30)
        with self.app.app_context():
            from openspc.services import leases

            for broker_id in list(self.connections):
                self._close(broker_id)
            try:
                self._report_closed()
                leases.release_connections(KIND, self.holder)
            except Exception as error:  # the database may be what stopped us
                log.error("mqtt_release_failed", error=str(error))
        log.info("mqtt_listener_stopped", holder=self.holder)

    def _report_closed(self) -> None:
        from openspc.services.connection_status import read_statuses, report_status

        for broker_id, status in read_statuses(KIND).items():
            if status.holder == self.holder:
                report_status(KIND, broker_id, self.holder, is_connected=False,
                              error_message="Listener stopped", subscribed=[])

    # -- ingest --------------------------------------------------------------------------

    def _ingest_loop(self) -> None:
        """Until ``stop``: what is still queued then is left unacknowledged (redelivered)."""
        while not self.stopping.is_set():
            batch = self._next_batch()
            if not batch:
                self._close_timers()
                continue
            by_broker: dict[int, list[mqtt.MQTTMessage]] = {}
            for broker_id, message in batch:
                by_broker.setdefault(broker_id, []).append(message)
            for broker_id, messages in by_broker.items():
                self._ingest(broker_id, messages)

    def _next_batch(self) -> list[tuple[int, mqtt.MQTTMessage]]:
        """What has queued up, after a ``BATCH_WAIT`` grace: at a low rate a message is stored
        at once; under load, messages queue while the previous batch is written, so batches
        grow by themselves (measured: 500-message batches over 50 ms -> 2,000 over what has
        queued: Sparkplug 152 -> 552 measurements/s, bench/RESULTS.md)."""
        try:
            first = self.queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + BATCH_WAIT
        while len(batch) < BATCH_SIZE:
            try:
                batch.append(self.queue.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return batch

    def _ingest(self, broker_id: int, received: list[mqtt.MQTTMessage]) -> None:
        connection = self.connections.get(broker_id)
        if connection is None:
            return  # closed: the broker redelivers to the next owner
        outcome = self._store(broker_id, connection, received)
        if outcome is None:
            return  # stopping with the database away: unacknowledged, hence redelivered
        for message in received:
            if message.qos:
                connection.client.ack(message.mid, message.qos)
        self._count(connection, outcome)
        for group, edge_node in outcome.rebirths:
            connection.client.publish(rebirth_topic(group, edge_node),
                                      encode_rebirth_request(int(time.time() * 1000)), qos=0)
            log.info("sparkplug_rebirth_requested", group=group, edge_node=edge_node)

    def _store(self, broker_id: int, connection: Connection,
               received: list[mqtt.MQTTMessage]) -> Any:
        """Commit what ``received`` produced. The database away: retry with backoff (nothing
        is acknowledged meanwhile). Any other error: find the message that causes it by
        storing one at a time, refuse that one (counted, logged with its topic), so one bad
        message never holds up the broker's others."""
        from sqlalchemy.exc import InterfaceError, OperationalError

        from openspc.services.mqtt_ingest import BatchOutcome, Message, ingest_messages

        messages = [Message(m.topic, m.payload, m.mid if m.qos else 0, bool(m.dup))
                    for m in received]
        delay = 0.5
        while True:
            try:
                with self.app.app_context():
                    with connection.lock:
                        rules = list(connection.rules)
                    outcome = ingest_messages(broker_id, rules, messages, connection.host,
                                              time.monotonic())
                connection.host.changed.clear()
                return outcome
            except (OperationalError, InterfaceError) as error:
                log.error("mqtt_ingest_failed", broker_id=broker_id, messages=len(messages),
                          error=str(error), retry_in=delay)
                if self.stopping.is_set():
                    return None
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
            except Exception as error:
                if len(received) > 1:
                    total = BatchOutcome()
                    for message in received:
                        single = self._store(broker_id, connection, [message])
                        if single is None:
                            return None
                        total.add(single)
                    return total
                log.error("mqtt_message_failed", broker_id=broker_id, topic=received[0].topic,
                          error=str(error))
                failed = BatchOutcome(messages=1)
                failed.refused["ingest_error"] += 1
                return failed

    def _close_timers(self) -> None:
        from openspc.services.mqtt_ingest import close_due_timers

        for connection in list(self.connections.values()):
            rules = [r for r in connection.rules if r.strategy == "on_timer"]
            if not rules:
                continue
            try:
                with self.app.app_context():
                    outcome = close_due_timers(rules)
            except Exception as error:
                log.error("mqtt_timer_failed", error=str(error))
                continue
            self._count(connection, outcome)

    @staticmethod
    def _count(connection: Connection, outcome: Any) -> None:
        counters = connection.counters
        counters["messages"] += outcome.messages
        counters["samples"] += outcome.samples
        counters["duplicates"] += outcome.duplicates
        for reason, count in outcome.refused.items():
            counters[f"refused_{reason}"] += count
        if outcome.samples:
            counters["last_sample_at"] = time.time()


def _utcnow():
    from openspc.models.types import utcnow

    return utcnow()


def start_in_background(app: Flask) -> MqttListener:
    """The embedded mode: the same listener as threads of the serving process."""
    from openspc import get_settings
    from openspc.services.leases import new_holder_id

    listener = MqttListener(app, new_holder_id("embedded"), get_settings(app).sparkplug_host_id)
    threading.Thread(target=listener.run, name="mqtt-listener", daemon=True).start()
    return listener
