"""Characteristic definition routes (api.md §5): list, create, read, update, delete, rules.

The limits lifecycle and chart-data routes of §5 live in their own module.

Role checks: writes need engineer at any plant (before validation) and engineer at the
characteristic's plant (after the 404). ``PUT rules`` is "engineer at any plant" in the
reference; we also require engineer at the owning plant, closing that gap. Reads need
operator at the plant, and the list shows only readable plants.
"""

from __future__ import annotations

from flask.views import MethodView

from openspc.api.blueprint import Blueprint
from openspc.api.schemas.characteristics import (
    CharacteristicCreateSchema,
    CharacteristicListQuerySchema,
    CharacteristicPageSchema,
    CharacteristicResponseSchema,
    CharacteristicUpdateSchema,
    NelsonRuleConfigSchema,
    NelsonRuleResponseSchema,
)
from openspc.auth.current import current_user
from openspc.auth.roles import login_required, require_role
from openspc.services import characteristics as service
from openspc.services.ownership import authorize_characteristic, authorize_node
from openspc.services.rules import rule_settings, update_rules

blp = Blueprint(
    "characteristics", __name__, url_prefix="/api/v1/characteristics",
    description="Characteristics (control charts)",
)


@blp.route("/")
class Characteristics(MethodView):
    @login_required
    @blp.arguments(CharacteristicListQuerySchema, location="query")
    @blp.response(200, CharacteristicPageSchema)
    def get(self, query):
        return service.list_characteristics(current_user(), query)

    @require_role("engineer")
    @blp.arguments(CharacteristicCreateSchema)
    @blp.response(201, CharacteristicResponseSchema)
    def post(self, data):
        authorize_node(current_user(), data["hierarchy_id"], "engineer")
        return service.describe_one(service.create_characteristic(data))


@blp.route("/<int:char_id>")
class CharacteristicItem(MethodView):
    @login_required
    @blp.response(200, CharacteristicResponseSchema)
    def get(self, char_id):
        return service.describe_one(authorize_characteristic(current_user(), char_id, "operator"))

    @require_role("engineer")
    @blp.arguments(CharacteristicUpdateSchema)
    @blp.response(200, CharacteristicResponseSchema)
    def patch(self, data, char_id):
        characteristic = authorize_characteristic(current_user(), char_id, "engineer")
        return service.describe_one(
            service.update_characteristic(current_user(), characteristic, data)
        )

    @require_role("engineer")
    @blp.response(204)
    def delete(self, char_id):
        service.delete_characteristic(authorize_characteristic(current_user(), char_id, "engineer"))


@blp.route("/<int:char_id>/rules")
class CharacteristicRules(MethodView):
    @login_required
    @blp.response(200, NelsonRuleResponseSchema(many=True))
    def get(self, char_id):
        return rule_settings(authorize_characteristic(current_user(), char_id, "operator"))

    @require_role("engineer")
    @blp.arguments(NelsonRuleConfigSchema(many=True))
    @blp.response(200, NelsonRuleResponseSchema(many=True))
    def put(self, items, char_id):
        """Update the listed rules only (G-17). Engineer at the owning plant, not merely at
        any plant as the reference checks (a gap we close)."""
        return update_rules(authorize_characteristic(current_user(), char_id, "engineer"), items)
