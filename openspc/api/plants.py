"""Plants (api.md §3). Reads are plant-scoped: see ``openspc.services.plants``."""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from openspc.api.blueprint import Blueprint
from openspc.api.validation import DateTime, Length, Pattern, Schema
from openspc.auth.current import current_user
from openspc.auth.roles import login_required, require_role
from openspc.services import plants as service

blp = Blueprint("plants", __name__, url_prefix="/api/v1/plants", description="Plants")

CODE_PATTERN = "^[A-Z0-9_-]+$"


class PlantResponse(Schema):
    id = fields.Integer()
    name = fields.String()
    code = fields.String()
    is_active = fields.Boolean()
    settings = fields.Dict(allow_none=True)
    created_at = DateTime()
    updated_at = DateTime()


class PlantCreate(Schema):
    name = fields.String(required=True, validate=Length(1, 100))
    code = fields.String(required=True, validate=[Length(1, 10), Pattern(CODE_PATTERN)])
    is_active = fields.Boolean(load_default=True)
    settings = fields.Dict(allow_none=True, load_default=None)


class PlantUpdate(Schema):
    name = fields.String(validate=Length(1, 100))
    code = fields.String(validate=[Length(1, 10), Pattern(CODE_PATTERN)])
    is_active = fields.Boolean()
    settings = fields.Dict(allow_none=True)


class PlantListQuery(Schema):
    active_only = fields.Boolean(load_default=False)


@blp.route("/", methods=["GET"])
@login_required
@blp.arguments(PlantListQuery, location="query")
@blp.response(200, PlantResponse(many=True))
def list_plants(query: dict[str, Any]):
    """Only the plants where the caller holds a role (admins: all) — the reference listed all."""
    return service.list_plants(current_user(), **query)


@blp.route("/", methods=["POST"])
@require_role("admin")
@blp.arguments(PlantCreate)
@blp.response(201, PlantResponse)
def create_plant(body: dict[str, Any]):
    return service.create_plant(**body)


@blp.route("/<int:plant_id>", methods=["GET"])
@login_required
@blp.response(200, PlantResponse)
def get_plant(plant_id: int):
    return service.read_plant(current_user(), plant_id)


@blp.route("/<int:plant_id>", methods=["PUT"])
@require_role("admin")
@blp.arguments(PlantUpdate)
@blp.response(200, PlantResponse)
def update_plant(changes: dict[str, Any], plant_id: int):
    return service.update_plant(plant_id, changes)


@blp.route("/<int:plant_id>", methods=["DELETE"])
@require_role("admin")
@blp.response(204)
def delete_plant(plant_id: int):
    service.delete_plant(plant_id)
