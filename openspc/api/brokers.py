"""MQTT brokers (api.md §12): configuration, live status, connection test, topic discovery.

Static paths (``all/status``, ``current/status``, ``disconnect``, ``test``) are registered
before ``/<broker_id>``. Departures from the reference are described in
``openspc.services.brokers`` and ``openspc.services.discovery``.
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from openspc.api.blueprint import Blueprint
from openspc.api.schemas.fields import Int
from openspc.api.schemas.paging import page_schema
from openspc.api.validation import DateTime, Length, OneOf, Pattern, Range, Schema
from openspc.auth.roles import login_required, require_role
from openspc.connectors.mqtt.client import BrokerAddress
from openspc.services import brokers as service
from openspc.services import discovery

blp = Blueprint("brokers", __name__, url_prefix="/api/v1/brokers", description="MQTT brokers")


class BrokerUpdate(Schema):
    name = fields.String(validate=Length(1, 100))
    host = fields.String(validate=Length(1, 255))
    port = Int(validate=Range(1, 65535))
    username = fields.String(allow_none=True, validate=Length(None, 100))
    password = fields.String(allow_none=True, validate=Length(None, 255))
    client_id = fields.String(validate=Length(1, 100))
    keepalive = Int(validate=Range(5, 3600))
    max_reconnect_delay = Int(validate=Range(10, 3600))
    use_tls = fields.Boolean()
    is_active = fields.Boolean()
    outbound_enabled = fields.Boolean()
    outbound_topic_prefix = fields.String(validate=Length(None, 200))
    outbound_format = fields.String(validate=Pattern("^(json|sparkplug)$"))
    outbound_rate_limit = fields.Float(allow_nan=False, validate=Range(0.1, 60.0))


class BrokerCreate(BrokerUpdate):
    name = fields.String(required=True, validate=Length(1, 100))
    host = fields.String(required=True, validate=Length(1, 255))
    port = Int(load_default=1883, validate=Range(1, 65535))
    username = fields.String(allow_none=True, load_default=None, validate=Length(None, 100))
    password = fields.String(allow_none=True, load_default=None, validate=Length(None, 255))
    client_id = fields.String(load_default=service.DEFAULT_CLIENT_ID, validate=Length(1, 100))
    keepalive = Int(load_default=60, validate=Range(5, 3600))
    max_reconnect_delay = Int(load_default=300, validate=Range(10, 3600))
    use_tls = fields.Boolean(load_default=False)
    is_active = fields.Boolean(load_default=True)
    plant_id = Int(allow_none=True, load_default=None)
    outbound_enabled = fields.Boolean(load_default=False)
    outbound_topic_prefix = fields.String(load_default="openspc", validate=Length(None, 200))
    outbound_format = fields.String(load_default="json", validate=Pattern("^(json|sparkplug)$"))
    outbound_rate_limit = fields.Float(load_default=1.0, allow_nan=False,
                                       validate=Range(0.1, 60.0))


class BrokerResponse(Schema):
    id = fields.Integer()
    name = fields.String()
    host = fields.String()
    port = fields.Integer()
    username = fields.String(allow_none=True)
    client_id = fields.String()
    keepalive = fields.Integer()
    max_reconnect_delay = fields.Integer()
    use_tls = fields.Boolean()
    is_active = fields.Boolean()
    plant_id = fields.Integer(allow_none=True)
    outbound_enabled = fields.Boolean()
    outbound_topic_prefix = fields.String()
    outbound_format = fields.String()
    outbound_rate_limit = fields.Float()
    created_at = DateTime()
    updated_at = DateTime()


BrokerPage = page_schema(BrokerResponse, "BrokerPage")


class BrokerListQuery(Schema):
    active_only = fields.Boolean(load_default=False)
    plant_id = Int()
    offset = Int(load_default=0, validate=Range(0))
    limit = Int(load_default=100, validate=Range(1, 1000))


class PlantQuery(Schema):
    plant_id = Int()


class BrokerConnectionStatus(Schema):
    broker_id = fields.Integer()
    broker_name = fields.String()
    is_connected = fields.Boolean()
    last_connected = DateTime(allow_none=True)
    error_message = fields.String(allow_none=True)
    subscribed_topics = fields.List(fields.String())


class BrokerAllStates(Schema):
    states = fields.List(fields.Nested(BrokerConnectionStatus))


class BrokerTestRequest(Schema):
    host = fields.String(required=True, validate=Length(1, 255))
    port = Int(load_default=1883, validate=Range(1, 65535))
    username = fields.String(allow_none=True, load_default=None)
    password = fields.String(allow_none=True, load_default=None)
    use_tls = fields.Boolean(load_default=False)


class BrokerTestResponse(Schema):
    success = fields.Boolean()
    message = fields.String()
    latency_ms = fields.Float(allow_none=True)


class Message(Schema):
    message = fields.String()


class MetricInfo(Schema):
    name = fields.String()
    data_type = fields.String()


class DiscoveredTopic(Schema):
    topic = fields.String()
    message_count = fields.Integer()
    last_seen = DateTime()
    last_payload_size = fields.Integer()
    is_sparkplug = fields.Boolean()
    sparkplug_group = fields.String(allow_none=True)
    sparkplug_node = fields.String(allow_none=True)
    sparkplug_device = fields.String(allow_none=True)
    sparkplug_message_type = fields.String(allow_none=True)
    sparkplug_metrics = fields.List(fields.Nested(MetricInfo))


class TopicsQuery(Schema):
    format = fields.String(load_default="flat", validate=OneOf(["flat", "tree"]))
    search = fields.String()


@blp.route("/", methods=["GET"])
@login_required
@blp.arguments(BrokerListQuery, location="query")
@blp.response(200, BrokerPage)
def list_brokers(query: dict[str, Any]):
    return service.list_brokers(**query)


@blp.route("/", methods=["POST"])
@require_role("engineer")
@blp.arguments(BrokerCreate)
@blp.response(201, BrokerResponse)
def create_broker(body: dict[str, Any]):
    return service.create_broker(body)


@blp.route("/all/status", methods=["GET"])
@login_required
@blp.arguments(PlantQuery, location="query")
@blp.response(200, BrokerAllStates)
def all_statuses(query: dict[str, Any]):
    return service.all_statuses(query.get("plant_id"))


@blp.route("/current/status", methods=["GET"])
@login_required
@blp.response(200, BrokerConnectionStatus)
def current_status():
    return service.current_status()


@blp.route("/disconnect", methods=["POST"])
@require_role("engineer")
@blp.response(200, Message)
def disconnect_all():
    """Deactivates every broker: the listeners disconnect within about a second."""
    service.deactivate_all()
    discovery.stop_all()
    return {"message": "Disconnected from MQTT broker"}


@blp.route("/test", methods=["POST"])
@require_role("engineer")
@blp.arguments(BrokerTestRequest)
@blp.response(200, BrokerTestResponse)
def test_connection(body: dict[str, Any]):
    return service.test_connection(BrokerAddress(**body))


@blp.route("/<int:broker_id>", methods=["GET"])
@login_required
@blp.response(200, BrokerResponse)
def get_broker(broker_id: int):
    return service.describe(service.get_broker(broker_id))


@blp.route("/<int:broker_id>", methods=["PATCH"])
@require_role("engineer")
@blp.arguments(BrokerUpdate)
@blp.response(200, BrokerResponse)
def update_broker(changes: dict[str, Any], broker_id: int):
    return service.update_broker(broker_id, changes)


@blp.route("/<int:broker_id>", methods=["DELETE"])
@require_role("admin")
@blp.response(204)
def delete_broker(broker_id: int):
    service.delete_broker(broker_id)
    discovery.stop_discovery(broker_id)


@blp.route("/<int:broker_id>/activate", methods=["POST"])
@require_role("engineer")
@blp.response(200, BrokerResponse)
def activate_broker(broker_id: int):
    return service.activate_broker(broker_id)


@blp.route("/<int:broker_id>/status", methods=["GET"])
@login_required
@blp.response(200, BrokerConnectionStatus)
def broker_status(broker_id: int):
    return service.broker_status(broker_id)


@blp.route("/<int:broker_id>/connect", methods=["POST"])
@require_role("engineer")
@blp.response(200, BrokerConnectionStatus)
def connect_broker(broker_id: int):
    return service.connect_broker(broker_id)


@blp.route("/<int:broker_id>/discover", methods=["POST"])
@require_role("engineer")
@blp.response(202, Message)
def start_discovery(broker_id: int):
    return {"message": discovery.start_discovery(broker_id)}


@blp.route("/<int:broker_id>/discover", methods=["DELETE"])
@require_role("engineer")
@blp.response(200, Message)
def stop_discovery(broker_id: int):
    service.get_broker(broker_id)
    return {"message": discovery.stop_discovery(broker_id)}


@blp.route("/<int:broker_id>/topics", methods=["GET"])
@require_role("engineer")
@blp.arguments(TopicsQuery, location="query")
@blp.response(200)
def discovered_topics(query: dict[str, Any], broker_id: int):
    """Flat: a list of DiscoveredTopicResponse; tree: one TopicTreeNodeResponse (the root)."""
    service.get_broker(broker_id)
    if query["format"] == "tree":
        return discovery.topic_tree(broker_id)
    return DiscoveredTopic(many=True).dump(discovery.flat_topics(broker_id, query.get("search")))
