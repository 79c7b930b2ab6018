"""Annotation schemas (api.md §S "Annotations")."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validates_schema

from openspc.api.schemas.fields import Int, Timestamp
from openspc.api.validation import DateTime, Length, OneOf, Schema


class AnnotationCreateSchema(Schema):
    annotation_type = fields.String(required=True, validate=OneOf(["point", "period"]))
    text = fields.String(required=True, validate=Length(1, 500))
    color = fields.String(allow_none=True, load_default=None, validate=Length(max=20))
    sample_id = Int(allow_none=True, load_default=None)
    start_time = Timestamp(allow_none=True, load_default=None)
    end_time = Timestamp(allow_none=True, load_default=None)

    @validates_schema
    def _shape_fits_type(self, data: dict[str, Any], **kwargs: Any) -> None:
        """The reference's model validator: reported on the body, the message names the field."""
        start, end = data["start_time"], data["end_time"]
        if data["annotation_type"] == "point":
            if data["sample_id"] is None:
                raise ValidationError("sample_id is required for point annotations")
            if start is not None or end is not None:
                raise ValidationError("start_time and end_time must be null for point annotations")
            return
        if data["sample_id"] is not None:
            raise ValidationError("sample_id must be null for period annotations")
        if start is None or end is None:
            raise ValidationError("start_time and end_time are required for period annotations")
        if start >= end:
            raise ValidationError("start_time must be before end_time")


class AnnotationUpdateSchema(Schema):
    text = fields.String(validate=Length(1, 500))
    color = fields.String(allow_none=True, validate=Length(max=20))


class AnnotationQuerySchema(Schema):
    annotation_type = fields.String()


class AnnotationHistorySchema(Schema):
    id = fields.Integer()
    previous_text = fields.String()
    changed_by = fields.String(allow_none=True)
    changed_at = DateTime()


class AnnotationResponseSchema(Schema):
    id = fields.Integer()
    characteristic_id = fields.Integer()
    annotation_type = fields.String()
    text = fields.String()
    color = fields.String(allow_none=True)
    sample_id = fields.Integer(allow_none=True)
    start_sample_id = fields.Integer(allow_none=True)
    end_sample_id = fields.Integer(allow_none=True)
    start_time = DateTime(allow_none=True)
    end_time = DateTime(allow_none=True)
    created_by = fields.String(allow_none=True)
    created_at = DateTime()
    updated_at = DateTime()
    history = fields.List(fields.Nested(AnnotationHistorySchema))
