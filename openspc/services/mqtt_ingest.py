"""MQTT messages -> subgroups -> the one ingest service, in one transaction per batch.

The listener loop hands over a batch of received messages of one broker; this module routes
each to its mappings (wildcards matched, G-3), decodes it (``payloads``, or the Sparkplug host
session), assembles subgroups per trigger strategy and writes, in one transaction: the
samples (through ``ingest.submit_samples``, which enqueues evaluation after commit), the
partial subgroups left over (``MqttPartialSubgroup``) and the delivery records that make a
redelivery harmless (``MqttDelivery``). The loop acknowledges the messages only after that
commit.

Dedupe key, and why: MQTT gives a message no identity of its own, and a payload may repeat
legitimately (a steady ``12.5``). A QoS 1 message is redelivered only while it is
unacknowledged, with the DUP flag and its *original packet id*; and a broker reuses a packet
id only once the previous message carrying it was acknowledged, i.e. committed here. So the
key is (broker, packet id) -> digest of (topic, payload) of the last committed message with
that id: a DUP message whose digest matches was committed before its acknowledgement was
lost, and stores nothing new. Sparkplug and timestamped JSON payloads carry seq/time, so
their digests never repeat; a plain number repeated exactly 65,535 packets later, on a
message lost between receipt and commit, is the one case this cannot tell apart.

Strategies (integration.md §5.3, with the reference's bugs corrected, G-7):
``on_change`` closes a subgroup when the characteristic's size is reached; ``on_trigger``
closes it when a message arrives on the mapping's trigger topic, and the ingest service's
subgroup rules refuse a count that is too small or too large (counted, values dropped);
``on_timer`` closes it every ``timer_seconds`` (default 60 s), whatever it holds.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog

from openspc.connectors.mqtt.client import topic_matches
from openspc.connectors.mqtt.payloads import PayloadRefused, Reading, decode_readings
from openspc.connectors.mqtt.sparkplug import decode_payload, numeric, parse_topic
from openspc.connectors.mqtt.sparkplug_host import SparkplugHost
from openspc.errors import ApiError
from openspc.extensions import db
from openspc.models import Characteristic, MqttBroker, MqttDataSource
from openspc.models.connectivity import MqttDelivery, MqttPartialSubgroup, SparkplugNodeState
from openspc.models.types import utcnow
from openspc.services.ingest import SampleInput, error_text, submit_samples
from openspc.services.transaction import transactional

log = structlog.get_logger(__name__)

DEFAULT_TIMER_SECONDS = 60.0


@dataclass(frozen=True)
class MappingRule:
    data_source_id: int
    characteristic_id: int
    topic: str
    subgroup_size: int
    strategy: str = "on_change"
    trigger_tag: str | None = None
    metric_name: str | None = None
    value_path: str | None = None
    timestamp_path: str | None = None
    timer_seconds: float = DEFAULT_TIMER_SECONDS


@dataclass(frozen=True)
class Message:
    """One received message as the loop hands it over (``packet_id`` 0: QoS 0)."""

    topic: str
    payload: bytes
    packet_id: int = 0
    dup: bool = False
    received_at: datetime = field(default_factory=utcnow)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.topic.encode() + b"\x00" + self.payload).hexdigest()


@dataclass
class BatchOutcome:
    messages: int = 0
    samples: int = 0
    duplicates: int = 0
    refused: Counter = field(default_factory=Counter)
    rebirths: list[tuple[str, str]] = field(default_factory=list)

    def add(self, other: BatchOutcome) -> None:
        self.messages += other.messages
        self.samples += other.samples
        self.duplicates += other.duplicates
        self.refused.update(other.refused)
        self.rebirths.extend(other.rebirths)


def load_rules(broker_id: int) -> list[MappingRule]:
    """The active mappings of an active broker, with their characteristic's subgroup size."""
    rows = db.session.execute(
        sa.select(MqttDataSource, Characteristic.subgroup_size)
        .join(Characteristic, Characteristic.id == MqttDataSource.characteristic_id)
        .join(MqttBroker, MqttBroker.id == MqttDataSource.broker_id)
        .where(MqttDataSource.broker_id == broker_id, MqttDataSource.is_active.is_(True),
               MqttBroker.is_active.is_(True))
        .order_by(MqttDataSource.id)
    ).all()
    return [MappingRule(
        data_source_id=source.id, characteristic_id=source.characteristic_id,
        topic=source.topic, subgroup_size=size, strategy=source.trigger_strategy,
        trigger_tag=source.trigger_tag, metric_name=source.metric_name,
        value_path=source.value_path, timestamp_path=source.timestamp_path,
        timer_seconds=(source.timer_ms / 1000.0) if source.timer_ms else DEFAULT_TIMER_SECONDS,
    ) for source, size in rows]


