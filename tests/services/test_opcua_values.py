"""The OPC-UA value codec: which DataValues become measurements, and why others are refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from asyncua import ua

from openspc.connectors.opcua.values import decode

SOURCE = datetime(2026, 3, 1, 8, 0, 0, 250000)
SERVER = datetime(2026, 3, 1, 8, 0, 1)


def data(value, kind, status=ua.StatusCodes.Good, source=SOURCE, server=SERVER):
    return ua.DataValue(ua.Variant(value, kind), StatusCode=ua.StatusCode(status),
                        SourceTimestamp=source, ServerTimestamp=server)


@pytest.mark.parametrize("value,kind,expected", [
    (12.5, ua.VariantType.Double, 12.5),
    (1.25, ua.VariantType.Float, 1.25),
    (-7, ua.VariantType.Int32, -7.0),
    (2**40, ua.VariantType.UInt64, float(2**40)),
    (True, ua.VariantType.Boolean, 1.0),
    (False, ua.VariantType.Boolean, 0.0),
])
def test_numbers_and_booleans_are_measurements_at_the_source_time(value, kind, expected):
    decoded = decode(data(value, kind))
    assert (decoded.value, decoded.refused) == (expected, None)
    assert decoded.timestamp == SOURCE.replace(tzinfo=UTC)


def test_the_server_time_stands_in_for_a_missing_source_time():
    decoded = decode(data(1.0, ua.VariantType.Double, source=None))
    assert decoded.timestamp == SERVER.replace(tzinfo=UTC)
    assert decode(data(1.0, ua.VariantType.Double, source=None, server=None)).timestamp is None


@pytest.mark.parametrize("status,reason", [
    (ua.StatusCodes.BadSensorFailure, "bad_quality"),
    (ua.StatusCodes.BadCommunicationError, "bad_quality"),
    (ua.StatusCodes.UncertainLastUsableValue, "uncertain_quality"),
    (ua.StatusCodes.UncertainSensorNotAccurate, "uncertain_quality"),
])
def test_values_not_of_good_quality_are_refused(status, reason):
    decoded = decode(data(10.0, ua.VariantType.Double, status=status))
    assert (decoded.value, decoded.refused) == (None, reason)
    assert decoded.status == ua.StatusCode(status).name


@pytest.mark.parametrize("value,kind,reason", [
    ("12.5", ua.VariantType.String, "not_numeric"),
    ([1.0, 2.0], ua.VariantType.Double, "not_numeric"),
    (float("nan"), ua.VariantType.Double, "not_finite"),
    (float("inf"), ua.VariantType.Double, "not_finite"),
    (None, ua.VariantType.Null, "no_value"),
])
def test_values_that_are_not_one_finite_number_are_refused(value, kind, reason):
    assert decode(data(value, kind)).refused == reason
