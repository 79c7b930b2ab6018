"""OPC-UA schemas (api.md §S "OPC-UA") and the node mapping schemas (our extension)."""

from __future__ import annotations

from marshmallow import fields

from openspc.api.schemas.fields import Int
from openspc.api.schemas.paging import page_schema
from openspc.api.validation import DateTime, Length, OneOf, Pattern, Range, Schema

ENDPOINT_PATTERN = r"^opc\.tcp://"
AUTH_MODES = ("anonymous", "username_password")
SECURITY_POLICIES = ("None", "Basic256Sha256")
SECURITY_MODES = ("None", "Sign", "SignAndEncrypt")


class OPCUAServerUpdate(Schema):
    name = fields.String(validate=Length(1, 100))
    endpoint_url = fields.String(validate=[Length(1, 500), Pattern(ENDPOINT_PATTERN)])
    auth_mode = fields.String(validate=OneOf(AUTH_MODES))
    username = fields.String(allow_none=True)
    password = fields.String(allow_none=True, load_only=True)
    security_policy = fields.String(validate=OneOf(SECURITY_POLICIES))
    security_mode = fields.String(validate=OneOf(SECURITY_MODES))
    is_active = fields.Boolean()
    session_timeout = Int(validate=Range(1000, 300000))
    publishing_interval = Int(validate=Range(50, 60000))
    sampling_interval = Int(validate=Range(10, 60000))


class OPCUAServerCreate(Schema):
    name = fields.String(required=True, validate=Length(1, 100))
    endpoint_url = fields.String(required=True,
                                 validate=[Length(1, 500), Pattern(ENDPOINT_PATTERN)])
    auth_mode = fields.String(load_default="anonymous", validate=OneOf(AUTH_MODES))
    username = fields.String(allow_none=True, load_default=None, validate=Length(max=255))
    password = fields.String(allow_none=True, load_default=None, validate=Length(max=255))
    security_policy = fields.String(load_default="None", validate=OneOf(SECURITY_POLICIES))
    security_mode = fields.String(load_default="None", validate=OneOf(SECURITY_MODES))
    is_active = fields.Boolean(load_default=True)
    session_timeout = Int(load_default=30000, validate=Range(1000, 300000))
    publishing_interval = Int(load_default=1000, validate=Range(50, 60000))
    sampling_interval = Int(load_default=250, validate=Range(10, 60000))
    plant_id = Int(allow_none=True, load_default=None)


class OPCUAServerResponse(Schema):
    id = fields.Integer()
    name = fields.String()
    endpoint_url = fields.String()
    auth_mode = fields.String()
    username = fields.String(allow_none=True)
    security_policy = fields.String()
    security_mode = fields.String()
    is_active = fields.Boolean()
    session_timeout = fields.Integer()
    publishing_interval = fields.Integer()
    sampling_interval = fields.Integer()
    plant_id = fields.Integer(allow_none=True)
    created_at = DateTime()
    updated_at = DateTime()


OPCUAServerPage = page_schema(OPCUAServerResponse, "OPCUAServerPage")


class OPCUAServerListQuery(Schema):
    active_only = fields.Boolean(load_default=False)
    plant_id = Int()
    offset = Int(load_default=0, validate=Range(0))
    limit = Int(load_default=100, validate=Range(1, 1000))


class PlantQuery(Schema):
    plant_id = Int()


class OPCUAServerConnectionStatus(Schema):
    server_id = fields.Integer()
    server_name = fields.String()
    endpoint_url = fields.String()
    is_connected = fields.Boolean()
    last_connected = DateTime(allow_none=True)
    error_message = fields.String(allow_none=True)
    monitored_nodes = fields.List(fields.String())
    last_data_at = DateTime(allow_none=True, metadata={
        "description": "Ours: when the listener last received a value from this server"})
    counters = fields.Dict(metadata={
        "description": "Ours: the listener's counters (values, samples, refused by reason, "
                       "values_per_second, reconnects)"})


class OPCUAAllStatesResponse(Schema):
    states = fields.List(fields.Nested(OPCUAServerConnectionStatus))


class OPCUAServerTestRequest(Schema):
    endpoint_url = fields.String(required=True,
                                 validate=[Length(1, 500), Pattern(ENDPOINT_PATTERN)])
    auth_mode = fields.String(load_default="anonymous", validate=OneOf(AUTH_MODES))
    username = fields.String(allow_none=True, load_default=None)
    password = fields.String(allow_none=True, load_default=None)
    timeout = fields.Float(load_default=5.0, validate=Range(1.0, 30.0))


class OPCUAServerTestResponse(Schema):
    success = fields.Boolean()
    message = fields.String()
    latency_ms = fields.Float(allow_none=True)
    server_name = fields.String(allow_none=True)


class BrowseQuery(Schema):
    parent_node_id = fields.String()
    node_id = fields.String(metadata={"description": "Alias of parent_node_id (the reference "
                                                     "frontend's name)"})


class NodeQuery(Schema):
    node_id = fields.String(required=True, validate=Length(1, 500))


class BrowsedNodeResponse(Schema):
    node_id = fields.String()
    browse_name = fields.String()
    display_name = fields.String()
    node_class = fields.String()
    data_type = fields.String(allow_none=True)
    is_readable = fields.Boolean()
    children_count = fields.Integer(allow_none=True)


class NodeValueField(fields.Field):
    """A primitive value as read (str, float, int, bool or null)."""


class NodeValueResponse(Schema):
    node_id = fields.String()
    value = NodeValueField(allow_none=True)
    data_type = fields.String(allow_none=True)
    source_timestamp = DateTime(allow_none=True)
    server_timestamp = DateTime(allow_none=True)
    status_code = fields.String()


class NodeMappingCreate(Schema):
    characteristic_id = Int(required=True)
    server_id = Int(required=True)
    node_id = fields.String(required=True, validate=Length(1, 500))
    sampling_interval = Int(allow_none=True, load_default=None, validate=Range(10, 60000),
                            metadata={"description": "ms; null uses the server's default"})
    publishing_interval = Int(allow_none=True, load_default=None, validate=Range(50, 60000),
                              metadata={"description": "ms; null uses the server's default"})
    trigger_strategy = fields.String(load_default="on_change",
                                     validate=OneOf(("on_change", "on_timer")))


class NodeMappingResponse(Schema):
    data_source_id = fields.Integer()
    characteristic_id = fields.Integer()
    characteristic_name = fields.String()
    server_id = fields.Integer()
    server_name = fields.String(allow_none=True)
    node_id = fields.String()
    sampling_interval = fields.Integer(allow_none=True)
    publishing_interval = fields.Integer(allow_none=True)
    trigger_strategy = fields.String()
    is_active = fields.Boolean()


class NodeMappingQuery(Schema):
    plant_id = Int()
    server_id = Int()
