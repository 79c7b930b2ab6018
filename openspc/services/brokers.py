"""MQTT brokers (api.md §12): configuration in the database, connections in the listener.

The web process never holds a broker connection for ingestion: it stores the configuration,
bumps the listener generation (``listener_config``) in the same transaction, and reads the
live state that the owning listener reports (``connection_status``). Hence, unlike the
reference (integration.md §11.2 G-19, G-20): activating or connecting a broker leaves the
others alone, a patched broker is reconnected and a deleted one disconnected by its listener
within about a second, and the status shown is the listener's, never a stale copy.

``POST /brokers/disconnect`` deactivates every broker (``is_active=false``): connections
belong to the listeners, so "disconnect" has to be a configuration they read; it therefore
lasts until a broker is activated or connected again, where the reference's lasted until
its process restarted.

Usernames and passwords are stored encrypted with the product's one cipher
(``openspc.credentials``); usernames are returned in clear, passwords never.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from openspc.connectors.mqtt.client import (
    BrokerAddress,
    ConnectFailed,
    connect_and_wait,
    new_client,
    stop,
)
from openspc.credentials import credential_cipher
from openspc.errors import Conflict
from openspc.extensions import db
from openspc.models import MqttBroker
from openspc.services.connection_status import LiveStatus, forget_status, read_statuses
from openspc.services.listener_config import config_changed
from openspc.services.ownership import get_or_404
from openspc.services.transaction import flush_or_conflict, transactional

KIND = "mqtt"
DEFAULT_CLIENT_ID = "openspc-client"
TEST_TIMEOUT = 5.0
CONNECT_WAIT = 3.0
"""Seconds ``POST /brokers/{id}/connect`` waits for a listener to report the connection."""

CREDENTIALS = ("username", "password")


def get_broker(broker_id: int) -> MqttBroker:
    return get_or_404(MqttBroker, broker_id, "Broker")


def describe(broker: MqttBroker) -> dict[str, Any]:
    """A broker as BrokerResponse shows it: the username decrypted, no password."""
    view = {column.key: getattr(broker, column.key) for column in sa.inspect(MqttBroker).columns}
    view.pop("password")
    view.pop("payload_format")
    view["username"] = credential_cipher().decrypt_optional(broker.username)
    return view


def list_brokers(active_only: bool = False, plant_id: int | None = None, offset: int = 0,
                 limit: int = 100) -> dict[str, Any]:
    query = sa.select(MqttBroker)
    if active_only:
        query = query.where(MqttBroker.is_active.is_(True))
    if plant_id is not None:
        query = query.where(MqttBroker.plant_id == plant_id)
    total = db.session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar()
    brokers = db.session.execute(query.order_by(MqttBroker.id).offset(offset).limit(limit))
    return {"items": [describe(b) for b in brokers.scalars()], "total": total,
            "offset": offset, "limit": limit}


def _check_name_free(name: str, broker_id: int | None = None) -> None:
    """Names are unique across plants (api.md §12), not only per plant as the table says."""
    clash = db.session.execute(
        sa.select(MqttBroker.id).where(MqttBroker.name == name, MqttBroker.id != (broker_id or 0))
    ).first()
    if clash is not None:
        raise Conflict(f"Broker with name '{name}' already exists")


def _apply(broker: MqttBroker, fields: dict[str, Any]) -> None:
    cipher = credential_cipher()
    for name, value in fields.items():
        if name in CREDENTIALS:
            value = cipher.encrypt_optional(value)
        setattr(broker, name, value)


@transactional
def create_broker(fields: dict[str, Any]) -> dict[str, Any]:
    _check_name_free(fields["name"])
    broker = MqttBroker()
    _apply(broker, fields)
    db.session.add(broker)
    flush_or_conflict(f"Broker with name '{fields['name']}' already exists")
    config_changed(KIND)
    return describe(broker)


@transactional
def update_broker(broker_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    broker = get_broker(broker_id)
    if "name" in changes:
        _check_name_free(changes["name"], broker_id)
    _apply(broker, changes)
    flush_or_conflict(f"Broker with name '{changes.get('name')}' already exists")
    config_changed(KIND)
    return describe(broker)


@transactional
def delete_broker(broker_id: int) -> None:
    db.session.delete(get_broker(broker_id))
    forget_status(KIND, broker_id)
    config_changed(KIND)


@transactional
def activate_broker(broker_id: int) -> dict[str, Any]:
    """Activate this broker; the others keep their state (the reference deactivated them)."""
    broker = get_broker(broker_id)
    broker.is_active = True
    config_changed(KIND)
    return describe(broker)


@transactional
def deactivate_all() -> None:
    db.session.execute(sa.update(MqttBroker).values(is_active=False))
    config_changed(KIND)


def connect_broker(broker_id: int) -> dict[str, Any]:
    """Activate the broker, then wait up to ``CONNECT_WAIT`` s for its listener to report it
    connected. Without that report the status says why: the broker's own refusal (one test
    connection) or that no listener has taken it yet."""
    activate_broker(broker_id)
    deadline = time.monotonic() + CONNECT_WAIT
    while True:
        live = read_statuses(KIND, [broker_id]).get(broker_id)
        db.session.rollback()
        if (live is not None and live.is_connected) or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    broker = get_broker(broker_id)
    status = connection_status(broker, live, "Broker is not connected")
    if not status["is_connected"]:
        outcome = test_connection(broker_address(broker))
        status["error_message"] = (
            "Waiting for a listener to take the connection" if outcome["success"]
            else outcome["message"])
    return status


def connection_status(broker: MqttBroker, live: LiveStatus | None,
                      absent: str) -> dict[str, Any]:
    """BrokerConnectionStatus from the live state (``absent``: the text when there is none)."""
    if live is None:
        return {"broker_id": broker.id, "broker_name": broker.name, "is_connected": False,
                "last_connected": None, "error_message": absent, "subscribed_topics": []}
    return {"broker_id": broker.id, "broker_name": broker.name,
            "is_connected": live.is_connected, "last_connected": live.last_connected,
            "error_message": None if live.is_connected else live.error_message,
            "subscribed_topics": live.subscribed}


def broker_status(broker_id: int) -> dict[str, Any]:
    broker = get_broker(broker_id)
    live = read_statuses(KIND, [broker_id]).get(broker_id)
    return connection_status(broker, live, "Broker is not connected")


def all_statuses(plant_id: int | None = None) -> dict[str, Any]:
    query = sa.select(MqttBroker).order_by(MqttBroker.id)
    if plant_id is not None:
        query = query.where(MqttBroker.plant_id == plant_id)
    brokers = db.session.execute(query).scalars().all()
    live = read_statuses(KIND, [b.id for b in brokers])
    return {"states": [connection_status(b, live.get(b.id), "Not connected") for b in brokers]}


def current_status() -> dict[str, Any]:
    """The first connected broker's status, else the first active one's, else the first's."""
    brokers = db.session.execute(sa.select(MqttBroker).order_by(MqttBroker.id)).scalars().all()
    if not brokers:
        return {"broker_id": 0, "broker_name": "None", "is_connected": False,
                "last_connected": None, "error_message": "No broker configured",
                "subscribed_topics": []}
    live = read_statuses(KIND, [b.id for b in brokers])
    chosen = (next((b for b in brokers if live.get(b.id) and live[b.id].is_connected), None)
              or next((b for b in brokers if b.is_active), brokers[0]))
    return connection_status(chosen, live.get(chosen.id), "Broker is not connected")


