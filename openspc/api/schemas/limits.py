"""Schemas of the limits lifecycle and chart reads (api.md §S "Characteristics", §X.1, §X.2)."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validates_schema

from openspc.api.schemas.characteristics import CharacteristicResponseSchema
from openspc.api.schemas.fields import Int, Size, Timestamp
from openspc.api.validation import OneOf, Range, Schema
from openspc.services.characteristics import SUBGROUP_MODES


class BaselineQuerySchema(Schema):
    """The sample window of a calculation: inclusive dates, then the last N usable samples."""

    start_date = Timestamp()
    end_date = Timestamp()
    last_n = Int(validate=Range(min=1))


class RecalculateQuerySchema(BaselineQuerySchema):
    exclude_ooc = fields.Boolean(
        load_default=False,
        metadata={"description": "Also leave out samples with an unacknowledged violation "
                                 "(excluded samples are always left out)"},
    )
    min_samples = Int(load_default=25, validate=Range(min=1))


class ChartDataQuerySchema(Schema):
    limit = Int(load_default=100, validate=Range(min=1, max=1000))
    start_date = Timestamp()
    end_date = Timestamp()


class SetLimitsRequestSchema(Schema):
    ucl = fields.Float(required=True)
    lcl = fields.Float(required=True)
    center_line = fields.Float(required=True)
    sigma = fields.Float(required=True, validate=Range(min=0, min_inclusive=False))

    @validates_schema(skip_on_field_errors=True)
    def _ordered(self, data: dict[str, Any], **kwargs: Any) -> None:
        """The reference's cross-field checks, reported on the field they name."""
        if data["ucl"] <= data["lcl"]:
            raise ValidationError("UCL must be greater than LCL", field_name="ucl")
        if not data["lcl"] <= data["center_line"] <= data["ucl"]:
            raise ValidationError(
                "center_line must be between LCL and UCL", field_name="center_line"
            )


class ChangeModeRequestSchema(Schema):
    new_mode = fields.String(required=True, validate=OneOf(SUBGROUP_MODES))


class LimitsTripleSchema(Schema):
    ucl = fields.Float(allow_none=True)
    lcl = fields.Float(allow_none=True)
    center_line = fields.Float(allow_none=True)


class ManualCalculationSchema(Schema):
    method = fields.String()
    sigma = fields.Float()
    sample_count = fields.Integer()
    excluded_count = fields.Integer()
    calculated_at = fields.String()


class CalculationSchema(ManualCalculationSchema):
    start_date = fields.String(allow_none=True)
    end_date = fields.String(allow_none=True)
    last_n = fields.Integer(allow_none=True)


class RecalculateLimitsResponseSchema(Schema):
    before = fields.Nested(LimitsTripleSchema)
    after = fields.Nested(LimitsTripleSchema)
    calculation = fields.Nested(CalculationSchema)


class ControlLimitsResponseSchema(Schema):
    before = fields.Nested(LimitsTripleSchema)
    after = fields.Nested(LimitsTripleSchema)
    calculation = fields.Nested(ManualCalculationSchema)


class ChangeModeResponseSchema(Schema):
    previous_mode = fields.String()
    new_mode = fields.String()
    samples_migrated = fields.Integer()
    characteristic = fields.Nested(CharacteristicResponseSchema)


class ChartSampleSchema(Schema):
    sample_id = fields.Integer()
    timestamp = fields.String()
    mean = fields.Float()
    range = fields.Float(allow_none=True)
    std_dev = fields.Float(allow_none=True)
    excluded = fields.Boolean()
    violation_ids = fields.List(fields.Integer())
    unacknowledged_violation_ids = fields.List(fields.Integer())
    violation_rules = fields.List(fields.Integer())
    zone = fields.String()
    actual_n = fields.Integer()
    is_undersized = fields.Boolean()
    effective_ucl = fields.Float(allow_none=True)
    effective_lcl = fields.Float(allow_none=True)
    z_score = fields.Float(allow_none=True)
    display_value = fields.Float(allow_none=True)
    display_key = fields.String()
    moving_range = fields.Float(allow_none=True)
    count = fields.Integer(metadata={"description": "attribute charts only"})
    sample_size = Size(allow_none=True, metadata={"description": "attribute charts only"})


class SpecLimitsSchema(Schema):
    usl = fields.Float(allow_none=True)
    lsl = fields.Float(allow_none=True)
    target = fields.Float(allow_none=True)


class ZoneBoundariesSchema(Schema):
    plus_1_sigma = fields.Float(allow_none=True)
    plus_2_sigma = fields.Float(allow_none=True)
    plus_3_sigma = fields.Float(allow_none=True)
    minus_1_sigma = fields.Float(allow_none=True)
    minus_2_sigma = fields.Float(allow_none=True)
    minus_3_sigma = fields.Float(allow_none=True)


class SecondaryChartSchema(Schema):
    chart = fields.String(metadata={"description": "r, s or mr"})
    center_line = fields.Float()
    ucl = fields.Float()
    lcl = fields.Float()


class ChartDataResponseSchema(Schema):
    characteristic_id = fields.Integer()
    characteristic_name = fields.String()
    data_points = fields.List(fields.Nested(ChartSampleSchema))
    control_limits = fields.Nested(LimitsTripleSchema)
    spec_limits = fields.Nested(SpecLimitsSchema)
    zone_boundaries = fields.Nested(ZoneBoundariesSchema)
    subgroup_mode = fields.String()
    nominal_subgroup_size = fields.Integer()
    decimal_precision = fields.Integer()
    stored_sigma = fields.Float(allow_none=True)
    secondary = fields.Nested(SecondaryChartSchema, allow_none=True)


class CapabilityResponseSchema(Schema):
    cp = fields.Float(allow_none=True)
    cpk = fields.Float(allow_none=True)
    cpl = fields.Float(allow_none=True)
    cpu = fields.Float(allow_none=True)
    pp = fields.Float(allow_none=True)
    ppk = fields.Float(allow_none=True)
    cpm = fields.Float(allow_none=True)
    sigma_within = fields.Float()
    sigma_overall = fields.Float()
    mean = fields.Float()
    sample_count = fields.Integer()
    usl = fields.Float(allow_none=True)
    lsl = fields.Float(allow_none=True)
    target = fields.Float(allow_none=True)
