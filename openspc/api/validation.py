"""Marshmallow validation errors in the reference's 422 shape (pydantic's error items).

The reference client shows ``loc.join('.') + ": " + msg``, so the messages are pydantic's own
texts; the ``type`` of each item is recovered from the message it carries.
"""

from __future__ import annotations

import math
import re
from datetime import UTC
from typing import Any

from marshmallow import EXCLUDE, ValidationError, fields, validate, validates_schema
from marshmallow import Schema as _Schema

_LOCATIONS = {"json": "body", "query": "query", "view_args": "path", "path": "path",
              "headers": "header", "cookies": "cookie", "form": "body"}

# Pydantic's texts for the errors marshmallow can raise, with the pydantic ``type`` they map to.
_TYPES = [
    (re.compile(r"^Field required$"), "missing"),
    (re.compile(r"^Input should be a valid integer"), "int_parsing"),
    (re.compile(r"^Input should be a valid number"), "float_parsing"),
    (re.compile(r"^Input should be a finite number"), "finite_number"),
    (re.compile(r"^Input should be a valid boolean"), "bool_parsing"),
    (re.compile(r"^Input should be a valid string"), "string_type"),
    (re.compile(r"^Input should be a valid list"), "list_type"),
    (re.compile(r"^Input should be a valid dictionary"), "dict_type"),
    (re.compile(r"^Input should be a valid datetime"), "datetime_from_date_parsing"),
    (re.compile(r"^Input should be in the future"), "datetime_future"),
    (re.compile(r"^Input should be greater than or equal to"), "greater_than_equal"),
    (re.compile(r"^Input should be less than or equal to"), "less_than_equal"),
    (re.compile(r"^Input should be greater than"), "greater_than"),
    (re.compile(r"^Input should be less than"), "less_than"),
    (re.compile(r"^String should have at least"), "string_too_short"),
    (re.compile(r"^String should have at most"), "string_too_long"),
    (re.compile(r"^String should match pattern"), "string_pattern_mismatch"),
    (re.compile(r"^List should have at least"), "too_short"),
    (re.compile(r"^List should have at most"), "too_long"),
    (re.compile(r"^Input should be '"), "enum"),
    (re.compile(r"^Input should not be null"), "none_forbidden"),
    (re.compile(r"^Input should be a valid decimal"), "decimal_parsing"),
    (re.compile(r"^Extra inputs are not permitted"), "extra_forbidden"),
    (re.compile(r"^Unable to extract tag using discriminator"), "union_tag_not_found"),
    (re.compile(r"^Input tag '.*' found using"), "union_tag_invalid"),
]

fields.Field.default_error_messages.update(
    required="Field required", null="Input should not be null",
    validator_failed="Value error, invalid value",
)
fields.Integer.default_error_messages.update(
    invalid="Input should be a valid integer, unable to parse string as an integer",
)
fields.Float.default_error_messages.update(
    invalid="Input should be a valid number, unable to parse string as a number",
    special="Input should be a finite number",
)
fields.Boolean.default_error_messages.update(
    invalid="Input should be a valid boolean, unable to interpret input",
)
fields.String.default_error_messages.update(invalid="Input should be a valid string")
fields.List.default_error_messages.update(invalid="Input should be a valid list")
fields.Dict.default_error_messages.update(invalid="Input should be a valid dictionary")
fields.DateTime.default_error_messages.update(
    invalid="Input should be a valid datetime", invalid_awareness="Input should be a valid datetime"
)
_Schema.error_messages = {"type": "Input should be a valid dictionary"}


INT_RANGE = (-(2**31), 2**31 - 1)
"""Integers a field declares (ids, counts, sizes, paging): the INTEGER column of every
dialect. Beyond it SQLite raised OverflowError and PostgreSQL "integer out of range"."""

JSON_INT_RANGE = (-(2**63), 2**63 - 1)
"""Integers inside free-form values (plant settings, metadata): what orjson writes."""

