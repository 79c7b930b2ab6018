"""Hierarchy routes (api.md §4): ``/api/v1/hierarchy`` and ``/api/v1/plants/{id}/hierarchies``.

The reference checks no plant role here; reads need operator and writes engineer at the
node's plant (plant-less legacy nodes: the role at any plant).
"""

from __future__ import annotations

from flask.views import MethodView

from openspc.api.blueprint import Blueprint
from openspc.api.schemas.characteristics import CharacteristicResponseSchema
from openspc.api.schemas.hierarchy import (
    HierarchyCreateSchema,
    HierarchyResponseSchema,
    HierarchyTreeNodeSchema,
    HierarchyUpdateSchema,
    NodeCharacteristicsQuerySchema,
)
from openspc.auth.current import current_user
from openspc.auth.roles import check_plant_role, login_required, require_role
from openspc.services import hierarchy as service
from openspc.services.ownership import authorize_node, get_plant_or_404

blp = Blueprint("hierarchy", __name__, url_prefix="/api/v1", description="Equipment hierarchy")


@blp.route("/hierarchy/")
class HierarchyRoots(MethodView):
    @login_required
    @blp.response(200, HierarchyTreeNodeSchema(many=True))
    def get(self):
        """Trees of every plant the caller may read."""
        return service.tree(current_user())

    @require_role("engineer")
    @blp.arguments(HierarchyCreateSchema)
    @blp.response(201, HierarchyResponseSchema)
    def post(self, data):
        """A plant-less root (legacy path), or a child in its parent's plant."""
        return service.create_node(current_user(), data)


@blp.route("/hierarchy/<int:node_id>")
class HierarchyNode(MethodView):
    @login_required
    @blp.response(200, HierarchyResponseSchema)
    def get(self, node_id):
        return authorize_node(current_user(), node_id, "operator")

    @require_role("engineer")
    @blp.arguments(HierarchyUpdateSchema)
    @blp.response(200, HierarchyResponseSchema)
    def patch(self, data, node_id):
        return service.update_node(authorize_node(current_user(), node_id, "engineer"), data)

    @require_role("engineer")
    @blp.response(204)
    def delete(self, node_id):
        service.delete_node(authorize_node(current_user(), node_id, "engineer"))


@blp.route("/hierarchy/<int:node_id>/characteristics")
class HierarchyNodeCharacteristics(MethodView):
    @login_required
    @blp.arguments(NodeCharacteristicsQuerySchema, location="query")
    @blp.response(200, CharacteristicResponseSchema(many=True))
    def get(self, query, node_id):
        node = authorize_node(current_user(), node_id, "operator")
        return service.node_characteristics(node, query["include_descendants"])


@blp.route("/plants/<int:plant_id>/hierarchies/")
class PlantHierarchies(MethodView):
    @login_required
    @blp.response(200, HierarchyTreeNodeSchema(many=True))
    def get(self, plant_id):
        get_plant_or_404(plant_id)
        check_plant_role(current_user(), plant_id, "operator")
        return service.tree(current_user(), plant_id)

    @require_role("engineer")
    @blp.arguments(HierarchyCreateSchema)
    @blp.response(201, HierarchyResponseSchema)
    def post(self, data, plant_id):
        return service.create_node(current_user(), data, plant_id)
