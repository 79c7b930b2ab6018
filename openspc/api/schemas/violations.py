"""Violation schemas (api.md §S "Violations", §X.4)."""

from __future__ import annotations

from marshmallow import fields

from openspc.api.schemas.fields import Int, Timestamp
from openspc.api.schemas.paging import page_schema
from openspc.api.validation import DateTime, Length, Schema


class ViolationListQuerySchema(Schema):
    """No bounds on the paging values: the reference accepts any integer here."""

    characteristic_id = Int()
    sample_id = Int()
    acknowledged = fields.Boolean()
    requires_acknowledgement = fields.Boolean()
    severity = fields.String()
    rule_id = Int()
    start_date = Timestamp()
    end_date = Timestamp()
    offset = Int(load_default=0)
    limit = Int(load_default=100)
    page = Int()
    per_page = Int()


class ViolationStatsQuerySchema(Schema):
    characteristic_id = Int()
    start_date = Timestamp()
    end_date = Timestamp()


class ViolationResponseSchema(Schema):
    id = fields.Integer()
    sample_id = fields.Integer()
    rule_id = fields.Integer()
    rule_name = fields.String()
    severity = fields.String()
    acknowledged = fields.Boolean()
    requires_acknowledgement = fields.Boolean()
    ack_user = fields.String(allow_none=True)
    ack_reason = fields.String(allow_none=True)
    ack_timestamp = DateTime(allow_none=True)
    created_at = DateTime(allow_none=True)
    characteristic_id = fields.Integer(allow_none=True)
    characteristic_name = fields.String(allow_none=True)
    hierarchy_path = fields.String(allow_none=True)
    first_sample_id = fields.Integer(allow_none=True)
    last_sample_id = fields.Integer(allow_none=True)
    limits_version = fields.Integer(allow_none=True)


ViolationPageSchema = page_schema(ViolationResponseSchema, "ViolationPageSchema")


class ViolationStatsSchema(Schema):
    total = fields.Integer()
    unacknowledged = fields.Integer()
    informational = fields.Integer()
    by_rule = fields.Dict(keys=fields.String(), values=fields.Integer())
    by_severity = fields.Dict(keys=fields.String(), values=fields.Integer())


class ViolationAcknowledgeSchema(Schema):
    user = fields.String(required=True, validate=Length(min=1))
    reason = fields.String(required=True, validate=Length(min=1))
    exclude_sample = fields.Boolean(load_default=False)


class BatchAcknowledgeSchema(ViolationAcknowledgeSchema):
    violation_ids = fields.List(Int(), required=True, validate=Length(min=1))


class AcknowledgeItemSchema(Schema):
    violation_id = fields.Integer()
    success = fields.Boolean()
    error = fields.String(allow_none=True)


class BatchAcknowledgeResultSchema(Schema):
    total = fields.Integer()
    successful = fields.Integer()
    failed = fields.Integer()
    results = fields.List(fields.Nested(AcknowledgeItemSchema))
    acknowledged = fields.List(fields.Integer())
    errors = fields.Dict(keys=fields.String(), values=fields.String())
