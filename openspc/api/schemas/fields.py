"""Fields shared by the schemas: lax integers and datetimes as the reference reads them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError, fields

from openspc.api.validation import DateTime

INVALID_DATETIME = "Input should be a valid datetime"


class Timestamp(DateTime):
    """An aware UTC datetime in and out (api.md §0 "Datetimes").

    Input: ISO-8601 with or without offset (no offset means UTC) or epoch seconds, as pydantic
    accepts, always returned aware so that values compare safely. Output: ``...Z``.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if isinstance(value, bool):
            raise ValidationError(INVALID_DATETIME)
        try:
            if isinstance(value, int | float):
                return datetime.fromtimestamp(value, UTC)
            if isinstance(value, str):
                parsed = datetime.fromisoformat(value.strip())
                if parsed.tzinfo is None:
                    return parsed.replace(tzinfo=UTC)
                return parsed.astimezone(UTC)
        except (ValueError, OverflowError, OSError):
            pass
        raise ValidationError(INVALID_DATETIME)


class Int(fields.Integer):
    """An integer as pydantic's lax mode reads one: ``5``, ``5.0`` and ``"5"`` pass, ``5.5``
    is refused (marshmallow's own Integer would silently truncate it)."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, float) and not value.is_integer():
            raise ValidationError(
                "Input should be a valid integer, got a number with a fractional part"
            )
        return super()._validated(value)
