"""The Sparkplug host session's rules on hand-made message sequences."""

from __future__ import annotations

from openspc.connectors.mqtt import openspc_sparkplug_b_pb2 as pb
from openspc.connectors.mqtt.sparkplug import Metric, Payload, parse_topic
from openspc.connectors.mqtt.sparkplug_host import REBIRTH_INTERVAL, SparkplugHost

NODE = "spBv1.0/G/{}/edge"
DEVICE = "spBv1.0/G/{}/edge/dev"


def send(host, topic, seq, *metrics, now=0.0):
    return host.receive(parse_topic(topic), Payload(None, seq, list(metrics)), now)


def metric(name=None, alias=None, datatype=0, value=None):
    return Metric(name, alias, datatype, value)


def born(bd_seq=0):
    host = SparkplugHost()
    send(host, NODE.format("NBIRTH"), 0, metric("bdSeq", None, pb.Int64, bd_seq))
    send(host, DEVICE.format("DBIRTH"), 1, metric("Temp", 1, pb.Float, 20.0),
         metric("Delta", 2, pb.Int32, 0))
    return host


def test_aliases_resolve_with_the_birth_datatype():
    host = born()
    result = send(host, DEVICE.format("DDATA"), 2, metric(alias=2, value=(1 << 32) - 4),
                  metric(alias=1, value=21.5))
    assert [(m.name, m.value) for m in result.metrics] == [("Delta", -4), ("Temp", 21.5)]
    assert (result.rebirth, result.refusals) == (False, [])


def test_a_seq_gap_asks_for_a_rebirth_once_per_interval():
    host = born()
    gap = send(host, DEVICE.format("DDATA"), 5, metric(alias=1, value=1.0), now=100.0)
    assert gap.rebirth and [r for r, _ in gap.refusals] == ["seq_gap"]
    assert [m.value for m in gap.metrics] == [1.0], "the message's own values are valid"
    again = send(host, DEVICE.format("DDATA"), 9, metric(alias=1, value=2.0), now=101.0)
    assert not again.rebirth
    later = send(host, DEVICE.format("DDATA"), 20, now=101.0 + REBIRTH_INTERVAL)
    assert later.rebirth


def test_seq_wraps_after_255():
    host = born()
    for seq in range(2, 256):
        assert not send(host, NODE.format("NDATA"), seq).refusals
    assert not send(host, NODE.format("NDATA"), 0).refusals


def test_data_before_birth_and_unknown_alias_ask_for_a_rebirth():
    host = SparkplugHost()
    early = send(host, DEVICE.format("DDATA"), 3, metric(alias=1, value=1.0))
    assert early.rebirth and early.refusals[0][0] == "data_before_birth" and not early.metrics
    host = born()
    unknown = send(host, DEVICE.format("DDATA"), 2, metric(alias=99, value=1.0), now=50.0)
    assert unknown.rebirth and unknown.refusals[0][0] == "unknown_alias"


def test_ndeath_counts_only_with_its_births_bdseq():
    host = born(bd_seq=4)
    send(host, NODE.format("NDEATH"), None, metric("bdSeq", None, pb.Int64, 3))
    assert host.stale() == []
    send(host, NODE.format("NDEATH"), None, metric("bdSeq", None, pb.Int64, 4))
    assert host.stale() == ["G/edge", "G/edge/dev"]
    stale = send(host, DEVICE.format("DDATA"), 2, metric(alias=1, value=1.0))
    assert stale.refusals[0][0] == "data_before_birth"


def test_ddeath_marks_the_device_stale():
    host = born()
    send(host, DEVICE.format("DDEATH"), 2)
    assert host.stale() == ["G/edge/dev"]
