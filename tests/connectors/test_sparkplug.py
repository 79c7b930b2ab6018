"""The Sparkplug B codec on hand-made payloads (built field by field with protobuf) and on
payloads produced by pysparkplug, a Sparkplug implementation we did not write."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from openspc.connectors.mqtt import openspc_sparkplug_b_pb2 as pb
from openspc.connectors.mqtt.payloads import PayloadRefused
from openspc.connectors.mqtt.sparkplug import (
    SparkplugTopic,
    decode_payload,
    encode_rebirth_request,
    numeric,
    parse_topic,
    signed,
)
from tests.conftest import require_service


def pysparkplug():
    try:
        import pysparkplug as module
    except ImportError:
        require_service(False, "pysparkplug not installed: pip install --no-deps pysparkplug")
    return module


def test_topics():
    assert parse_topic("spBv1.0/Plant1/DDATA/gw1/plc7") == SparkplugTopic(
        "Plant1", "DDATA", "gw1", "plc7")
    assert parse_topic("spBv1.0/Plant1/NBIRTH/gw1") == SparkplugTopic("Plant1", "NBIRTH", "gw1")
    assert parse_topic("plant/line1/temp") is None
    assert parse_topic("spBv1.0/Plant1/WHATEVER/gw1") is None
    assert parse_topic("spBv1.0/Plant1") is None


def _metric(payload, datatype, field, value, **fields):
    metric = payload.metrics.add(datatype=datatype, **fields)
    setattr(metric, field, value)
    return metric


def test_signed_integers_come_back_negative():
    payload = pb.Payload(timestamp=1_700_000_000_000, seq=0)
    _metric(payload, pb.Int8, "int_value", 0xFF, name="i8")  # -1
    _metric(payload, pb.Int16, "int_value", 0x8000, name="i16")  # -32768
    _metric(payload, pb.Int32, "int_value", (1 << 32) - 7, name="i32")  # -7
    _metric(payload, pb.Int64, "long_value", (1 << 64) - 2, name="i64")  # -2
    _metric(payload, pb.UInt32, "int_value", (1 << 32) - 7, name="u32")
    _metric(payload, pb.Int32, "int_value", 42, name="positive")
    decoded = decode_payload(payload.SerializeToString())
    assert [(m.name, m.value) for m in decoded.metrics] == [
        ("i8", -1), ("i16", -32768), ("i32", -7), ("i64", -2), ("u32", 4294967289),
        ("positive", 42)]
    assert decoded.seq == 0, "seq 0 is a sequence number, not absent"
    assert decoded.timestamp == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def test_aliases_nulls_and_historical_metrics_are_kept():
    payload = pb.Payload(seq=5)
    _metric(payload, pb.Double, "double_value", 1.25, alias=12, timestamp=1_000,
            is_historical=True)
    payload.metrics.add(name="gone", datatype=pb.Float, is_null=True)
    only_alias, null = decode_payload(payload.SerializeToString()).metrics
    assert (only_alias.name, only_alias.alias, only_alias.value, only_alias.is_historical,
            only_alias.timestamp) == (None, 12, 1.25, True, datetime(1970, 1, 1, 0, 0, 1,
                                                                      tzinfo=UTC))
    assert (null.value, null.is_null) == (None, True)


def test_numeric_refuses_what_is_not_a_measurement():
    assert numeric(True, pb.Boolean) == 1.0
    assert numeric(-7, pb.Int32) == -7.0
    for value, datatype, reason in [("12", pb.String, "wrong_type"),
                                    (float("nan"), pb.Double, "non_finite"),
                                    (float("inf"), pb.Float, "non_finite"),
                                    (None, pb.Double, "missing_value")]:
        with pytest.raises(PayloadRefused) as refused:
            numeric(value, datatype)
        assert refused.value.reason == reason


def test_garbage_is_undecodable():
    with pytest.raises(PayloadRefused) as refused:
        decode_payload(b"\xff\xff\xff\xff not protobuf")
    assert refused.value.reason == "undecodable"


def test_rebirth_request_is_a_boolean_node_control_metric():
    request = pb.Payload()
    request.ParseFromString(encode_rebirth_request(1_700_000_000_000))
    (metric,) = request.metrics
    assert (metric.name, metric.datatype, metric.boolean_value) == (
        "Node Control/Rebirth", pb.Boolean, True)


def test_payloads_of_an_independent_implementation():
    spb = pysparkplug()
    birth = spb.DBirth(timestamp=1_700_000_000_000, seq=1, metrics=(
        spb.Metric(timestamp=1_700_000_000_000, name="Temperature", alias=3,
                   datatype=spb.DataType.DOUBLE, value=21.5),
        spb.Metric(timestamp=1_700_000_000_000, name="Offset", alias=4,
                   datatype=spb.DataType.INT16, value=-300),
        spb.Metric(timestamp=1_700_000_000_000, name="Running", alias=5,
                   datatype=spb.DataType.BOOLEAN, value=True),
    ))
    decoded = decode_payload(birth.encode())
    assert decoded.seq == 1
    assert [(m.name, m.alias, m.value) for m in decoded.metrics] == [
        ("Temperature", 3, 21.5), ("Offset", 4, -300), ("Running", 5, True)]
    data = spb.DData(timestamp=1_700_000_001_000, seq=2, metrics=(
        spb.Metric(timestamp=1_700_000_001_000, name=None, alias=4,
                   datatype=spb.DataType.INT16, value=-12),))
    (metric,) = decode_payload(data.encode()).metrics
    assert (metric.name, metric.alias) == (None, 4)
    # pysparkplug sends no datatype with an alias: the host applies the BIRTH's
    assert signed(metric.value, pb.Int16) == -12
