"""Plain and JSON MQTT payloads -> readings: a pure codec, no broker, no database.

What a mapping accepts (configuration, not code, as Home Assistant's value templates):

- a plain number (``"12.5"``, surrounding blanks allowed);
- a JSON number;
- a JSON object: the value at ``value_path`` (a field name or a dotted path such as
  ``"data.temp"``, default ``"value"``), and optionally the device's timestamp at
  ``timestamp_path`` (ISO-8601, or epoch seconds / milliseconds);
- a JSON array: several readings, each element a number or an object read as above.

Anything else is refused with a reason (``undecodable``, ``wrong_type``, ``non_finite``,
``missing_value``) that the listener counts per mapping and logs with the topic: NaN and the
infinities never reach the SPC math (integration.md §11.2 G-6), and neither do booleans or
strings, which are not measurements.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DEFAULT_VALUE_PATH = "value"
EPOCH_MS_ABOVE = 1e11
"""An epoch number above this is milliseconds (1e11 s is in the year 5138)."""


@dataclass(frozen=True)
class Reading:
    value: float
    timestamp: datetime | None = None


class PayloadRefused(Exception):
    """A payload that yields no measurement; ``reason`` is the counter it goes to."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def decode_readings(payload: bytes, value_path: str | None = None,
                    timestamp_path: str | None = None) -> list[Reading]:
    """The readings of one message, in payload order; raises ``PayloadRefused``."""
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise PayloadRefused("undecodable", "payload is not UTF-8 text") from None
    if not text:
        raise PayloadRefused("undecodable", "empty payload")
    try:
        document = json.loads(text, parse_constant=_non_finite_constant)
    except _NonFinite:
        raise PayloadRefused("non_finite", "payload holds NaN or an infinity") from None
    except ValueError:
        return [Reading(_plain_number(text))]
    if isinstance(document, list):
        if not document:
            raise PayloadRefused("missing_value", "empty JSON array")
        return [_reading(item, value_path, timestamp_path) for item in document]
    return [_reading(document, value_path, timestamp_path)]


class _NonFinite(ValueError):
    pass


def _non_finite_constant(name: str) -> float:
    raise _NonFinite(name)


def _plain_number(text: str) -> float:
    """Text that JSON refuses but is a number all the same (``+5``, ``.5``, ``nan``)."""
    try:
        number = float(text)
    except ValueError:
        raise PayloadRefused("undecodable", f"payload is neither a number nor JSON: {text[:80]!r}"
                             ) from None
    if not math.isfinite(number):
        raise PayloadRefused("non_finite", f"value {text!r} is not finite")
    return number


def _reading(item: Any, value_path: str | None, timestamp_path: str | None) -> Reading:
    if isinstance(item, dict):
        value = _at_path(item, value_path or DEFAULT_VALUE_PATH)
        timestamp = None
        if timestamp_path:
            raw = _at_path(item, timestamp_path, what="timestamp")
            timestamp = parse_timestamp(raw)
        return Reading(measurement(value), timestamp)
    return Reading(measurement(item))


def _at_path(document: dict, path: str, what: str = "value") -> Any:
    node: Any = document
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            raise PayloadRefused("missing_value", f"no {what} at path {path!r}")
        node = node[key]
    return node


def measurement(value: Any) -> float:
    """A JSON value as a measurement: a finite number, nothing else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadRefused("wrong_type", f"value {value!r} is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise PayloadRefused("non_finite", f"value {value!r} is not finite")
    return number


def parse_timestamp(raw: Any) -> datetime:
    """ISO-8601 text (no offset = UTC) or an epoch number (seconds, or milliseconds)."""
    try:
        if isinstance(raw, bool):
            raise ValueError
        if isinstance(raw, int | float):
            seconds = raw / 1000.0 if raw > EPOCH_MS_ABOVE else float(raw)
            return datetime.fromtimestamp(seconds, UTC)
        if isinstance(raw, str):
            parsed = datetime.fromisoformat(raw.strip())
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        pass
    raise PayloadRefused("wrong_type", f"timestamp {raw!r} is neither ISO-8601 nor epoch")


def preview_value(payload: bytes) -> float | bool | str:
    """How ``POST /tags/preview`` shows a non-Sparkplug payload (api.md TagPreviewValue): a
    number if it parses, else ``true``/``false``, else the first 200 characters."""
    text = payload.decode("utf-8", errors="replace").strip()
    try:
        number = float(text)
        if math.isfinite(number):
            return number
    except ValueError:
        pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text[:200]
