"""OPC-UA servers (api.md §14) and node mappings (ours).

Static paths (``test``, ``all/status``, ``mappings``, ``map``) are matched before
``/{server_id}``. Compatibility aliases for the reference frontend (G-12): ``browse`` takes
``node_id`` as well as ``parent_node_id``, and ``/{server_id}/read`` answers as
``/{server_id}/browse/value``.

Node mappings are our extension (the reference could not create an OPC-UA data source):
``GET /mappings``, ``POST /map`` and ``DELETE /map/{characteristic_id}``, shaped like the
tags mapping of api.md §13.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from openspc.api.blueprint import Blueprint
from openspc.api.schemas.opcua import (
    BrowsedNodeResponse,
    BrowseQuery,
    NodeMappingCreate,
    NodeMappingQuery,
    NodeMappingResponse,
    NodeQuery,
    NodeValueResponse,
    OPCUAAllStatesResponse,
    OPCUAServerConnectionStatus,
    OPCUAServerCreate,
    OPCUAServerListQuery,
    OPCUAServerPage,
    OPCUAServerResponse,
    OPCUAServerTestRequest,
    OPCUAServerTestResponse,
    OPCUAServerUpdate,
    PlantQuery,
)
from openspc.auth.current import current_user
from openspc.auth.roles import login_required, require_role
from openspc.services import opcua_mappings as mappings
from openspc.services import opcua_servers as service

blp = Blueprint("opcua_servers", __name__, url_prefix="/api/v1/opcua-servers",
                description="OPC-UA servers and node mappings")


@blp.route("/", methods=["GET"])
@login_required
@blp.arguments(OPCUAServerListQuery, location="query")
@blp.response(200, OPCUAServerPage)
def list_servers(query: dict[str, Any]):
    return service.list_servers(**query)


@blp.route("/", methods=["POST"])
@require_role("engineer")
@blp.arguments(OPCUAServerCreate)
@blp.response(201, OPCUAServerResponse)
def create_server(body: dict[str, Any]):
    return service.create_server(body)


@blp.route("/test", methods=["POST"])
@require_role("engineer")
@blp.arguments(OPCUAServerTestRequest)
@blp.response(200, OPCUAServerTestResponse)
def test_server(body: dict[str, Any]):
    return asdict(service.test_server(body))


@blp.route("/all/status", methods=["GET"])
@login_required
@blp.arguments(PlantQuery, location="query")
@blp.response(200, OPCUAAllStatesResponse)
def all_statuses(query: dict[str, Any]):
    return service.all_statuses(query.get("plant_id"))


@blp.route("/mappings", methods=["GET"])
@require_role("engineer")
@blp.arguments(NodeMappingQuery, location="query")
@blp.response(200, NodeMappingResponse(many=True))
def list_mappings(query: dict[str, Any]):
    """Ours: the OPC-UA data sources, one per mapped characteristic."""
    return mappings.list_mappings(query.get("plant_id"), query.get("server_id"))


@blp.route("/map", methods=["POST"])
@require_role("engineer")
@blp.arguments(NodeMappingCreate)
@blp.response(200, NodeMappingResponse)
def map_node(body: dict[str, Any]):
    """Ours: map a node (server + node id) to a characteristic, replacing the data source it
    had. The listener owning the server subscribes the node within about a second."""
    return mappings.map_node(current_user(), body)


@blp.route("/map/<int:characteristic_id>", methods=["DELETE"])
@require_role("engineer")
@blp.response(204)
def unmap(characteristic_id: int):
    """Ours: remove the characteristic's OPC-UA data source."""
    mappings.unmap(current_user(), characteristic_id)


@blp.route("/<int:server_id>", methods=["GET"])
@login_required
@blp.response(200, OPCUAServerResponse)
def get_server(server_id: int):
    return service.server_view(service.get_server(server_id))


@blp.route("/<int:server_id>", methods=["PATCH"])
@require_role("engineer")
@blp.arguments(OPCUAServerUpdate)
@blp.response(200, OPCUAServerResponse)
def update_server(body: dict[str, Any], server_id: int):
    return service.update_server(server_id, body)


@blp.route("/<int:server_id>", methods=["DELETE"])
@require_role("admin")
@blp.response(204)
def delete_server(server_id: int):
    service.delete_server(server_id)


@blp.route("/<int:server_id>/connect", methods=["POST"])
@require_role("engineer")
@blp.response(200, OPCUAServerConnectionStatus)
def connect_server(server_id: int):
    return service.connect_server(server_id)


@blp.route("/<int:server_id>/disconnect", methods=["POST"])
@require_role("engineer")
@blp.response(200, OPCUAServerConnectionStatus)
def disconnect_server(server_id: int):
    return service.disconnect_server(server_id)


@blp.route("/<int:server_id>/status", methods=["GET"])
@login_required
@blp.response(200, OPCUAServerConnectionStatus)
def server_status(server_id: int):
    return service.server_status(server_id)


@blp.route("/<int:server_id>/browse", methods=["GET"])
@require_role("engineer")
@blp.arguments(BrowseQuery, location="query")
@blp.response(200, BrowsedNodeResponse(many=True))
def browse(query: dict[str, Any], server_id: int):
    parent = query.get("parent_node_id") or query.get("node_id")
    return [asdict(node) for node in service.browse(server_id, parent)]


@blp.route("/<int:server_id>/browse/value", methods=["GET"])
@require_role("engineer")
@blp.arguments(NodeQuery, location="query")
@blp.response(200, NodeValueResponse)
def read_value(query: dict[str, Any], server_id: int):
    return asdict(service.read_value(server_id, query["node_id"]))


@blp.route("/<int:server_id>/read", methods=["GET"])
@require_role("engineer")
@blp.arguments(NodeQuery, location="query")
@blp.response(200, NodeValueResponse)
def read_value_alias(query: dict[str, Any], server_id: int):
    """The reference frontend's name for ``browse/value``."""
    return asdict(service.read_value(server_id, query["node_id"]))
