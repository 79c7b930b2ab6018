"""Sample and data-entry schemas (api.md §S "Samples", "Data entry", §X.1).

Extensions beyond the reference, all optional: ``count``/``sample_size`` for attribute
charts, ``timestamp`` on submissions (honoured, at most 5 minutes ahead of the server), and
``status`` (``pending``/``evaluated``/``skipped``) on responses. ``measurements`` is not
marked required here because attribute samples must omit it; the ingest service answers the
reference's 422 "Field required" for a variables sample without it.
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields

from openspc.api.schemas.fields import Int, Timestamp
from openspc.api.schemas.paging import page_schema
from openspc.api.validation import DateTime, Length, Pattern, Range, Schema, error_items
from openspc.errors import ValidationFailed
from openspc.services.ingest import SampleInput


def _measurements() -> fields.List:
    return fields.List(fields.Float(allow_nan=False), validate=Length(1, 25))


class _SampleValues(Schema):
    measurements = _measurements()
    count = Int(allow_none=True, load_default=None, validate=Range(0))
    sample_size = Int(allow_none=True, load_default=None, validate=Range(1))
    batch_number = fields.String(allow_none=True, load_default=None, validate=Length(max=100))
    operator_id = fields.String(allow_none=True, load_default=None, validate=Length(max=100))
    timestamp = Timestamp(allow_none=True, load_default=None)


class SampleCreateSchema(_SampleValues):
    characteristic_id = Int(required=True)


class BatchItemSchema(_SampleValues):
    """One item of ``POST /samples/batch``, validated item by item (per-item errors)."""


class BatchImportRequestSchema(Schema):
    characteristic_id = Int(required=True)
    samples = fields.List(fields.Dict(), required=True, validate=Length(max=1000))
    skip_rule_evaluation = fields.Boolean(load_default=False)


def to_input(characteristic_id: int, data: dict[str, Any]) -> SampleInput:
    return SampleInput(
        characteristic_id=characteristic_id,
        measurements=data.get("measurements"),
        count=data.get("count"),
        sample_size=data.get("sample_size"),
        timestamp=data.get("timestamp"),
        batch_number=data.get("batch_number"),
        operator_id=data.get("operator_id"),
    )


def parse_batch_items(
    characteristic_id: int, items: list[dict[str, Any]]
) -> list[SampleInput | ValidationFailed]:
    """Each raw batch item as a SampleInput, or the 422 error of that item alone."""
    schema = BatchItemSchema()
    parsed: list[SampleInput | ValidationFailed] = []
    for item in items:
        try:
            parsed.append(to_input(characteristic_id, schema.load(item)))
        except ValidationError as error:
            parsed.append(ValidationFailed(error_items({"json": error.messages}, {"json": item})))
    return parsed


class SampleUpdateSchema(Schema):
    measurements = _measurements()
    count = Int(allow_none=True, load_default=None, validate=Range(0))
    sample_size = Int(allow_none=True, load_default=None, validate=Range(1))
    reason = fields.String(required=True, validate=Length(1, 1000))
    edited_by = fields.String(allow_none=True, load_default=None, validate=Length(max=255))


class SampleExcludeSchema(Schema):
    is_excluded = fields.Boolean(required=True)
    reason = fields.String(allow_none=True, load_default=None)


class SampleListQuerySchema(Schema):
    characteristic_id = Int()
    start_date = Timestamp()
    end_date = Timestamp()
    include_excluded = fields.Boolean(load_default=False)
    offset = Int(load_default=0, validate=Range(0))
    limit = Int(load_default=100, validate=Range(1, 1000))
    sort_dir = fields.String(load_default="desc", validate=Pattern("^(asc|desc)$"))


class ViolationInfoSchema(Schema):
    violation_id = fields.Integer()
    rule_id = fields.Integer()
    rule_name = fields.String()
    severity = fields.String()


class SampleProcessingResultSchema(Schema):
    sample_id = fields.Integer()
    timestamp = DateTime()
    mean = fields.Float()
    range_value = fields.Float(allow_none=True)
    zone = fields.String()
    in_control = fields.Boolean(allow_none=True)
    violations = fields.List(fields.Nested(ViolationInfoSchema))
    processing_time_ms = fields.Float()
    status = fields.String()
    count = fields.Integer(allow_none=True)
    sample_size = fields.Integer(allow_none=True)


class SampleResponseSchema(Schema):
    id = fields.Integer()
    char_id = fields.Integer()
    timestamp = DateTime()
    batch_number = fields.String(allow_none=True)
    operator_id = fields.String(allow_none=True)
    is_excluded = fields.Boolean()
    measurements = fields.List(fields.Float())
    mean = fields.Float()
    range_value = fields.Float(allow_none=True)
    actual_n = fields.Integer()
    is_undersized = fields.Boolean()
    effective_ucl = fields.Float(allow_none=True)
    effective_lcl = fields.Float(allow_none=True)
    z_score = fields.Float(allow_none=True)
    is_modified = fields.Boolean()
    edit_count = fields.Integer()
    display_key = fields.String()
    characteristic_id = fields.Integer()
    excluded = fields.Boolean()
    status = fields.String()
    sequence = fields.Integer(allow_none=True)
    count = fields.Integer(allow_none=True)
    sample_size = fields.Integer(allow_none=True)


SamplePageSchema = page_schema(SampleResponseSchema, "SamplePageSchema")


class SampleEditHistorySchema(Schema):
    id = fields.Integer()
    sample_id = fields.Integer()
    edited_at = DateTime()
    edited_by = fields.String(allow_none=True)
    reason = fields.String()
    previous_values = fields.List(fields.Float())
    new_values = fields.List(fields.Float())
    previous_mean = fields.Float()
    new_mean = fields.Float()


class BatchImportResultSchema(Schema):
    total = fields.Integer()
    imported = fields.Integer()
    failed = fields.Integer()
    errors = fields.List(fields.String())


class DataEntryRequestSchema(_SampleValues):
    characteristic_id = Int(required=True)
    metadata = fields.Dict(allow_none=True, load_default=None)


class BatchEntryRequestSchema(Schema):
    samples = fields.List(
        fields.Nested(DataEntryRequestSchema), required=True, validate=Length(max=1000)
    )


class EntryViolationSchema(Schema):
    rule_id = fields.Integer()
    rule_name = fields.String()
    severity = fields.String()


class DataEntryResponseSchema(Schema):
    sample_id = fields.Integer()
    characteristic_id = fields.Integer()
    timestamp = DateTime()
    mean = fields.Float()
    range_value = fields.Float(allow_none=True)
    zone = fields.String()
    in_control = fields.Boolean(allow_none=True)
    violations = fields.List(fields.Nested(EntryViolationSchema))
    status = fields.String()
    count = fields.Integer(allow_none=True)
    sample_size = fields.Integer(allow_none=True)


class BatchEntryResponseSchema(Schema):
    total = fields.Integer()
    successful = fields.Integer()
    failed = fields.Integer()
    results = fields.List(fields.Nested(DataEntryResponseSchema))
    errors = fields.List(fields.String())
