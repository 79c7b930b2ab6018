"""Characteristic config routes (api.md §6): ``/api/v1/characteristics/{char_id}/config``.

The reference checks engineer at any plant for PUT and DELETE; we also require engineer at
the characteristic's plant (after the 404), closing that gap. GET needs operator there.
"""

from __future__ import annotations

from flask import jsonify
from flask.views import MethodView

from openspc.api.blueprint import Blueprint
from openspc.api.documentation import nullable
from openspc.api.schemas.config import (
    CharacteristicConfigResponseSchema,
    CharacteristicConfigUpdateSchema,
)
from openspc.auth.current import current_user
from openspc.auth.roles import login_required, require_role
from openspc.services import characteristic_config as service
from openspc.services.ownership import authorize_characteristic

blp = Blueprint(
    "characteristic_config", __name__, url_prefix="/api/v1/characteristics",
    description="Characteristic data-collection config",
)


@blp.route("/<int:char_id>/config")
class CharacteristicConfigItem(MethodView):
    @login_required
    @blp.response(200, CharacteristicConfigResponseSchema)
    @blp.doc(responses={"200": nullable("CharacteristicConfigResponse")})
    def get(self, char_id):
        """The stored config, or the literal ``null`` when there is none."""
        config = service.get_config(authorize_characteristic(current_user(), char_id, "operator"))
        return jsonify(None) if config is None else config

    @require_role("engineer")
    @blp.arguments(CharacteristicConfigUpdateSchema)
    @blp.response(200, CharacteristicConfigResponseSchema)
    def put(self, data, char_id):
        """Upsert. Engineer at the owning plant, not merely at any plant as the reference
        checks (a gap we close)."""
        characteristic = authorize_characteristic(current_user(), char_id, "engineer")
        return service.put_config(characteristic, data["config"])

    @require_role("engineer")
    @blp.response(204)
    def delete(self, char_id):
        service.delete_config(authorize_characteristic(current_user(), char_id, "engineer"))