def subscriptions(rules: Sequence[MappingRule]) -> list[str]:
    """Topic filters to subscribe. A Sparkplug mapping subscribes every message type of its
    edge node (or of the whole namespace when the group or node is a wildcard): the host
    checks ``seq`` across all of them and needs the BIRTHs for the aliases."""
    filters: set[str] = set()
    for rule in rules:
        filters.add(_sparkplug_filter(rule.topic) or rule.topic)
        if rule.strategy == "on_trigger" and rule.trigger_tag:
            filters.add(rule.trigger_tag)
    return sorted(filters)


def _sparkplug_filter(topic: str) -> str | None:
    parts = topic.split("/")
    if parts[0] != "spBv1.0":
        return None
    if len(parts) >= 4 and "+" not in (parts[1], parts[3]) and "#" not in parts[1:4]:
        return f"spBv1.0/{parts[1]}/+/{parts[3]}/#"
    return "spBv1.0/#"


@dataclass
class _Work:
    """What one message contributes: values per mapping, trigger firings, refusals."""

    values: list[tuple[MappingRule, Reading]] = field(default_factory=list)
    triggers: list[MappingRule] = field(default_factory=list)


def route(rules: Sequence[MappingRule], message: Message, host: SparkplugHost, now: float,
          outcome: BatchOutcome) -> _Work:
    """Decode one message for every mapping it concerns; refusals are counted and logged
    with the topic, never silent."""
    work = _Work()
    refused_before = sum(outcome.refused.values())
    work.triggers = [r for r in rules if r.strategy == "on_trigger" and r.trigger_tag
                     and topic_matches(r.trigger_tag, message.topic)]
    sparkplug = parse_topic(message.topic)
    if sparkplug is not None:
        try:
            payload = decode_payload(message.payload)
        except PayloadRefused as refused:
            _refuse(outcome, message.topic, refused.reason, str(refused))
            return work
        result = host.receive(sparkplug, payload, now)
        for reason, text in result.refusals:
            _refuse(outcome, message.topic, reason, text)
        if result.rebirth:
            outcome.rebirths.append((sparkplug.group, sparkplug.edge_node))
        for rule in rules:
            if not topic_matches(rule.topic, message.topic):
                continue
            for metric in result.metrics:
                if metric.name != rule.metric_name:
                    continue
                try:
                    value = numeric(metric.value, metric.datatype)
                except PayloadRefused as refused:
                    _refuse(outcome, message.topic, refused.reason, str(refused))
                    continue
                work.values.append((rule, Reading(value, metric.timestamp)))
        return work
    for rule in rules:
        if rule in work.triggers or not topic_matches(rule.topic, message.topic):
            continue
        try:
            readings = decode_readings(message.payload, rule.value_path, rule.timestamp_path)
        except PayloadRefused as refused:
            _refuse(outcome, message.topic, refused.reason, str(refused))
            continue
        work.values.extend((rule, reading) for reading in readings)
    if not work.values and not work.triggers and sum(outcome.refused.values()) == refused_before:
        _refuse(outcome, message.topic, "unmapped", "no mapping matches the topic")
    return work


