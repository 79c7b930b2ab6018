"""The topic cache of a discovery (integration.md §4): what was seen on ``#``, flat or as a
tree. Pure: the caller feeds it messages with their arrival time.

Caps as the reference: at most ``MAX_TOPICS`` topics (a new one evicts the least recently
seen), entries unseen for ``TTL_SECONDS`` dropped when read, at most one full update per
topic per second (further messages only count).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from openspc.connectors.mqtt.payloads import PayloadRefused
from openspc.connectors.mqtt.sparkplug import data_type_name, decode_payload, parse_topic

MAX_TOPICS = 10_000
TTL_SECONDS = 300.0
UPDATE_INTERVAL = 1.0


@dataclass
class DiscoveredTopic:
    topic: str
    message_count: int = 0
    last_seen: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_payload_size: int = 0
    is_sparkplug: bool = False
    sparkplug_group: str | None = None
    sparkplug_node: str | None = None
    sparkplug_device: str | None = None
    sparkplug_message_type: str | None = None
    sparkplug_metrics: list[dict[str, str]] = field(default_factory=list)


class TopicCache:
    def __init__(self) -> None:
        self._topics: dict[str, DiscoveredTopic] = {}
        self._lock = threading.Lock()

    def record(self, topic: str, payload: bytes, now: datetime) -> None:
        with self._lock:
            entry = self._topics.get(topic)
            if entry is None:
                if len(self._topics) >= MAX_TOPICS:
                    oldest = min(self._topics.values(), key=lambda e: e.last_seen)
                    del self._topics[oldest.topic]
                entry = self._topics[topic] = DiscoveredTopic(topic, last_seen=now)
            elif (now - entry.last_seen).total_seconds() < UPDATE_INTERVAL:
                entry.message_count += 1
                return
            entry.message_count += 1
            entry.last_seen = now
            entry.last_payload_size = len(payload)
            sparkplug = parse_topic(topic)
            if sparkplug is not None:
                entry.is_sparkplug = True
                entry.sparkplug_group = sparkplug.group
                entry.sparkplug_node = sparkplug.edge_node
                entry.sparkplug_device = sparkplug.device
                entry.sparkplug_message_type = sparkplug.message_type
                entry.sparkplug_metrics = _metric_names(payload)

    def _live(self, now: datetime) -> list[DiscoveredTopic]:
        with self._lock:
            for topic in [t for t, e in self._topics.items()
                          if (now - e.last_seen).total_seconds() > TTL_SECONDS]:
                del self._topics[topic]
            return list(self._topics.values())

    def flat(self, now: datetime, search: str | None = None) -> list[DiscoveredTopic]:
        entries = self._live(now)
        if search:
            entries = [e for e in entries if search.lower() in e.topic.lower()]
        return sorted(entries, key=lambda e: e.last_seen, reverse=True)

    def tree(self, now: datetime) -> dict[str, Any]:
        root = empty_tree()
        for entry in self._live(now):  # first seen first: children keep insertion order
            node = root
            _count(node, entry)
            for level in entry.topic.split("/"):
                child = next((c for c in node["children"] if c["name"] == level), None)
                if child is None:
                    child = {"name": level, "full_topic": None, "children": [],
                             "message_count": 0, "is_sparkplug": False, "sparkplug_metrics": []}
                    node["children"].append(child)
                node = child
                _count(node, entry)
            node["full_topic"] = entry.topic
            node["sparkplug_metrics"] = entry.sparkplug_metrics
        return root


def empty_tree() -> dict[str, Any]:
    return {"name": "root", "full_topic": None, "children": [], "message_count": 0,
            "is_sparkplug": False, "sparkplug_metrics": []}


def _count(node: dict[str, Any], entry: DiscoveredTopic) -> None:
    node["message_count"] += entry.message_count
    node["is_sparkplug"] = node["is_sparkplug"] or entry.is_sparkplug


def _metric_names(payload: bytes) -> list[dict[str, str]]:
    try:
        metrics = decode_payload(payload).metrics
    except PayloadRefused:
        return []
    seen: dict[str, str] = {}
    for metric in metrics:
        if metric.name and metric.name not in seen:
            seen[metric.name] = data_type_name(metric.datatype)
    return [{"name": name, "data_type": kind} for name, kind in seen.items()]
