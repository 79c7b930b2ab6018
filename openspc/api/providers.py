"""Provider status and TAG provider controls (api.md §15)."""

from __future__ import annotations

from marshmallow import fields

from openspc.api.blueprint import Blueprint
from openspc.api.validation import DateTime, Schema
from openspc.auth.roles import login_required, require_role
from openspc.services import providers as service

blp = Blueprint("providers", __name__, url_prefix="/api/v1/providers",
                description="Data providers")


class MqttProviderStatus(Schema):
    is_connected = fields.Boolean()
    broker_id = fields.Integer(allow_none=True)
    broker_name = fields.String(allow_none=True)
    last_connected = DateTime(allow_none=True)
    error_message = fields.String(allow_none=True)
    subscribed_topics = fields.List(fields.String())


class TagProviderStatus(Schema):
    is_running = fields.Boolean()
    subscribed_topics = fields.List(fields.String())
    characteristics_count = fields.Integer()
    samples_processed = fields.Integer()
    last_sample_time = DateTime(allow_none=True)
    error_message = fields.String(allow_none=True)


class BufferedSubgroup(Schema):
    characteristic_id = fields.Integer()
    values = fields.Integer()
    since = DateTime()


class BrokerIngestStatus(Schema):
    """Extension (ours): what each broker's listener counted."""

    broker_id = fields.Integer()
    broker_name = fields.String(allow_none=True)
    is_connected = fields.Boolean()
    listener = fields.String(allow_none=True)
    last_message_time = DateTime(allow_none=True)
    counters = fields.Dict()
    buffered_subgroups = fields.List(fields.Nested(BufferedSubgroup))


class ProviderStatus(Schema):
    mqtt = fields.Nested(MqttProviderStatus)
    tag_provider = fields.Nested(TagProviderStatus)
    brokers = fields.List(fields.Nested(BrokerIngestStatus))


class RefreshResponse(Schema):
    message = fields.String()
    characteristics_count = fields.Integer()


@blp.route("/status", methods=["GET"])
@login_required
@blp.response(200, ProviderStatus)
def provider_status():
    return service.provider_status()


@blp.route("/tag/restart", methods=["POST"])
@require_role("engineer")
@blp.doc(responses={"503": {"$ref": "#/components/responses/DEFAULT_ERROR"}})
@blp.response(200, TagProviderStatus)
def restart_tag_provider():
    return service.restart_tag_provider()


@blp.route("/tag/refresh", methods=["POST"])
@require_role("engineer")
@blp.doc(responses={"503": {"$ref": "#/components/responses/DEFAULT_ERROR"}})
@blp.response(200, RefreshResponse)
def refresh_tag_provider():
    return service.refresh_tag_provider()