def _refuse(outcome: BatchOutcome, topic: str, reason: str, text: str) -> None:
    outcome.refused[reason] += 1
    log.warning("mqtt_payload_refused", topic=topic, reason=reason, detail=text)


def _encode(reading: Reading) -> list:
    return [reading.value, reading.timestamp.isoformat() if reading.timestamp else None]


def _decode(stored: list) -> Reading:
    value, timestamp = stored
    return Reading(value, datetime.fromisoformat(timestamp) if timestamp else None)


class _Partials:
    """The buffered values of the mappings a batch touches, loaded once, written once."""

    def __init__(self, source_ids: set[int]):
        rows = db.session.execute(sa.select(MqttPartialSubgroup).where(
            MqttPartialSubgroup.data_source_id.in_(source_ids))).scalars() if source_ids else []
        self.rows = {row.data_source_id: row for row in rows}
        self.values = {sid: [_decode(r) for r in row.readings] for sid, row in self.rows.items()}
        self.opened = {sid: row.opened_at for sid, row in self.rows.items()}
        self.changed: set[int] = set()

    def add(self, rule: MappingRule, reading: Reading, now: datetime) -> None:
        buffered = self.values.setdefault(rule.data_source_id, [])
        if not buffered:
            self.opened[rule.data_source_id] = now
        buffered.append(reading)
        self.changed.add(rule.data_source_id)

    def take(self, rule: MappingRule, count: int | None = None) -> list[Reading]:
        buffered = self.values.get(rule.data_source_id, [])
        count = len(buffered) if count is None else count
        taken, self.values[rule.data_source_id] = buffered[:count], buffered[count:]
        self.changed.add(rule.data_source_id)
        return taken

    def write(self) -> None:
        for source_id in self.changed:
            row = self.rows.get(source_id)
            values = self.values.get(source_id, [])
            if not values:
                if row is not None:
                    db.session.delete(row)
            elif row is None:
                db.session.add(MqttPartialSubgroup(
                    data_source_id=source_id, readings=[_encode(r) for r in values],
                    opened_at=self.opened[source_id]))
            else:
                row.readings = [_encode(r) for r in values]
                row.opened_at = self.opened[source_id]


def _sample(rule: MappingRule, readings: list[Reading], now: datetime) -> SampleInput:
    """The subgroup's time is its last value's device time, else when it arrived."""
    stamped = [r.timestamp for r in readings if r.timestamp is not None]
    return SampleInput(characteristic_id=rule.characteristic_id,
                       measurements=[r.value for r in readings],
                       timestamp=stamped[-1] if stamped else now)


def _fresh_messages(broker_id: int, messages: Sequence[Message],
                    outcome: BatchOutcome) -> list[Message]:
    """Drop redeliveries of committed messages; record the others' packet ids."""
    redelivered = {m.packet_id for m in messages if m.dup and m.packet_id}
    known = dict(db.session.execute(
        sa.select(MqttDelivery.packet_id, MqttDelivery.digest)
        .where(MqttDelivery.broker_id == broker_id, MqttDelivery.packet_id.in_(redelivered))
    ).all()) if redelivered else {}
    fresh = []
    for message in messages:
        if message.dup and known.get(message.packet_id) == message.digest:
            outcome.duplicates += 1
            continue
        fresh.append(message)
    latest = {m.packet_id: m.digest for m in fresh if m.packet_id}
    if latest:
        table = MqttDelivery.__table__
        db.session.execute(sa.delete(table).where(
            table.c.broker_id == broker_id, table.c.packet_id.in_(list(latest))))
        now = utcnow()
        db.session.execute(sa.insert(table), [
            {"broker_id": broker_id, "packet_id": packet_id, "digest": digest,
             "committed_at": now} for packet_id, digest in latest.items()])
    return fresh


