"""Users and per-plant roles (api.md §2), admin only; the user schemas the auth routes share."""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from openspc.api.blueprint import Blueprint
from openspc.api.validation import DateTime, Length, Pattern, Schema
from openspc.auth.current import current_user
from openspc.auth.roles import require_role
from openspc.services import users as service

blp = Blueprint("users", __name__, url_prefix="/api/v1/users", description="Users and roles")

ROLE_PATTERN = "^(operator|supervisor|engineer|admin)$"


class PlantRoleResponse(Schema):
    plant_id = fields.Integer()
    plant_name = fields.Function(lambda r: r.plant.name if r.plant else "")
    plant_code = fields.Function(lambda r: r.plant.code if r.plant else "")
    role = fields.String()


class UserResponse(Schema):
    id = fields.Integer()
    username = fields.String()
    email = fields.String(allow_none=True)
    is_active = fields.Boolean()
    created_at = DateTime()
    updated_at = DateTime()


class UserWithRolesResponse(UserResponse):
    plant_roles = fields.List(fields.Nested(PlantRoleResponse))


class UserCreate(Schema):
    username = fields.String(required=True, validate=Length(3, 50))
    email = fields.String(allow_none=True, load_default=None, validate=Length(max=255))
    password = fields.String(required=True, validate=Length(min=8))


class UserUpdate(Schema):
    username = fields.String(validate=Length(3, 50))
    email = fields.String(allow_none=True, validate=Length(max=255))
    password = fields.String(validate=Length(min=8))
    is_active = fields.Boolean()


class PlantRoleAssign(Schema):
    plant_id = fields.Integer(required=True)
    role = fields.String(required=True, validate=Pattern(ROLE_PATTERN))


class UserListQuery(Schema):
    search = fields.String()
    active_only = fields.Boolean(load_default=False)


@blp.route("/", methods=["GET"])
@require_role("admin")
@blp.arguments(UserListQuery, location="query")
@blp.response(200, UserWithRolesResponse(many=True))
def list_users(query: dict[str, Any]):
    return service.list_users(**query)


@blp.route("/", methods=["POST"])
@require_role("admin")
@blp.arguments(UserCreate)
@blp.response(201, UserResponse)
def create_user(body: dict[str, Any]):
    return service.create_user(**body)


@blp.route("/<int:user_id>", methods=["GET"])
@require_role("admin")
@blp.response(200, UserWithRolesResponse)
def get_user(user_id: int):
    return service.get_user(user_id)


@blp.route("/<int:user_id>", methods=["PATCH"])
@require_role("admin")
@blp.arguments(UserUpdate)
@blp.response(200, UserResponse)
def update_user(changes: dict[str, Any], user_id: int):
    return service.update_user(user_id, changes)


@blp.route("/<int:user_id>", methods=["DELETE"])
@require_role("admin")
@blp.response(204)
def deactivate_user(user_id: int):
    service.deactivate_user(current_user(), user_id)


@blp.route("/<int:user_id>/permanent", methods=["DELETE"])
@require_role("admin")
@blp.response(204)
def delete_user(user_id: int):
    service.delete_user(current_user(), user_id)


@blp.route("/<int:user_id>/roles", methods=["POST"])
@require_role("admin")
@blp.arguments(PlantRoleAssign)
@blp.response(200, UserWithRolesResponse)
def assign_role(body: dict[str, Any], user_id: int):
    return service.assign_role(user_id, body["plant_id"], body["role"])


@blp.route("/<int:user_id>/roles/<int:plant_id>", methods=["DELETE"])
@require_role("admin")
@blp.response(204)
def remove_role(user_id: int, plant_id: int):
    service.remove_role(current_user(), user_id, plant_id)
