"""Characteristic config schemas (api.md §S "Characteristic config"): discriminated unions.

Decimals (``min_valid_value``, ``max_valid_value``, ``deadband``) are read from a number or a
string and written as strings, as the reference emits them (api.md §0 "Decimals").
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from openspc.api.schemas.fields import Int, TaggedUnion
from openspc.api.validation import Length, OneOf, Range, Schema

_DECIMAL_ERRORS = {
    "invalid": "Input should be a valid decimal",
    "special": "Input should be a finite number",
}


def _tag(value: str) -> fields.String:
    return fields.String(required=True, validate=OneOf([value]))


def _decimal(**kwargs: Any) -> fields.Decimal:
    return fields.Decimal(as_string=True, error_messages=_DECIMAL_ERRORS, **kwargs)


class NoScheduleSchema(Schema):
    schedule_type = _tag("NONE")


class IntervalScheduleSchema(Schema):
    schedule_type = _tag("INTERVAL")
    interval_minutes = Int(required=True, validate=Range(1, 10080))
    align_to_hour = fields.Boolean(load_default=True)


class ShiftScheduleSchema(Schema):
    schedule_type = _tag("SHIFT")
    shift_count = Int(load_default=3, validate=Range(1, 4))
    shift_times = fields.List(fields.String(), load_default=lambda: ["06:00", "14:00", "22:00"])
    samples_per_shift = Int(load_default=1, validate=Range(1, 10))


class CronScheduleSchema(Schema):
    schedule_type = _tag("CRON")
    cron_expression = fields.String(required=True)


class BatchStartScheduleSchema(Schema):
    schedule_type = _tag("BATCH_START")
    batch_tag_path = fields.String(required=True)
    delay_minutes = Int(load_default=0, validate=Range(0, 60))


class ManualConfigSchema(Schema):
    config_type = _tag("MANUAL")
    instructions = fields.String(load_default="", validate=Length(max=2000))
    schedule = TaggedUnion("schedule_type", {
        "NONE": NoScheduleSchema, "INTERVAL": IntervalScheduleSchema,
        "SHIFT": ShiftScheduleSchema, "CRON": CronScheduleSchema,
        "BATCH_START": BatchStartScheduleSchema,
    }, required=True)
    grace_period_minutes = Int(load_default=30, validate=Range(0, 480))


class OnUpdateTriggerSchema(Schema):
    trigger_type = _tag("ON_UPDATE")
    throttle_seconds = Int(load_default=60, validate=Range(1, 86400))
    require_change = fields.Boolean(load_default=False)


class OnEventTriggerSchema(Schema):
    trigger_type = _tag("ON_EVENT")
    trigger_tag_path = fields.String(required=True)
    edge = fields.String(load_default="RISING", validate=OneOf(["RISING", "FALLING", "BOTH"]))
    debounce_ms = Int(load_default=100, validate=Range(0, 10000))


class OnValueChangeTriggerSchema(Schema):
    trigger_type = _tag("ON_VALUE_CHANGE")
    deadband = _decimal(required=True, validate=Range(0))
    deadband_type = fields.String(load_default="ABSOLUTE", validate=OneOf(["ABSOLUTE", "PERCENT"]))
    min_interval_seconds = Int(load_default=1, validate=Range(1))


class TagConfigSchema(Schema):
    config_type = _tag("TAG")
    source_tag_path = fields.String(required=True)
    trigger = TaggedUnion("trigger_type", {
        "ON_UPDATE": OnUpdateTriggerSchema, "ON_EVENT": OnEventTriggerSchema,
        "ON_VALUE_CHANGE": OnValueChangeTriggerSchema,
    }, required=True)
    batch_tag_path = fields.String(allow_none=True, load_default=None)
    min_valid_value = _decimal(allow_none=True, load_default=None)
    max_valid_value = _decimal(allow_none=True, load_default=None)


def _config_union(**kwargs: Any) -> TaggedUnion:
    return TaggedUnion("config_type", {"MANUAL": ManualConfigSchema, "TAG": TagConfigSchema},
                       **kwargs)


class CharacteristicConfigUpdateSchema(Schema):
    config = _config_union(required=True)


class CharacteristicConfigResponseSchema(Schema):
    characteristic_id = fields.Integer()
    config = _config_union()
    is_active = fields.Boolean()
