"""Characteristic and rule schemas (api.md §S "Characteristics", §X.1, §X.3).

``CharacteristicResponseSchema`` dumps the payloads of
``openspc.services.characteristics.describe``/``describe_one``; other resources reuse it.
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validates_schema

from openspc.api.schemas.fields import Int
from openspc.api.schemas.paging import page_schema
from openspc.api.validation import DateTime, Length, OneOf, Range, Schema
from openspc.services.characteristics import (
    CHART_TYPES,
    SUBGROUP_MODES,
    chart_type_problem,
    is_attribute,
)
from openspc.services.rules import PARAMETER_BOUNDS, PRESETS, SEVERITIES, effective_parameters


def _float(**kwargs: Any) -> fields.Float:
    """A finite float that may be null (NaN and infinities cannot be plotted)."""
    return fields.Float(allow_none=True, allow_nan=False, **kwargs)


class CharacteristicCreateSchema(Schema):
    hierarchy_id = Int(required=True)
    name = fields.String(required=True, validate=Length(1, 100))
    description = fields.String(allow_none=True, load_default=None)
    subgroup_size = Int(load_default=1, validate=Range(1, 25))
    target_value = _float(load_default=None)
    usl = _float(load_default=None)
    lsl = _float(load_default=None)
    subgroup_mode = fields.String(load_default="NOMINAL_TOLERANCE", validate=OneOf(SUBGROUP_MODES))
    min_measurements = Int(load_default=1, validate=Range(1))
    warn_below_count = Int(allow_none=True, load_default=None)
    decimal_precision = Int(load_default=3, validate=Range(0, 10))
    chart_type = fields.String(allow_none=True, load_default=None, validate=OneOf(CHART_TYPES))
    rule_preset = fields.String(allow_none=True, load_default=None, validate=OneOf(PRESETS))

    @validates_schema
    def _chart_type_fits(self, data: dict[str, Any], **kwargs: Any) -> None:
        chart_type = data.get("chart_type")
        if chart_type is None or is_attribute(chart_type):
            return
        problem = chart_type_problem(chart_type, data["subgroup_size"])
        if problem:
            raise ValidationError(problem, field_name="chart_type")

    @validates_schema
    def _counts_fit(self, data: dict[str, Any], **kwargs: Any) -> None:
        """The reference's cross-field checks, reported on the body as a whole."""
        size, minimum = data["subgroup_size"], data["min_measurements"]
        warn = data.get("warn_below_count")
        if minimum > size:
            raise ValidationError("min_measurements cannot exceed subgroup_size")
        if warn is not None and warn < minimum:
            raise ValidationError("warn_below_count must be >= min_measurements")
        if warn is not None and warn > size:
            raise ValidationError("warn_below_count cannot exceed subgroup_size")


class CharacteristicUpdateSchema(Schema):
    """Only keys present are applied; an explicit null clears a nullable field."""

    name = fields.String(validate=Length(1, 100))
    description = fields.String(allow_none=True)
    target_value = _float()
    usl = _float()
    lsl = _float()
    ucl = _float()
    lcl = _float()
    subgroup_mode = fields.String(validate=OneOf(SUBGROUP_MODES))
    min_measurements = Int(validate=Range(1))
    warn_below_count = Int(allow_none=True)
    decimal_precision = Int(validate=Range(0, 10))
    chart_type = fields.String(validate=OneOf(CHART_TYPES))
    rule_preset = fields.String(validate=OneOf(PRESETS))


class CharacteristicListQuerySchema(Schema):
    hierarchy_id = Int()
    provider_type = fields.String()
    plant_id = Int()
    in_control = fields.Boolean()
    offset = Int(load_default=0, validate=Range(0))
    limit = Int(load_default=100, validate=Range(1, 1000))
    page = Int(validate=Range(1))
    per_page = Int(validate=Range(1, 1000))


class DataSourceResponseSchema(Schema):
    id = fields.Integer()
    type = fields.String()
    characteristic_id = fields.Integer()
    trigger_strategy = fields.String()
    is_active = fields.Boolean()
    created_at = DateTime()
    updated_at = DateTime()


class CharacteristicResponseSchema(Schema):
    id = fields.Integer()
    hierarchy_id = fields.Integer()
    name = fields.String()
    description = fields.String(allow_none=True)
    subgroup_size = fields.Integer()
    target_value = fields.Float(allow_none=True)
    usl = fields.Float(allow_none=True)
    lsl = fields.Float(allow_none=True)
    ucl = fields.Float(allow_none=True)
    lcl = fields.Float(allow_none=True)
    data_source = fields.Nested(DataSourceResponseSchema, allow_none=True)
    subgroup_mode = fields.String()
    min_measurements = fields.Integer()
    warn_below_count = fields.Integer(allow_none=True)
    stored_sigma = fields.Float(allow_none=True)
    stored_center_line = fields.Float(allow_none=True)
    decimal_precision = fields.Integer()
    sample_count = fields.Integer(allow_none=True)
    unacknowledged_violations = fields.Integer(allow_none=True)
    chart_type = fields.String()


CharacteristicPageSchema = page_schema(CharacteristicResponseSchema, "CharacteristicPageSchema")


class NelsonRuleConfigSchema(Schema):
    """One rule in ``PUT rules``. Absent ``parameters``/``severity`` keep the stored value;
    null returns them to the default (openspc.services.rules.update_rules)."""

    rule_id = Int(required=True, validate=Range(1, 8))
    is_enabled = fields.Boolean(load_default=True)
    require_acknowledgement = fields.Boolean(load_default=True)
    parameters = fields.Dict(keys=fields.String(), allow_none=True)
    severity = fields.String(allow_none=True, validate=OneOf(SEVERITIES))

    @validates_schema(skip_on_field_errors=True)
    def _parameters_fit(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Each parameter of the rule, an integer within the engine's bounds (k ≤ m)."""
        parameters = data.get("parameters")
        if not parameters:
            return
        bounds = PARAMETER_BOUNDS[data["rule_id"]]
        errors: dict[str, list[str]] = {}
        for key, value in parameters.items():
            if key not in bounds:
                errors[key] = ["Extra inputs are not permitted"]
            elif isinstance(value, bool) or not isinstance(value, int):
                errors[key] = ["Input should be a valid integer"]
            else:
                low, high = bounds[key]
                if value < low:
                    errors[key] = [f"Input should be greater than or equal to {low}"]
                elif value > high:
                    errors[key] = [f"Input should be less than or equal to {high}"]
        if not errors and "k" in bounds:
            merged = effective_parameters(data["rule_id"], parameters)
            if merged["k"] > merged["m"]:
                errors["k"] = [f"Value error, k must not exceed m ({merged['m']})"]
        if errors:
            raise ValidationError({"parameters": errors})


class NelsonRuleResponseSchema(Schema):
    rule_id = fields.Integer()
    is_enabled = fields.Boolean()
    require_acknowledgement = fields.Boolean()
    parameters = fields.Dict(keys=fields.String(), values=fields.Integer())
    severity = fields.String()
