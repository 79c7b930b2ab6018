"""MQTT batches into samples (openspc.services.mqtt_ingest), without a broker: routing with
wildcards, the three trigger strategies, partial subgroups kept in the database, refusals
counted, and redeliveries stored once."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from openspc.connectors.mqtt.sparkplug_host import SparkplugHost
from openspc.extensions import db
from openspc.models import MqttBroker, MqttDataSource, Sample
from openspc.models.connectivity import MqttPartialSubgroup
from openspc.services.mqtt_ingest import (
    Message,
    close_due_timers,
    ingest_messages,
    load_rules,
    subscriptions,
)


@pytest.fixture
def broker(app):
    row = MqttBroker(name="B", host="localhost", client_id="c")
    db.session.add(row)
    db.session.commit()
    return row


def mapped(factory, broker, topic: str, subgroup_size: int = 1, **fields):
    char = factory.characteristic(subgroup_size=subgroup_size)
    db.session.add(MqttDataSource(characteristic_id=char.id, broker_id=broker.id, topic=topic,
                                  **fields))
    db.session.commit()
    return char


def ingest(broker, *messages: Message):
    return ingest_messages(broker.id, load_rules(broker.id), list(messages), SparkplugHost(),
                           time.monotonic())


def subgroups(char) -> list[list[float]]:
    db.session.expire_all()
    rows = db.session.execute(sa.select(Sample).where(Sample.char_id == char.id)
                              .order_by(Sample.id)).scalars().all()
    return [sorted(m.value for m in row.measurements) for row in rows]


def buffered(char) -> list[float]:
    db.session.expire_all()
    row = db.session.execute(
        sa.select(MqttPartialSubgroup).join(
            MqttDataSource, MqttDataSource.id == MqttPartialSubgroup.data_source_id)
        .where(MqttDataSource.characteristic_id == char.id)).scalar()
    return [] if row is None else [value for value, _ in row.readings]


def test_wildcards_route_and_each_mapping_gets_its_broker_topics(factory, broker):
    line = mapped(factory, broker, "plant/+/temp")
    everything = mapped(factory, broker, "plant/#")
    outcome = ingest(broker, Message("plant/l1/temp", b"20.5"), Message("plant/l2/temp", b"21"),
                     Message("plant/l1/pressure", b"3"), Message("other/x", b"1"))
    assert subgroups(line) == [[20.5], [21.0]]
    assert subgroups(everything) == [[20.5], [21.0], [3.0]]
    assert (outcome.samples, outcome.refused["unmapped"]) == (5, 1)
    assert subscriptions(load_rules(broker.id)) == ["plant/#", "plant/+/temp"]


def test_on_change_closes_at_the_subgroup_size_and_keeps_the_rest(factory, broker):
    char = mapped(factory, broker, "cell/d", subgroup_size=3)
    ingest(broker, *[Message("cell/d", str(v).encode()) for v in (1, 2, 3, 4)])
    assert (subgroups(char), buffered(char)) == ([[1.0, 2.0, 3.0]], [4.0])
    ingest(broker, Message("cell/d", b"[5, 6, 7]"))
    assert (subgroups(char), buffered(char)) == ([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], [7.0])


def test_on_trigger_closes_on_the_trigger_topic_and_refuses_a_wrong_count(factory, broker):
    char = mapped(factory, broker, "cell/d", subgroup_size=3, trigger_strategy="on_trigger",
                  trigger_tag="cell/done")
    ingest(broker, Message("cell/d", b"1"), Message("cell/d", b"2"), Message("cell/d", b"3"),
           Message("cell/done", b"x"))
    assert (subgroups(char), buffered(char)) == ([[1.0, 2.0, 3.0]], [])
    outcome = ingest(broker, *[Message("cell/d", str(v).encode()) for v in range(4)],
                     Message("cell/done", b""))
    assert outcome.refused["subgroup_refused"] == 1, "4 values for a subgroup of 3"
    assert (subgroups(char), buffered(char)) == ([[1.0, 2.0, 3.0]], [])
    assert subscriptions(load_rules(broker.id)) == ["cell/d", "cell/done"]


def test_on_timer_closes_after_its_period(factory, broker):
    char = mapped(factory, broker, "cell/d", subgroup_size=5, trigger_strategy="on_timer",
                  timer_ms=300)
    ingest(broker, Message("cell/d", b"1"), Message("cell/d", b"2"))
    rules = load_rules(broker.id)
    assert close_due_timers(rules).samples == 0
    time.sleep(0.35)
    assert close_due_timers(rules).samples == 1
    assert (subgroups(char), buffered(char)) == ([[1.0, 2.0]], [])


def test_a_redelivery_of_a_committed_message_stores_nothing(factory, broker):
    char = mapped(factory, broker, "line/load")
    ingest(broker, Message("line/load", b"12.5", packet_id=7))
    again = ingest(broker, Message("line/load", b"12.5", packet_id=7, dup=True))
    assert (again.duplicates, subgroups(char)) == (1, [[12.5]])
    # the same packet id reused for a new message (the broker freed it): stored
    ingest(broker, Message("line/load", b"12.5", packet_id=7))
    # a DUP whose content differs from what was committed under its id: stored
    ingest(broker, Message("line/load", b"13.5", packet_id=8, dup=True))
    assert subgroups(char) == [[12.5], [12.5], [13.5]]


def test_refusals_are_counted_and_store_nothing(factory, broker):
    char = mapped(factory, broker, "line/+")
    outcome = ingest(broker, Message("line/a", b"NaN"), Message("line/b", b"{}"),
                     Message("line/c", b"text"), Message("line/d", b"true"))
    assert dict(outcome.refused) == {"non_finite": 1, "missing_value": 1, "undecodable": 1,
                                     "wrong_type": 1}
    assert subgroups(char) == []


def test_sparkplug_sessions_survive_a_restart(factory, broker):
    from openspc.connectors.mqtt import openspc_sparkplug_b_pb2 as pb
    from openspc.services.mqtt_ingest import load_sparkplug_host

    char = mapped(factory, broker, "spBv1.0/G/DDATA/edge/dev", metric_name="Temp")

    def payload(seq, **metric):
        message = pb.Payload(seq=seq)
        message.metrics.add(**metric)
        return message.SerializeToString()

    rules = load_rules(broker.id)
    before = SparkplugHost()
    ingest_messages(broker.id, rules, [
        Message("spBv1.0/G/NBIRTH/edge", payload(0, name="bdSeq", datatype=pb.Int64,
                                                  long_value=3)),
        Message("spBv1.0/G/DBIRTH/edge/dev", payload(1, name="Temp", alias=5,
                                                      datatype=pb.Int32, int_value=1))],
        before, time.monotonic())
    restarted = load_sparkplug_host(broker.id)  # a new listener process
    outcome = ingest_messages(broker.id, rules, [
        Message("spBv1.0/G/DDATA/edge/dev", payload(2, alias=5, int_value=(1 << 32) - 9))],
        restarted, time.monotonic())
    assert (outcome.rebirths, dict(outcome.refused)) == ([], {})
    assert subgroups(char) == [[-9.0]], "alias and Int32 datatype known after the restart"
