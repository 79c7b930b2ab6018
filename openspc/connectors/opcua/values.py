"""From an OPC-UA DataValue to a measurement, or to the reason it is refused.

Pure: no session, no database. Numbers and booleans (as 1.0/0.0) are measurements; a value
whose StatusCode is not Good is refused, never stored (the reference accepted Bad quality,
integration.md §7.4); the time is the SourceTimestamp, else the ServerTimestamp, else None
(the caller uses its arrival time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asyncua import ua

BAD_QUALITY = "bad_quality"
UNCERTAIN_QUALITY = "uncertain_quality"
NO_VALUE = "no_value"
NOT_NUMERIC = "not_numeric"
NOT_FINITE = "not_finite"
REFUSALS = (BAD_QUALITY, UNCERTAIN_QUALITY, NO_VALUE, NOT_NUMERIC, NOT_FINITE)


@dataclass(frozen=True, slots=True)
class Decoded:
    """A measurement (``refused`` None) or a refusal with its reason and the status text."""

    value: float | None
    timestamp: datetime | None
    refused: str | None = None
    status: str = "Good"


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def decode(data: ua.DataValue) -> Decoded:
    status = data.StatusCode or ua.StatusCode(ua.StatusCodes.Good)
    timestamp = _aware(data.SourceTimestamp) or _aware(data.ServerTimestamp)
    if not status.is_good():
        reason = UNCERTAIN_QUALITY if status.is_uncertain() else BAD_QUALITY
        return Decoded(None, timestamp, reason, status.name)
    return decode_value(data.Value.Value if data.Value is not None else None, timestamp)


def decode_value(value: Any, timestamp: datetime | None) -> Decoded:
    if value is None:
        return Decoded(None, timestamp, NO_VALUE)
    if isinstance(value, bool):
        return Decoded(1.0 if value else 0.0, timestamp)
    if not isinstance(value, int | float):
        return Decoded(None, timestamp, NOT_NUMERIC)
    number = float(value)
    if not math.isfinite(number):
        return Decoded(None, timestamp, NOT_FINITE)
    return Decoded(number, timestamp)