def broker_address(broker: MqttBroker) -> BrokerAddress:
    cipher = credential_cipher()
    return BrokerAddress(host=broker.host, port=broker.port,
                         username=cipher.decrypt_optional(broker.username),
                         password=cipher.decrypt_optional(broker.password),
                         use_tls=broker.use_tls, keepalive=broker.keepalive)


def listener_client_id(broker: MqttBroker) -> str:
    """The broker's stable MQTT client id. The API's default id is shared by every broker
    created without one, and a broker kicks the older of two clients with the same id, so
    the default gets the broker id appended; an id set by the operator is used as it is."""
    if broker.client_id == DEFAULT_CLIENT_ID:
        return f"{DEFAULT_CLIENT_ID}-{broker.id}"
    return broker.client_id


def test_connection(address: BrokerAddress) -> dict[str, Any]:
    """One connection attempt (client id ``openspc-test-client``): never raises.

    Unlike the reference, ``use_tls`` is honoured."""
    client = new_client(address, "openspc-test-client")
    try:
        latency = connect_and_wait(client, address, TEST_TIMEOUT)
    except ConnectFailed as failure:
        return {"success": False, "message": str(failure), "latency_ms": None}
    stop(client)
    return {"success": True, "message": f"Successfully connected to {address.host}:{address.port}",
            "latency_ms": round(latency, 2)}
