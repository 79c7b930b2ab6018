"""Hierarchy schemas (api.md §S "Hierarchy")."""

from __future__ import annotations

from marshmallow import fields

from openspc.api.schemas.fields import Int
from openspc.api.validation import Length, Schema


class HierarchyCreateSchema(Schema):
    parent_id = Int(allow_none=True, load_default=None)
    name = fields.String(required=True, validate=Length(1, 100))
    type = fields.String(required=True, validate=Length(1, 50))


class HierarchyUpdateSchema(Schema):
    """``parent_id`` is not accepted (ignored, as unknown fields are)."""

    name = fields.String(validate=Length(1, 100))
    type = fields.String(validate=Length(1, 50))


class HierarchyResponseSchema(Schema):
    id = fields.Integer()
    parent_id = fields.Integer(allow_none=True)
    name = fields.String()
    type = fields.String()


class HierarchyTreeNodeSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    type = fields.String()
    children = fields.List(fields.Nested(lambda: HierarchyTreeNodeSchema()))
    characteristic_count = fields.Integer()


class NodeCharacteristicsQuerySchema(Schema):
    include_descendants = fields.Boolean(load_default=False)