NUL_MESSAGE = "Value error, text cannot contain NUL (\\x00) characters"
"""PostgreSQL refuses NUL in text and JSON; it is refused on every dialect alike."""


def range_error(value: int, bounds: tuple[int, int] = INT_RANGE) -> str | None:
    """Pydantic's message for an integer outside ``bounds``, or None when inside."""
    low, high = bounds
    if value > high:
        return f"Input should be less than or equal to {high}"
    if value < low:
        return f"Input should be greater than or equal to {low}"
    return None


def storable_text(value: object) -> bool:
    return not (isinstance(value, str) and "\x00" in value)


class Schema(_Schema):
    """Base schema: unknown fields are ignored, as the reference does.

    Every loaded value is also checked for what no database could store (an integer beyond
    its column, NUL in text), so that no route answers 500 for it: the one place that
    validates those limits, for path (:mod:`openspc.api.routing`), query and body alike.
    """

    class Meta:
        unknown = EXCLUDE
        ordered = True

    @validates_schema
    def _storable(self, data: dict[str, Any], **_kwargs: Any) -> None:
        errors: dict[str, Any] = {}
        for name, value in data.items():
            field = self.fields.get(name)
            if field is None or not _checked(field):
                continue
            bounds = INT_RANGE if _declares_integers(field) else JSON_INT_RANGE
            for path, message in unstorable_values(value, bounds):
                node = errors
                for key in [field.data_key or name, *path]:
                    node = node.setdefault(key, {})
                node.setdefault("_schema", []).append(message)
        if errors:
            raise ValidationError(errors)


def _checked(field: fields.Field) -> bool:
    """Fields whose values are plain data; nested schemas check their own values, and the
    raw items of a batch are checked one by one (each failing alone)."""
    inner = field.inner if isinstance(field, fields.List) else field
    return isinstance(inner, fields.Integer | fields.String | fields.Dict) and not (
        isinstance(field, fields.List) and isinstance(inner, fields.Dict))


def _declares_integers(field: fields.Field) -> bool:
    inner = field.inner if isinstance(field, fields.List) else field
    return isinstance(inner, fields.Integer)


