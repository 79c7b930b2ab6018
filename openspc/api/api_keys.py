"""API keys (api.md §11): engineers list, create and update; admins revoke and delete.

Extensions: ``permissions`` (``{"characteristics": "all" | [ids]}``) can be set on create and
update and is returned in every response (the reference fixed it to ``"all"``); ``expires_at``
can also be changed by PATCH. ``rate_limit_per_minute`` is enforced (``openspc.auth.dual``).
A key cannot be created already expired (422), and an admin's revocation is final
(``revoked_at``; PATCH cannot re-enable the key).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError, fields

from openspc.api.blueprint import Blueprint
from openspc.api.validation import DateTime, Length, Range, Schema
from openspc.auth.current import current_user
from openspc.auth.roles import require_role
from openspc.services import api_keys as service

blp = Blueprint("api_keys", __name__, url_prefix="/api/v1/api-keys", description="API keys")


class CharacteristicScope(fields.Field):
    """``"all"`` or a list of characteristic ids (duplicates dropped, order kept)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if value == "all":
            return value
        if isinstance(value, list) and all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
        ):
            return list(dict.fromkeys(value))
        raise ValidationError('characteristics must be "all" or a list of characteristic ids')


class PermissionsSchema(Schema):
    characteristics = CharacteristicScope(required=True)


def in_the_future(value: datetime) -> None:
    """A key created already expired could never be used (pydantic's ``FutureDatetime``)."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if aware <= datetime.now(UTC):
        raise ValidationError("Input should be in the future")


class APIKeyCreate(Schema):
    name = fields.String(required=True, validate=Length(1, 255))
    expires_at = DateTime(allow_none=True, load_default=None, validate=in_the_future)
    rate_limit_per_minute = fields.Integer(load_default=60, validate=Range(1, 1000))
    permissions = fields.Nested(PermissionsSchema, load_default=None)


class APIKeyUpdate(Schema):
    name = fields.String(validate=Length(1, 255))
    is_active = fields.Boolean()
    expires_at = DateTime(allow_none=True)
    rate_limit_per_minute = fields.Integer(validate=Range(1, 1000))
    permissions = fields.Nested(PermissionsSchema)


class APIKeyResponse(Schema):
    id = fields.String()
    name = fields.String()
    created_at = DateTime()
    expires_at = DateTime(allow_none=True)
    last_used_at = DateTime(allow_none=True)
    rate_limit_per_minute = fields.Integer()
    is_active = fields.Boolean()
    permissions = fields.Dict()
    revoked_at = DateTime(allow_none=True)


class APIKeyCreateResponse(APIKeyResponse):
    """The key as stored plus ``key``, the plaintext, returned this once only."""

    key = fields.String()


@blp.route("/", methods=["GET"])
@require_role("engineer")
@blp.response(200, APIKeyResponse(many=True))
def list_api_keys():
    return service.list_api_keys()


@blp.route("/", methods=["POST"])
@require_role("engineer")
@blp.arguments(APIKeyCreate)
@blp.response(201, APIKeyCreateResponse)
def create_api_key(body: dict[str, Any]):
    api_key, plaintext = service.create_api_key(current_user(), **body)
    stored = {name: getattr(api_key, name) for name in APIKeyResponse().fields}
    return {**stored, "key": plaintext}


@blp.route("/<key_id>", methods=["GET"])
@require_role("engineer")
@blp.response(200, APIKeyResponse)
def get_api_key(key_id: str):
    return service.get_api_key(key_id)


@blp.route("/<key_id>", methods=["PATCH"])
@require_role("engineer")
@blp.arguments(APIKeyUpdate)
@blp.response(200, APIKeyResponse)
def update_api_key(changes: dict[str, Any], key_id: str):
    return service.update_api_key(current_user(), key_id, changes)


@blp.route("/<key_id>", methods=["DELETE"])
@require_role("admin")
@blp.response(204)
def delete_api_key(key_id: str):
    service.delete_api_key(key_id)


@blp.route("/<key_id>/revoke", methods=["POST"])
@require_role("admin")
@blp.response(200, APIKeyResponse)
def revoke_api_key(key_id: str):
    return service.revoke_api_key(key_id)