@transactional
def ingest_messages(broker_id: int, rules: Sequence[MappingRule], messages: Sequence[Message],
                    host: SparkplugHost, monotonic_now: float) -> BatchOutcome:
    """Store what a batch of one broker's messages produced, in one transaction."""
    outcome = BatchOutcome(messages=len(messages))
    fresh = _fresh_messages(broker_id, messages, outcome)
    works = [(m, route(rules, m, host, monotonic_now, outcome)) for m in fresh]
    touched = {rule.data_source_id for _, w in works for rule, _ in w.values}
    touched |= {rule.data_source_id for _, w in works for rule in w.triggers}
    partials = _Partials(touched)
    items: list[tuple[MappingRule, SampleInput]] = []
    for message, work in works:
        for rule, reading in work.values:
            if rule.subgroup_size == 1 and rule.strategy == "on_change":
                items.append((rule, _sample(rule, [reading], message.received_at)))
                continue
            partials.add(rule, reading, message.received_at)
            if rule.strategy == "on_change":
                while len(partials.values[rule.data_source_id]) >= rule.subgroup_size:
                    items.append((rule, _sample(rule, partials.take(rule, rule.subgroup_size),
                                                message.received_at)))
        for rule in work.triggers:
            readings = partials.take(rule)
            if readings:
                items.append((rule, _sample(rule, readings, message.received_at)))
    partials.write()
    _save_sparkplug_nodes(broker_id, host)
    _submit(items, outcome)
    return outcome


def _save_sparkplug_nodes(broker_id: int, host: SparkplugHost) -> None:
    """The Sparkplug sessions a batch changed, committed with it (design.md: state that must
    survive a restart is persisted). ``host.changed`` is cleared by the caller after commit."""
    if not host.changed:
        return
    table = SparkplugNodeState.__table__
    keys = [key for key in host.changed if key in host.nodes()]
    for group, edge in keys:
        db.session.execute(sa.delete(table).where(
            table.c.broker_id == broker_id, table.c.group_id == group, table.c.edge_node == edge))
    now = utcnow()
    if keys:
        db.session.execute(sa.insert(table), [
            {"broker_id": broker_id, "group_id": group, "edge_node": edge,
             "state": host.export((group, edge)), "updated_at": now} for group, edge in keys])


def load_sparkplug_host(broker_id: int) -> SparkplugHost:
    """A broker's Sparkplug host session as last committed."""
    host = SparkplugHost()
    rows = db.session.execute(sa.select(SparkplugNodeState).where(
        SparkplugNodeState.broker_id == broker_id)).scalars()
    for row in rows:
        host.restore((row.group_id, row.edge_node), row.state)
    return host


@transactional
def close_due_timers(rules: Sequence[MappingRule]) -> BatchOutcome:
    """Close the ``on_timer`` subgroups whose period has passed since their first value."""
    outcome = BatchOutcome()
    timed = [r for r in rules if r.strategy == "on_timer"]
    if not timed:
        return outcome
    partials = _Partials({r.data_source_id for r in timed})
    now = utcnow()
    items = []
    for rule in timed:
        opened = partials.opened.get(rule.data_source_id)
        if opened is None or not partials.values.get(rule.data_source_id):
            continue
        if now - opened >= timedelta(seconds=rule.timer_seconds):
            items.append((rule, _sample(rule, partials.take(rule), now)))
    partials.write()
    _submit(items, outcome)
    return outcome


def _submit(items: list[tuple[MappingRule, SampleInput]], outcome: BatchOutcome) -> None:
    """Through the one ingest service; its refusals (count against the subgroup rules, a
    timestamp in the future, an inactive chart type) are counted, the rest is committed."""
    if not items:
        return
    results = submit_samples([item for _, item in items])
    for (rule, item), result in zip(items, results, strict=True):
        if isinstance(result, ApiError):
            outcome.refused["subgroup_refused"] += 1
            log.warning("mqtt_subgroup_refused", topic=rule.topic,
                        characteristic_id=rule.characteristic_id,
                        values=len(item.measurements or ()), detail=error_text(result))
        else:
            outcome.samples += 1
