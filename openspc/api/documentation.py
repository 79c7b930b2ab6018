"""What the OpenAPI document says about every route beyond its own schemas: the error body
all errors share (api.md §E) and integer path parameters."""

from __future__ import annotations

from typing import Any

from flask_smorest import Api
from marshmallow import Schema, fields

from openspc.api.validation import INT_RANGE

_VALIDATION_ITEM = {
    "type": "object",
    "required": ["type", "loc", "msg"],
    "properties": {
        "type": {"type": "string"},
        "loc": {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "integer"}]}},
        "msg": {"type": "string"},
        "input": {"nullable": True},
        "ctx": {"type": "object"},
    },
}


class ErrorSchema(Schema):
    """``{"detail": ...}``: a message, or the 422 list of ``{type, loc, msg, input}``."""

    detail = fields.Raw(required=True, metadata={
        "oneOf": [{"type": "string"}, {"type": "array", "items": _VALIDATION_ITEM}],
    })


class DocumentedApi(Api):
    ERROR_SCHEMA = ErrorSchema


def exclusive_bounds(_converter: Any, field: fields.Field, **_kwargs: Any) -> dict[str, Any]:
    """OpenAPI 3.0's ``exclusiveMinimum``/``exclusiveMaximum`` of a strict Range (apispec
    writes only the bound): ``sigma`` must be > 0, not >= 0."""
    bounds: dict[str, Any] = {}
    for validator in field.validators:
        if getattr(validator, "min", None) is not None and not getattr(
                validator, "min_inclusive", True):
            bounds["exclusiveMinimum"] = True
        if getattr(validator, "max", None) is not None and not getattr(
                validator, "max_inclusive", True):
            bounds["exclusiveMaximum"] = True
    return bounds


def nullable(component: str) -> dict[str, Any]:
    """A JSON response body that is the named schema or the literal ``null``."""
    return {"description": "OK", "content": {"application/json": {"schema": {
        "nullable": True, "allOf": [{"$ref": f"#/components/schemas/{component}"}]}}}}


def sample_body(component: str) -> dict[str, Any]:
    """A sample's request body: ``measurements`` required for a variables chart, ``count``
    (with ``sample_size`` for p, np, u) for an attribute chart. The schema alone cannot say
    which, since that depends on the characteristic."""
    schema = {"$ref": f"#/components/schemas/{component}"}
    return {"required": True, "content": {"application/json": {"schema": {"anyOf": [
        {"allOf": [schema, {"required": ["measurements"]}], "title": "Variables sample"},
        {"allOf": [schema, {"required": ["count"]}], "title": "Attribute sample"},
    ]}}}}


def integer_path_parameter(_converter: Any) -> dict[str, Any]:
    """An ``<int:...>`` segment: an integer within the range the routes accept (others 422)."""
    return {"type": "integer", "minimum": INT_RANGE[0], "maximum": INT_RANGE[1]}