def unstorable_values(value: Any, bounds: tuple[int, int]) -> list[tuple[list[Any], str]]:
    """(path, message) of each integer beyond ``bounds`` and each text with NUL in
    ``value``, walked without recursion (bodies are bounded in depth anyway)."""
    found = []
    stack: list[tuple[Any, list[Any]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, int):
            message = range_error(item, bounds)
            if message:
                found.append((path, message))
        elif isinstance(item, str):
            if not storable_text(item):
                found.append((path, NUL_MESSAGE))
        elif isinstance(item, dict):
            for key, child in item.items():
                if not storable_text(key):
                    found.append((path, NUL_MESSAGE))
                stack.append((child, [*path, key]))
        elif isinstance(item, list | tuple):
            stack.extend((child, [*path, index]) for index, child in enumerate(item))
    return found


class DateTime(fields.DateTime):
    """An ISO-8601 datetime; output as aware UTC with ``Z``, as pydantic writes model fields.

    Input with no offset is taken as UTC (the database type stores UTC).
    """

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class FiniteFloat(fields.Float):
    """A float written as ``null`` when it is not finite: JSON has no NaN or Infinity, and a
    quarantined sample (openspc.models.sample.QUARANTINED) may hold such values."""

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> float | None:
        number = super()._serialize(value, attr, obj, **kwargs)
        return number if number is None or math.isfinite(number) else None


class Range(validate.Validator):
    """Numeric bounds with pydantic's messages (``ge``/``le`` or strict ``gt``/``lt``)."""

    def __init__(self, min: float | None = None, max: float | None = None,
                 min_inclusive: bool = True, max_inclusive: bool = True):
        self.min, self.max = min, max
        self.min_inclusive, self.max_inclusive = min_inclusive, max_inclusive

    def __call__(self, value: Any) -> Any:
        below = self.min is not None and (
            value < self.min or (value == self.min and not self.min_inclusive)
        )
        above = self.max is not None and (
            value > self.max or (value == self.max and not self.max_inclusive)
        )
        if below:
            op = "greater than or equal to" if self.min_inclusive else "greater than"
            raise validate.ValidationError(f"Input should be {op} {self.min}")
        if above:
            op = "less than or equal to" if self.max_inclusive else "less than"
            raise validate.ValidationError(f"Input should be {op} {self.max}")
        return value


class Length(validate.Length):
    """String or list length with pydantic's messages.

    A ``validate.Length`` so that apispec documents it as minLength/maxItems (as a plain
    validator with ``min``/``max`` it was taken for a numeric range, which breaks on lists).
    """

    def __init__(self, min: int | None = None, max: int | None = None):
        super().__init__(min=min, max=max)

    def __call__(self, value: Any) -> Any:
        size = len(value)
        if isinstance(value, str):
            if self.min is not None and size < self.min:
                unit = "character" if self.min == 1 else "characters"
                raise validate.ValidationError(f"String should have at least {self.min} {unit}")
            if self.max is not None and size > self.max:
                unit = "character" if self.max == 1 else "characters"
                raise validate.ValidationError(f"String should have at most {self.max} {unit}")
            return value
        if self.min is not None and size < self.min:
            unit = "item" if self.min == 1 else "items"
            raise validate.ValidationError(
                f"List should have at least {self.min} {unit} after validation, not {size}"
            )
        if self.max is not None and size > self.max:
            unit = "item" if self.max == 1 else "items"
            raise validate.ValidationError(
                f"List should have at most {self.max} {unit} after validation, not {size}"
            )
        return value


class OneOf(validate.Validator):
    """Enum membership with pydantic's message ("Input should be 'A' or 'B'")."""

    def __init__(self, choices: list[str] | tuple[str, ...]):
        self.choices = list(choices)

    def __call__(self, value: Any) -> Any:
        if value not in self.choices:
            quoted = [f"'{c}'" for c in self.choices]
            expected = quoted[0]
            if len(quoted) > 1:
                expected = ", ".join(quoted[:-1]) + " or " + quoted[-1]
            raise validate.ValidationError(f"Input should be {expected}")
        return value


class Pattern(validate.Validator):
    def __init__(self, pattern: str):
        self.pattern = pattern
        self.regex = re.compile(pattern)

    def __call__(self, value: Any) -> Any:
        if not self.regex.search(value):
            raise validate.ValidationError(f"String should match pattern '{self.pattern}'")
        return value


def error_items(messages: dict, data: dict[str, Any]) -> list[dict[str, Any]]:
    """Flatten webargs' ``{location: {field: [msg]}}`` into pydantic's error items."""
    items: list[dict[str, Any]] = []
    for location, errors in messages.items():
        source = _LOCATIONS.get(location, location)
        _flatten(errors, [source], data.get(location), items)
    return items


def _flatten(errors: Any, loc: list, value: Any, items: list) -> None:
    if isinstance(errors, dict):
        for key, sub in errors.items():
            if key == "_schema":
                _flatten(sub, loc, value, items)
                continue
            index = int(key) if isinstance(key, str) and key.isdigit() else key
            child = _child(value, index)
            _flatten(sub, [*loc, index], child if child is not _MISSING else value, items)
        return
    for msg in errors if isinstance(errors, list) else [errors]:
        if isinstance(msg, dict):
            _flatten(msg, loc, value, items)
            continue
        kind = next((t for rx, t in _TYPES if rx.search(msg)), "value_error")
        if kind == "value_error" and not msg.startswith("Value error"):
            msg = f"Value error, {msg}"
        items.append({"type": kind, "loc": loc, "msg": msg, "input": _jsonable(value)})


_MISSING = object()


def _child(value: Any, key: Any) -> Any:
    if isinstance(value, dict):
        return value.get(key, _MISSING) if key in value else _MISSING
    if isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
        return value[key]
    return _MISSING


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool, list, dict)):
        return value
    return str(value)
