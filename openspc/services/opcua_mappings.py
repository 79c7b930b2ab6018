"""Mapping OPC-UA nodes to characteristics through REST (ours: the reference had no way).

Shaped like the tags mapping (api.md §13): a characteristic has at most one data source, and
mapping it replaces whatever source it had. A node is addressed by server *and* node id
(G-18), so the same node id on two servers feeds two different characteristics, and one node
may feed several characteristics, as one MQTT topic may.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from openspc.auth.roles import check_plant_role
from openspc.connectors.opcua.browse import InvalidNodeId, parse_node_id
from openspc.errors import BadRequest, NotFound, field_error
from openspc.extensions import db
from openspc.models import Characteristic, DataSource, Hierarchy, OpcuaDataSource, OpcuaServer, User
from openspc.services.listener_config import config_changed
from openspc.services.opcua_servers import KIND, get_server
from openspc.services.ownership import get_characteristic_or_404, plant_of_characteristic
from openspc.services.transaction import transactional
from openspc.spc import ChartType

STRATEGIES = ("on_change", "on_timer")


def _view(source: OpcuaDataSource, characteristic: Characteristic,
          server: OpcuaServer | None) -> dict[str, Any]:
    return {
        "data_source_id": source.id, "characteristic_id": characteristic.id,
        "characteristic_name": characteristic.name, "server_id": source.server_id,
        "server_name": server.name if server else None, "node_id": source.node_id,
        "sampling_interval": source.sampling_interval,
        "publishing_interval": source.publishing_interval,
        "trigger_strategy": source.trigger_strategy, "is_active": source.is_active,
    }


def list_mappings(plant_id: int | None = None, server_id: int | None = None
                  ) -> list[dict[str, Any]]:
    query = (
        sa.select(OpcuaDataSource, Characteristic, OpcuaServer)
        .join(Characteristic, Characteristic.id == OpcuaDataSource.characteristic_id)
        .join(OpcuaServer, OpcuaServer.id == OpcuaDataSource.server_id)
        .order_by(OpcuaDataSource.id)
    )
    if plant_id is not None:
        query = query.join(Hierarchy, Hierarchy.id == Characteristic.hierarchy_id).where(
            Hierarchy.plant_id == plant_id)
    if server_id is not None:
        query = query.where(OpcuaDataSource.server_id == server_id)
    return [_view(*row) for row in db.session.execute(query).all()]


@transactional
def map_node(user: User, body: dict[str, Any]) -> dict[str, Any]:
    """Create the node's data source for the characteristic, replacing any source it had."""
    characteristic = get_characteristic_or_404(body["characteristic_id"])
    plant_id = plant_of_characteristic(characteristic.id)
    check_plant_role(user, plant_id, "engineer")
    server = get_server(body["server_id"])
    if server.plant_id is not None and plant_id is not None and server.plant_id != plant_id:
        raise BadRequest(f"OPC-UA server {server.id} belongs to another plant than "
                         f"characteristic {characteristic.id}")
    if ChartType(characteristic.chart_type).is_attribute:
        raise field_error(["body", "characteristic_id"],
                          "Value error, OPC-UA values feed variables charts only, not a "
                          f"{characteristic.chart_type} chart", characteristic.id)
    try:
        node_id = parse_node_id(body["node_id"]).to_string()
    except InvalidNodeId as error:
        raise field_error(["body", "node_id"], f"Value error, {error}", body["node_id"]) from None
    for previous in db.session.execute(sa.select(DataSource).where(
            DataSource.characteristic_id == characteristic.id)).scalars():
        db.session.delete(previous)
    db.session.flush()
    source = OpcuaDataSource(
        characteristic_id=characteristic.id, server_id=server.id, node_id=node_id,
        sampling_interval=body.get("sampling_interval"),
        publishing_interval=body.get("publishing_interval"),
        trigger_strategy=body.get("trigger_strategy", "on_change"), is_active=True,
    )
    db.session.add(source)
    db.session.flush()
    config_changed(KIND)
    return _view(source, characteristic, server)


@transactional
def unmap(user: User, characteristic_id: int) -> None:
    check_plant_role(user, plant_of_characteristic(characteristic_id), "engineer")
    source = db.session.execute(
        sa.select(OpcuaDataSource).where(OpcuaDataSource.characteristic_id == characteristic_id)
    ).scalar()
    if source is None:
        raise NotFound(f"No OPC-UA mapping for characteristic {characteristic_id}")
    db.session.delete(source)
    config_changed(KIND)
