"""Tag mappings and preview (api.md §13). All routes need engineer at any plant.

Extensions of TagMappingCreate/Response (ours): ``value_path`` and ``timestamp_path`` (where a
JSON payload holds the value and the device's timestamp) and ``timer_seconds`` (the period
of ``on_timer``, default ``DEFAULT_TIMER_SECONDS``).
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from openspc.api.blueprint import Blueprint
from openspc.api.schemas.fields import Int
from openspc.api.validation import DateTime, Length, Pattern, Range, Schema
from openspc.auth.roles import require_role
from openspc.services import discovery
from openspc.services import tag_mappings as service

blp = Blueprint("tags", __name__, url_prefix="/api/v1/tags", description="MQTT tag mappings")


class MappingQuery(Schema):
    plant_id = Int()
    broker_id = Int()


class TagMappingCreate(Schema):
    characteristic_id = Int(required=True)
    mqtt_topic = fields.String(required=True, validate=Length(1, 500))
    trigger_strategy = fields.String(
        load_default="on_change", validate=Pattern("^(on_change|on_trigger|on_timer)$"))
    trigger_tag = fields.String(allow_none=True, load_default=None, validate=Length(None, 500))
    broker_id = Int(required=True)
    metric_name = fields.String(allow_none=True, load_default=None, validate=Length(None, 255))
    value_path = fields.String(allow_none=True, load_default=None, validate=Length(1, 255))
    timestamp_path = fields.String(allow_none=True, load_default=None, validate=Length(1, 255))
    timer_seconds = fields.Float(allow_none=True, load_default=None, allow_nan=False,
                                 validate=Range(0.1, 86400.0))


class TagMappingResponse(Schema):
    data_source_id = fields.Integer()
    characteristic_id = fields.Integer()
    characteristic_name = fields.String()
    mqtt_topic = fields.String()
    trigger_strategy = fields.String()
    trigger_tag = fields.String(allow_none=True)
    broker_id = fields.Integer(allow_none=True)
    broker_name = fields.String(allow_none=True)
    metric_name = fields.String(allow_none=True)
    is_active = fields.Boolean()
    value_path = fields.String(allow_none=True)
    timestamp_path = fields.String(allow_none=True)
    timer_seconds = fields.Float(allow_none=True)


class TagPreviewRequest(Schema):
    broker_id = Int(required=True)
    topic = fields.String(required=True, validate=Length(1, 500))
    duration_seconds = fields.Float(load_default=5.0, allow_nan=False, validate=Range(1.0, 30.0))


class TagPreviewValue(Schema):
    value = fields.Raw()
    timestamp = DateTime()
    raw_payload = fields.String()
    metric_name = fields.String(allow_none=True)


class TagPreviewResponse(Schema):
    topic = fields.String()
    values = fields.List(fields.Nested(TagPreviewValue))
    sample_count = fields.Integer()
    started_at = DateTime()
    duration_seconds = fields.Float()


@blp.route("/mappings", methods=["GET"])
@require_role("engineer")
@blp.arguments(MappingQuery, location="query")
@blp.response(200, TagMappingResponse(many=True))
def list_mappings(query: dict[str, Any]):
    return service.list_mappings(**query)


@blp.route("/map", methods=["POST"])
@require_role("engineer")
@blp.arguments(TagMappingCreate)
@blp.response(200, TagMappingResponse)
def map_characteristic(body: dict[str, Any]):
    return service.map_characteristic(body)


@blp.route("/map/<int:characteristic_id>", methods=["DELETE"])
@require_role("engineer")
@blp.response(204)
def unmap_characteristic(characteristic_id: int):
    service.unmap_characteristic(characteristic_id)


@blp.route("/preview", methods=["POST"])
@require_role("engineer")
@blp.arguments(TagPreviewRequest)
@blp.response(200, TagPreviewResponse)
def preview(body: dict[str, Any]):
    """Listens on a connection of its own: live ingestion of the topic is not disturbed."""
    return discovery.preview_topic(body["broker_id"], body["topic"], body["duration_seconds"])
