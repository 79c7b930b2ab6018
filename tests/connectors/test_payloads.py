"""The JSON / plain payload codec on hand-made payloads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from openspc.connectors.mqtt.payloads import PayloadRefused, Reading, decode_readings


@pytest.mark.parametrize("payload, expected", [
    (b"12.5", [Reading(12.5)]),
    (b"  -3\n", [Reading(-3.0)]),
    (b"+5", [Reading(5.0)]),
    (b"1e3", [Reading(1000.0)]),
    (b'{"value": 7.25}', [Reading(7.25)]),
    (b"[1, 2.5, 3]", [Reading(1.0), Reading(2.5), Reading(3.0)]),
])
def test_numbers(payload, expected):
    assert decode_readings(payload) == expected


def test_value_path_and_device_timestamp():
    payload = b'{"data": {"temp": 21.5, "unit": "C"}, "ts": "2026-03-01T08:00:00+01:00"}'
    assert decode_readings(payload, "data.temp", "ts") == [
        Reading(21.5, datetime(2026, 3, 1, 7, 0, tzinfo=UTC))]
    in_ms = b'{"v": 1.5, "t": 1700000000500}'
    assert decode_readings(in_ms, "v", "t") == [
        Reading(1.5, datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC))]
    in_s = b'[{"v": 1, "t": 1700000000}, {"v": 2, "t": 1700000001}]'
    assert [r.timestamp.second for r in decode_readings(in_s, "v", "t")] == [20, 21]


@pytest.mark.parametrize("payload, path, reason", [
    (b"NaN", None, "non_finite"),
    (b"nan", None, "non_finite"),
    (b"inf", None, "non_finite"),
    (b'{"value": Infinity}', None, "non_finite"),
    (b"[1, NaN]", None, "non_finite"),
    (b"1e999", None, "non_finite"),
    (b'{"value": true}', None, "wrong_type"),
    (b'{"value": "12"}', None, "wrong_type"),
    (b"true", None, "wrong_type"),
    (b'{"temp": 1}', None, "missing_value"),
    (b'{"data": 5}', "data.temp", "missing_value"),
    (b"[]", None, "missing_value"),
    (b"", None, "undecodable"),
    (b"hello", None, "undecodable"),
    (b"\xff\xfe", None, "undecodable"),
])
def test_refusals_carry_their_reason(payload, path, reason):
    with pytest.raises(PayloadRefused) as refused:
        decode_readings(payload, path)
    assert refused.value.reason == reason


def test_a_bad_timestamp_is_refused():
    with pytest.raises(PayloadRefused) as refused:
        decode_readings(b'{"value": 1, "ts": "yesterday"}', None, "ts")
    assert refused.value.reason == "wrong_type"
