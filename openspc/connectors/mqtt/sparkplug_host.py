"""The Sparkplug B 3.0 host application's session state per broker: no database, no socket.

What the host does with each message (Sparkplug 3.0, host application rules):

- NBIRTH starts an edge node session: its ``bdSeq`` metric, its ``seq`` and the alias and
  datatype table of its metrics; previous device state of the node is dropped.
- DBIRTH adds a device's aliases and datatypes (the node must be born).
- NDATA/DDATA resolve metrics by name or alias against the BIRTH tables, take a missing
  datatype from the BIRTH, and convert signed integers.
- ``seq`` (0-255, wrapping) must follow the previous message of the edge node: a gap, DATA
  before any BIRTH, or an unknown alias asks for a rebirth (NCMD ``Node Control/Rebirth``),
  at most once per ``REBIRTH_INTERVAL`` per node.
- NDEATH counts only when its ``bdSeq`` matches the live BIRTH's (a late NDEATH of an older
  session is ignored); it makes the node and its devices stale. DDEATH makes a device stale.

Values of a message with a gap are still used (they are valid data; what is lost is the
message in between); values that cannot be resolved are refused with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from openspc.connectors.mqtt.sparkplug import (
    BDSEQ_METRIC,
    Payload,
    SparkplugTopic,
    signed,
)

REBIRTH_INTERVAL = 5.0
"""Seconds between two rebirth requests to one edge node."""


@dataclass(frozen=True)
class ResolvedMetric:
    device: str | None
    name: str
    datatype: int
    value: object
    timestamp: datetime | None
    is_historical: bool


@dataclass
class HostResult:
    metrics: list[ResolvedMetric] = field(default_factory=list)
    rebirth: bool = False
    refusals: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Table:
    aliases: dict[int, str] = field(default_factory=dict)
    datatypes: dict[str, int] = field(default_factory=dict)
    online: bool = True


@dataclass
class _Node:
    bd_seq: int | None = None
    seq: int | None = None
    table: _Table = field(default_factory=_Table)
    devices: dict[str, _Table] = field(default_factory=dict)
    last_rebirth: float = float("-inf")


class SparkplugHost:
    def __init__(self) -> None:
        self._nodes: dict[tuple[str, str], _Node] = {}
        self.changed: set[tuple[str, str]] = set()
        """Nodes whose state changed since the caller last saved them (``export``)."""

    def nodes(self) -> set[tuple[str, str]]:
        return set(self._nodes)

    def export(self, key: tuple[str, str]) -> dict:
        """A node's state as JSON-ready data (the rebirth throttle is not kept)."""
        node = self._nodes[key]
        return {"bd_seq": node.bd_seq, "seq": node.seq, "table": _table_data(node.table),
                "devices": {name: _table_data(t) for name, t in node.devices.items()}}

    def restore(self, key: tuple[str, str], data: dict) -> None:
        self._nodes[key] = _Node(
            bd_seq=data["bd_seq"], seq=data["seq"], table=_table_of(data["table"]),
            devices={name: _table_of(t) for name, t in data["devices"].items()})

    def stale(self) -> list[str]:
        """``group/node`` and ``group/node/device`` of the sessions ended by a DEATH."""
        names = []
        for (group, edge), node in sorted(self._nodes.items()):
            if not node.table.online:
                names.append(f"{group}/{edge}")
            names.extend(f"{group}/{edge}/{device}" for device, table in
                         sorted(node.devices.items()) if not table.online)
        return names

    def receive(self, topic: SparkplugTopic, payload: Payload, now: float) -> HostResult:
        """Apply one message; ``now`` is a monotonic time for the rebirth throttle."""
        result = HostResult()
        kind = topic.message_type
        if kind in ("NCMD", "DCMD", "STATE"):
            return result
        self.changed.add(topic.node_key)
        node = self._nodes.get(topic.node_key)
        if kind == "NBIRTH":
            node = self._nodes[topic.node_key] = _Node(seq=payload.seq)
            node.bd_seq = _bd_seq(payload)
            self._learn(node.table, payload)
            node.table.online = True
            self._resolve(node.table, None, payload, result)
            return result
        if kind == "NDEATH":
            if node is not None and (node.bd_seq is None or _bd_seq(payload) in (None,
                                                                                  node.bd_seq)):
                node.table.online = False
                for table in node.devices.values():
                    table.online = False
            return result
        if node is None or not node.table.online:
            result.refusals.append(("data_before_birth",
                                    f"{kind} from {topic.group}/{topic.edge_node} before its "
                                    "NBIRTH"))
            self._ask_rebirth(topic, now, result, create=True)
            return result
        self._check_seq(node, topic, payload, now, result)
        if kind == "DBIRTH" and topic.device:
            table = node.devices[topic.device] = _Table()
            self._learn(table, payload)
            self._resolve(table, topic.device, payload, result)
        elif kind == "DDEATH" and topic.device:
            if topic.device in node.devices:
                node.devices[topic.device].online = False
        elif kind == "NDATA":
            self._resolve(node.table, None, payload, result)
        elif kind == "DDATA" and topic.device:
            table = node.devices.get(topic.device)
            if table is None or not table.online:
                result.refusals.append(("data_before_birth",
                                        f"DDATA from device {topic.device} before its DBIRTH"))
                self._ask_rebirth(topic, now, result)
                return result
            self._resolve(table, topic.device, payload, result)
        if any(reason == "unknown_alias" for reason, _ in result.refusals):
            self._ask_rebirth(topic, now, result)
        return result

    def _check_seq(self, node: _Node, topic: SparkplugTopic, payload: Payload, now: float,
                   result: HostResult) -> None:
        if payload.seq is None:
            return
        expected = None if node.seq is None else (node.seq + 1) % 256
        node.seq = payload.seq
        if expected is not None and payload.seq != expected:
            result.refusals.append(("seq_gap", f"seq {payload.seq} from {topic.group}/"
                                               f"{topic.edge_node}, expected {expected}"))
            self._ask_rebirth(topic, now, result)

    def _ask_rebirth(self, topic: SparkplugTopic, now: float, result: HostResult,
                     create: bool = False) -> None:
        node = self._nodes.get(topic.node_key)
        if node is None:
            if not create:
                return
            node = self._nodes[topic.node_key] = _Node()
            node.table.online = False
        if now - node.last_rebirth >= REBIRTH_INTERVAL:
            node.last_rebirth = now
            result.rebirth = True

    @staticmethod
    def _learn(table: _Table, payload: Payload) -> None:
        for metric in payload.metrics:
            if metric.name is None:
                continue
            table.datatypes[metric.name] = metric.datatype
            if metric.alias is not None:
                table.aliases[metric.alias] = metric.name

    @staticmethod
    def _resolve(table: _Table, device: str | None, payload: Payload,
                 result: HostResult) -> None:
        for metric in payload.metrics:
            name = metric.name
            if name is None and metric.alias is not None:
                name = table.aliases.get(metric.alias)
            if name is None:
                result.refusals.append(("unknown_alias", f"metric alias {metric.alias} is not "
                                                         "in the BIRTH"))
                continue
            datatype = metric.datatype or table.datatypes.get(name, 0)
            result.metrics.append(ResolvedMetric(
                device=device, name=name, datatype=datatype,
                value=signed(metric.value, datatype),
                timestamp=metric.timestamp or payload.timestamp,
                is_historical=metric.is_historical))


def _table_data(table: _Table) -> dict:
    return {"aliases": {str(alias): name for alias, name in table.aliases.items()},
            "datatypes": table.datatypes, "online": table.online}


def _table_of(data: dict) -> _Table:
    return _Table(aliases={int(alias): name for alias, name in data["aliases"].items()},
                  datatypes=dict(data["datatypes"]), online=data["online"])


def _bd_seq(payload: Payload) -> int | None:
    for metric in payload.metrics:
        if metric.name == BDSEQ_METRIC and isinstance(metric.value, int):
            return metric.value
    return None
