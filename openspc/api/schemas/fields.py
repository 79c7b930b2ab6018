"""Fields shared by the schemas: lax integers and datetimes as the reference reads them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError, fields

from openspc.api.errors import bounded
from openspc.api.validation import DateTime
from openspc.spc.variables import whole_or_real

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


class Size(fields.Float):
    """A sample size: whole units inspected (p, np) or inspection units, a positive real
    (u: area, length, time). Written as an int when whole, as the reference wrote sizes."""

    def __init__(self, **kwargs: Any):
        super().__init__(allow_nan=False, **kwargs)

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> float | None:
        return None if value is None else whole_or_real(value)


class TaggedUnion(fields.Field):
    """A pydantic discriminated union: the ``tag`` key picks the schema (api.md §S config).

    The tag is required (422 ``union_tag_not_found``) and must be one of ``choices``
    (``union_tag_invalid``); a member's own errors are reported under the tag, as pydantic's
    ``loc`` does (``["body", "config", "MANUAL", "schedule"]``).
    """

    def __init__(self, tag: str, choices: dict[str, type], **kwargs: Any):
        super().__init__(**kwargs)
        self.tag = tag
        self.choices = choices

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict:
        if not isinstance(value, dict):
            raise ValidationError("Input should be a valid dictionary")
        if self.tag not in value:
            raise ValidationError(f"Unable to extract tag using discriminator '{self.tag}'")
        kind = value[self.tag]
        if not isinstance(kind, str) or kind not in self.choices:
            expected = ", ".join(f"'{choice}'" for choice in self.choices)
            raise ValidationError(
                f"Input tag '{bounded(kind)}' found using '{self.tag}' does not match any of the "
                f"expected tags: {expected}"
            )
        try:
            return self.choices[kind]().load(value)
        except ValidationError as error:
            raise ValidationError({kind: error.messages}) from None

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        return self.choices[value[self.tag]]().dump(value)
