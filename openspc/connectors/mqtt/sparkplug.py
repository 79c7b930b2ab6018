"""Sparkplug B (3.0) codec: topics, payloads and metric values. Pure functions.

The payload schema is our own ``proto/sparkplug_b.proto``, wire-compatible with Eclipse
Tahu's, compiled to ``openspc_sparkplug_b_pb2``. Values are read as the specification says and the
reference did not (integration.md §6, §11.2 G-5): signed integer types come off the wire as
unsigned two's complement and are converted back, aliases are kept for the host session to
resolve, ``seq`` 0 is a sequence number and not "absent", and metric timestamps are kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import DecodeError

from openspc.connectors.mqtt import openspc_sparkplug_b_pb2 as pb
from openspc.connectors.mqtt.payloads import PayloadRefused

NAMESPACE = "spBv1.0"
MESSAGE_TYPES = ("NBIRTH", "NDEATH", "NDATA", "NCMD", "DBIRTH", "DDEATH", "DDATA", "DCMD",
                 "STATE")
REBIRTH_METRIC = "Node Control/Rebirth"
BDSEQ_METRIC = "bdSeq"

_SIGNED_BITS = {pb.Int8: 8, pb.Int16: 16, pb.Int32: 32, pb.Int64: 64}
_NUMERIC = {pb.Int8, pb.Int16, pb.Int32, pb.Int64, pb.UInt8, pb.UInt16, pb.UInt32, pb.UInt64,
            pb.Float, pb.Double, pb.Boolean}


@dataclass(frozen=True)
class SparkplugTopic:
    group: str
    message_type: str
    edge_node: str
    device: str | None = None

    @property
    def node_key(self) -> tuple[str, str]:
        return self.group, self.edge_node


@dataclass(frozen=True)
class Metric:
    name: str | None
    alias: int | None
    datatype: int
    value: Any
    timestamp: datetime | None = None
    is_historical: bool = False
    is_null: bool = False


@dataclass(frozen=True)
class Payload:
    timestamp: datetime | None
    seq: int | None
    metrics: list[Metric]


def parse_topic(topic: str) -> SparkplugTopic | None:
    """``spBv1.0/{group}/{type}/{edge node}[/{device}]``, or None for any other topic."""
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != NAMESPACE or parts[2] not in MESSAGE_TYPES:
        return None
    return SparkplugTopic(parts[1], parts[2], parts[3], parts[4] if len(parts) > 4 else None)


def data_type_name(code: int) -> str:
    try:
        return pb.DataType.Name(code)
    except ValueError:
        return "Unknown"


def _time(milliseconds: int | None) -> datetime | None:
    if not milliseconds:
        return None
    try:
        return datetime.fromtimestamp(milliseconds / 1000.0, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def decode_payload(data: bytes) -> Payload:
    """A Sparkplug B protobuf payload; raises ``PayloadRefused("undecodable", ...)``."""
    message = pb.Payload()
    try:
        message.ParseFromString(data)
    except (DecodeError, ValueError) as error:
        raise PayloadRefused("undecodable", f"not a Sparkplug B payload: {error}") from None
    return Payload(
        timestamp=_time(message.timestamp) if message.HasField("timestamp") else None,
        seq=message.seq if message.HasField("seq") else None,
        metrics=[_metric(m) for m in message.metrics],
    )


def _metric(metric: pb.Payload.Metric) -> Metric:
    return Metric(
        name=metric.name if metric.HasField("name") else None,
        alias=metric.alias if metric.HasField("alias") else None,
        datatype=metric.datatype,
        value=None if metric.is_null else metric_value(metric, metric.datatype),
        timestamp=_time(metric.timestamp) if metric.HasField("timestamp") else None,
        is_historical=metric.is_historical,
        is_null=metric.is_null,
    )


def metric_value(metric: pb.Payload.Metric, datatype: int) -> Any:
    """The metric's value in Python terms; signed integers converted from two's complement.

    ``datatype`` is passed separately because DATA messages may omit it: the host takes it
    from the BIRTH's alias table."""
    kind = metric.WhichOneof("value")
    if kind is None:
        return None
    if kind in ("dataset_value", "template_value", "extension_value"):
        return None
    return signed(getattr(metric, kind), datatype)


def signed(value: Any, datatype: int) -> Any:
    """``value`` of a signed integer type read back from its unsigned wire form (two's
    complement in the type's width); other values unchanged. Idempotent, so a host may apply
    it again with the datatype a BIRTH announced when a DATA message omitted it."""
    bits = _SIGNED_BITS.get(datatype)
    if bits is None or not isinstance(value, int) or isinstance(value, bool):
        return value
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def numeric(value: Any, datatype: int) -> float:
    """A metric value as a measurement: numbers and booleans; refuse everything else."""
    if datatype not in _NUMERIC and datatype != pb.Unknown:
        raise PayloadRefused("wrong_type", f"metric of type {data_type_name(datatype)} "
                                           "is not a measurement")
    if value is None:
        raise PayloadRefused("missing_value", "metric has no value (null)")
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if not isinstance(value, int | float):
        raise PayloadRefused("wrong_type", f"metric value {value!r} is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise PayloadRefused("non_finite", f"metric value {value!r} is not finite")
    return number


def encode_rebirth_request(timestamp_ms: int) -> bytes:
    """The NCMD payload asking an edge node to publish its BIRTH certificates again."""
    message = pb.Payload(timestamp=timestamp_ms)
    metric = message.metrics.add()
    metric.name = REBIRTH_METRIC
    metric.timestamp = timestamp_ms
    metric.datatype = pb.Boolean
    metric.boolean_value = True
    return message.SerializeToString()


def rebirth_topic(group: str, edge_node: str) -> str:
    return f"{NAMESPACE}/{group}/NCMD/{edge_node}"


def state_topic(host_id: str) -> str:
    return f"{NAMESPACE}/STATE/{host_id}"


def encode_state(online: bool, timestamp_ms: int) -> bytes:
    """Sparkplug 3.0 host STATE payload (JSON, published retained at QoS 1)."""
    return (f'{{"online":{"true" if online else "false"},"timestamp":{timestamp_ms}}}'
            ).encode()
