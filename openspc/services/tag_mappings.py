"""Tag mappings (api.md §13): which MQTT topic feeds which characteristic.

A mapping is an ``MqttDataSource`` bound to its own broker: the listener subscribes it on
that broker (the reference used the first connected one, integration.md §11.2 G-2) and
routes wildcard topics by matching (G-3). Mapping a characteristic replaces its data source
of any type, as in the reference. Every change bumps the listener generation in the same
transaction, so a running listener applies it within about a second; its buffered partial
subgroups are kept (G-8).

Checks the reference lacked, each refused with a 422 naming the field: a topic filter with
misplaced wildcards, ``on_trigger`` without a ``trigger_tag``, a broker of another plant than
the characteristic's.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from openspc.connectors.mqtt.client import topic_filter_problem
from openspc.errors import NotFound, field_error
from openspc.extensions import db
from openspc.models import Characteristic, DataSource, Hierarchy, MqttBroker, MqttDataSource
from openspc.services.listener_config import config_changed
from openspc.services.ownership import get_characteristic_or_404, get_or_404
from openspc.services.transaction import transactional

KIND = "mqtt"


def describe(source: MqttDataSource, characteristic: Characteristic,
             broker: MqttBroker | None) -> dict[str, Any]:
    return {
        "data_source_id": source.id, "characteristic_id": characteristic.id,
        "characteristic_name": characteristic.name, "mqtt_topic": source.topic,
        "trigger_strategy": source.trigger_strategy, "trigger_tag": source.trigger_tag,
        "broker_id": source.broker_id, "broker_name": broker.name if broker else None,
        "metric_name": source.metric_name, "is_active": source.is_active,
        "value_path": source.value_path, "timestamp_path": source.timestamp_path,
        "timer_seconds": None if source.timer_ms is None else source.timer_ms / 1000.0,
    }


def list_mappings(plant_id: int | None = None, broker_id: int | None = None) -> list[dict]:
    query = (
        sa.select(MqttDataSource, Characteristic, MqttBroker)
        .join(Characteristic, Characteristic.id == MqttDataSource.characteristic_id)
        .outerjoin(MqttBroker, MqttBroker.id == MqttDataSource.broker_id)
        .order_by(MqttDataSource.id)
    )
    if plant_id is not None:
        query = query.join(Hierarchy, Hierarchy.id == Characteristic.hierarchy_id).where(
            Hierarchy.plant_id == plant_id)
    if broker_id is not None:
        query = query.where(MqttDataSource.broker_id == broker_id)
    return [describe(*row) for row in db.session.execute(query).all()]


def _check(fields: dict[str, Any], characteristic: Characteristic, broker: MqttBroker) -> None:
    for name in ("mqtt_topic", "trigger_tag"):
        topic = fields.get(name)
        problem = topic_filter_problem(topic) if topic is not None else None
        if problem:
            raise field_error(["body", name], f"Value error, {problem}", topic)
    if fields["trigger_strategy"] == "on_trigger" and not fields.get("trigger_tag"):
        raise field_error(["body", "trigger_tag"],
                          "Value error, on_trigger needs a trigger_tag (the topic that closes "
                          "a subgroup)", None)
    if broker.plant_id is not None:
        plant_id = db.session.execute(
            sa.select(Hierarchy.plant_id).where(Hierarchy.id == characteristic.hierarchy_id)
        ).scalar()
        if plant_id is not None and plant_id != broker.plant_id:
            raise field_error(["body", "broker_id"], "Value error, the broker belongs to "
                              "another plant than the characteristic", broker.id)


def _milliseconds(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


@transactional
def map_characteristic(fields: dict[str, Any]) -> dict[str, Any]:
    characteristic = get_characteristic_or_404(fields["characteristic_id"])
    broker = get_or_404(MqttBroker, fields["broker_id"], "Broker")
    _check(fields, characteristic, broker)
    existing = db.session.execute(
        sa.select(DataSource).where(DataSource.characteristic_id == characteristic.id)
    ).scalar()
    if existing is not None:
        db.session.delete(existing)
        db.session.flush()
    source = MqttDataSource(
        characteristic_id=characteristic.id, broker_id=broker.id, topic=fields["mqtt_topic"],
        trigger_strategy=fields["trigger_strategy"], trigger_tag=fields.get("trigger_tag"),
        metric_name=fields.get("metric_name"), value_path=fields.get("value_path"),
        timestamp_path=fields.get("timestamp_path"),
        timer_ms=_milliseconds(fields.get("timer_seconds")),
        is_active=True,
    )
    db.session.add(source)
    db.session.flush()
    config_changed(KIND)
    return describe(source, characteristic, broker)


@transactional
def unmap_characteristic(characteristic_id: int) -> None:
    source = db.session.execute(
        sa.select(DataSource).where(DataSource.characteristic_id == characteristic_id)
    ).scalar()
    if source is None:
        raise NotFound(f"No data source mapping for characteristic {characteristic_id}")
    db.session.delete(source)
    config_changed(KIND)


def count_active_mappings() -> int:
    return db.session.execute(
        sa.select(sa.func.count()).select_from(MqttDataSource)
        .join(MqttBroker, MqttBroker.id == MqttDataSource.broker_id)
        .where(MqttDataSource.is_active.is_(True), MqttBroker.is_active.is_(True))
    ).scalar() or 0
