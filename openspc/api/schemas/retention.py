"""Retention schemas (api.md §S "Retention")."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validates_schema

from openspc.api.schemas.fields import Int
from openspc.api.validation import DateTime, OneOf, Range, Schema
from openspc.services.retention import FOREVER, SAMPLE_COUNT, TIME_DELTA, UNIT_DAYS


class RetentionPolicySetSchema(Schema):
    retention_type = fields.String(
        required=True, validate=OneOf([FOREVER, SAMPLE_COUNT, TIME_DELTA])
    )
    retention_value = Int(allow_none=True, load_default=None, validate=Range(min=1))
    retention_unit = fields.String(
        allow_none=True, load_default=None, validate=OneOf(list(UNIT_DAYS))
    )

    @validates_schema(skip_on_field_errors=True)
    def _value_and_unit_fit_type(self, data: dict[str, Any], **kwargs: Any) -> None:
        """The reference's model validator, with its messages, reported on the body."""
        kind, value, unit = data["retention_type"], data["retention_value"], data["retention_unit"]
        if kind == FOREVER:
            if value is not None:
                raise ValidationError("retention_value must be null for 'forever' type")
            if unit is not None:
                raise ValidationError("retention_unit must be null for 'forever' type")
        elif kind == SAMPLE_COUNT:
            if value is None:
                raise ValidationError("retention_value is required for 'sample_count' type")
            if unit is not None:
                raise ValidationError("retention_unit must be null for 'sample_count' type")
        else:
            if value is None:
                raise ValidationError("retention_value is required for 'time_delta' type")
            if unit is None:
                raise ValidationError("retention_unit is required for 'time_delta' type")


class RetentionPolicyResponseSchema(Schema):
    id = fields.Integer()
    plant_id = fields.Integer()
    scope = fields.String()
    hierarchy_id = fields.Integer(allow_none=True)
    characteristic_id = fields.Integer(allow_none=True)
    retention_type = fields.String()
    retention_value = fields.Integer(allow_none=True)
    retention_unit = fields.String(allow_none=True)
    created_at = DateTime()
    updated_at = DateTime()


class EffectiveRetentionResponseSchema(Schema):
    retention_type = fields.String()
    retention_value = fields.Integer(allow_none=True)
    retention_unit = fields.String(allow_none=True)
    source = fields.String()
    source_id = fields.Integer(allow_none=True)
    source_name = fields.String(allow_none=True)


class RetentionOverrideResponseSchema(Schema):
    id = fields.Integer()
    scope = fields.String()
    hierarchy_id = fields.Integer(allow_none=True)
    characteristic_id = fields.Integer(allow_none=True)
    hierarchy_name = fields.String(allow_none=True)
    characteristic_name = fields.String(allow_none=True)
    retention_type = fields.String()
    retention_value = fields.Integer(allow_none=True)
    retention_unit = fields.String(allow_none=True)
    updated_at = DateTime()


class PurgeHistoryResponseSchema(Schema):
    id = fields.Integer()
    plant_id = fields.Integer()
    started_at = DateTime()
    completed_at = DateTime(allow_none=True)
    status = fields.String()
    samples_deleted = fields.Integer()
    violations_deleted = fields.Integer()
    characteristics_processed = fields.Integer()
    error_message = fields.String(allow_none=True)


class NextPurgeResponseSchema(Schema):
    next_run_at = DateTime(allow_none=True)
    interval_hours = fields.Float()
    last_run = fields.Nested(PurgeHistoryResponseSchema, allow_none=True)


class PlantQuerySchema(Schema):
    plant_id = Int(required=True)


class ActivityQuerySchema(PlantQuerySchema):
    limit = Int(load_default=20, validate=Range(min=1, max=100))


class PurgeQuerySchema(PlantQuerySchema):
    dry_run = fields.Boolean(load_default=False)


class PlannedCharacteristicSchema(Schema):
    characteristic_id = fields.Integer()
    name = fields.String()
    retention_type = fields.String()
    retention_value = fields.Integer(allow_none=True)
    retention_unit = fields.String(allow_none=True)
    source = fields.String()
    samples_deleted = fields.Integer()
    violations_deleted = fields.Integer()


class PurgeDryRunResponseSchema(Schema):
    """``POST /purge?dry_run=true`` (ours): what a run would delete now, per characteristic."""

    dry_run = fields.Boolean()
    plant_id = fields.Integer()
    samples_deleted = fields.Integer()
    violations_deleted = fields.Integer()
    characteristics_processed = fields.Integer()
    characteristics = fields.List(fields.Nested(PlannedCharacteristicSchema))
