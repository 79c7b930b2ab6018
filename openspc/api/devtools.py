"""Sandbox routes (api.md §18): ``/api/v1/devtools``, registered only when
``OPENSPC_SANDBOX=true`` (otherwise they answer 404, which the web app reads as "no sandbox").
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from openspc.api.blueprint import Blueprint
from openspc.api.validation import Schema
from openspc.auth.current import current_user
from openspc.auth.roles import require_role
from openspc.services import sandbox as service

blp = Blueprint("devtools", __name__, url_prefix="/api/v1/devtools",
                description="Sandbox: seed scripts (OPENSPC_SANDBOX=true only)")


class ScriptSchema(Schema):
    key = fields.String()
    name = fields.String()
    description = fields.String()
    estimated_samples = fields.Integer()


class StatusSchema(Schema):
    sandbox = fields.Boolean()
    scripts = fields.List(fields.Nested(ScriptSchema))


class SeedRequestSchema(Schema):
    script = fields.String(required=True)


class SeedResultSchema(Schema):
    status = fields.String()
    output = fields.String()


@blp.route("/status", methods=["GET"])
@require_role("admin")
@blp.response(200, StatusSchema)
def status():
    return {"sandbox": True, "scripts": service.describe_scripts()}


@blp.route("/reset-and-seed", methods=["POST"])
@require_role("admin")
@blp.arguments(SeedRequestSchema)
@blp.response(200, SeedResultSchema)
def reset_and_seed(body: dict[str, Any]):
    """Destructive: deletes every plant and what it holds, then seeds the script."""
    return {"status": "complete", "output": service.reset_and_seed(current_user(), body["script"])}
