"""The TAG provider's status and controls (api.md §15), over the MQTT listeners.

The reference's provider was an object inside its one process; ours is every listener
holding a broker lease. "Running" means at least one listener reports a live connection;
restart and refresh ask every listener to reload its configuration (the generation bump of
``listener_config``), which keeps buffered partial subgroups (the reference discarded them,
integration.md §11.2 G-8).

Extension (ours): ``brokers``, per broker the listener's counters since it took the broker
(messages, samples, duplicates, refusals per reason, stale Sparkplug nodes) and the buffered
partial subgroups (characteristic, values held, since when).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from openspc.errors import ServiceUnavailable
from openspc.extensions import db
from openspc.models import MqttBroker, MqttDataSource
from openspc.models.connectivity import MqttPartialSubgroup
from openspc.services.brokers import KIND, current_status
from openspc.services.connection_status import read_statuses
from openspc.services.listener_config import config_changed
from openspc.services.tag_mappings import count_active_mappings
from openspc.services.transaction import transactional


def _tag_provider(statuses: dict) -> dict[str, Any]:
    live = [s for s in statuses.values() if s.is_connected]
    last = max((s.counters.get("last_sample_at", 0) for s in statuses.values()), default=0)
    return {
        "is_running": bool(live),
        "subscribed_topics": sorted({t for s in live for t in s.subscribed}),
        "characteristics_count": count_active_mappings(),
        "samples_processed": int(sum(s.counters.get("samples", 0) for s in statuses.values())),
        "last_sample_time": datetime.fromtimestamp(last, UTC) if last else None,
        "error_message": None if live else "No MQTT listener is connected",
    }


def provider_status() -> dict[str, Any]:
    statuses = read_statuses(KIND)
    mqtt = current_status()
    names = dict(db.session.execute(sa.select(MqttBroker.id, MqttBroker.name)).all())
    buffered = _buffered_subgroups()
    brokers = [{
        "broker_id": broker_id, "broker_name": names.get(broker_id),
        "is_connected": status.is_connected, "listener": status.holder,
        "last_message_time": status.last_message_at,
        "counters": status.counters,
        "buffered_subgroups": buffered.get(broker_id, []),
    } for broker_id, status in sorted(statuses.items()) if broker_id in names]
    return {
        "mqtt": {
            "is_connected": mqtt["is_connected"],
            "broker_id": mqtt["broker_id"] or None, "broker_name": mqtt["broker_name"]
            if mqtt["broker_id"] else None,
            "last_connected": mqtt["last_connected"], "error_message": mqtt["error_message"],
            "subscribed_topics": mqtt["subscribed_topics"],
        },
        "tag_provider": _tag_provider(statuses),
        "brokers": brokers,
    }


def _buffered_subgroups() -> dict[int, list[dict[str, Any]]]:
    """Per broker, the partial subgroups its mappings hold: characteristic and value count."""
    rows = db.session.execute(
        sa.select(MqttDataSource.broker_id, MqttDataSource.characteristic_id,
                  MqttPartialSubgroup.readings, MqttPartialSubgroup.opened_at)
        .join(MqttDataSource, MqttDataSource.id == MqttPartialSubgroup.data_source_id)
        .order_by(MqttDataSource.characteristic_id)
    ).all()
    buffered: dict[int, list[dict[str, Any]]] = {}
    for broker_id, characteristic_id, readings, opened_at in rows:
        buffered.setdefault(broker_id, []).append(
            {"characteristic_id": characteristic_id, "values": len(readings),
             "since": opened_at})
    return buffered


@transactional
def _reload() -> None:
    config_changed(KIND)


def restart_tag_provider() -> dict[str, Any]:
    statuses = read_statuses(KIND)
    if not any(s.is_connected for s in statuses.values()):
        raise ServiceUnavailable("Cannot restart TAG provider: MQTT not connected")
    _reload()
    return _tag_provider(statuses)


def refresh_tag_provider() -> dict[str, Any]:
    if not any(s.is_connected for s in read_statuses(KIND).values()):
        raise ServiceUnavailable("TAG provider is not running")
    _reload()
    count = count_active_mappings()
    return {"message": f"Refreshed subscriptions for {count} characteristics",
            "characteristics_count": count}
