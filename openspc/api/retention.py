"""Retention routes (api.md §17): ``/api/v1/retention``.

Writes need engineer at any plant (before validation) and engineer at the target's plant;
the manual purge needs admin. Reads need a role at the plant, as every other read here
(the reference let any user read any plant's retention, ops.md §12 gap 19).
"""

from __future__ import annotations

from typing import Any

from flask import jsonify

from openspc import get_settings
from openspc.api.blueprint import Blueprint
from openspc.api.documentation import nullable
from openspc.api.schemas.retention import (
    ActivityQuerySchema,
    EffectiveRetentionResponseSchema,
    NextPurgeResponseSchema,
    PlantQuerySchema,
    PurgeDryRunResponseSchema,
    PurgeHistoryResponseSchema,
    PurgeQuerySchema,
    RetentionOverrideResponseSchema,
    RetentionPolicyResponseSchema,
    RetentionPolicySetSchema,
)
from openspc.auth.current import current_user
from openspc.auth.roles import check_plant_role, login_required, require_role
from openspc.services import purge
from openspc.services import retention as service
from openspc.services.ownership import authorize_characteristic, authorize_node, get_plant_or_404

blp = Blueprint(
    "retention", __name__, url_prefix="/api/v1/retention",
    description="Retention policies and the purge",
)

PURGE_WAIT_SECONDS = 30.0
"""How long a manual purge waits for a run in progress elsewhere before answering 409."""


def _policy_or_null(policy: Any):
    return jsonify(None) if policy is None else policy


def _readable_plant(plant_id: int) -> None:
    check_plant_role(current_user(), plant_id, "operator")


@blp.route("/default", methods=["GET"])
@login_required
@blp.arguments(PlantQuerySchema, location="query")
@blp.response(200, RetentionPolicyResponseSchema)
@blp.doc(responses={"200": nullable("RetentionPolicyResponse")})
def get_default(query: dict[str, Any]):
    """The plant's default policy, or ``null`` (its data is kept forever)."""
    _readable_plant(query["plant_id"])
    return _policy_or_null(service.get_default(query["plant_id"]))


@blp.route("/default", methods=["PUT"])
@require_role("engineer")
@blp.arguments(PlantQuerySchema, location="query")
@blp.arguments(RetentionPolicySetSchema)
@blp.response(200, RetentionPolicyResponseSchema)
def set_default(query: dict[str, Any], body: dict[str, Any]):
    return service.set_default(current_user(), query["plant_id"], body)


@blp.route("/hierarchy/<int:hierarchy_id>", methods=["GET"])
@login_required
@blp.response(200, RetentionPolicyResponseSchema)
@blp.doc(responses={"200": nullable("RetentionPolicyResponse")})
def get_node_policy(hierarchy_id: int):
    authorize_node(current_user(), hierarchy_id, "operator")
    return _policy_or_null(service.get_node_policy(hierarchy_id)[1])


@blp.route("/hierarchy/<int:hierarchy_id>", methods=["PUT"])
@require_role("engineer")
@blp.arguments(RetentionPolicySetSchema)
@blp.response(200, RetentionPolicyResponseSchema)
def set_node_policy(body: dict[str, Any], hierarchy_id: int):
    return service.set_node_policy(current_user(), hierarchy_id, body)


@blp.route("/hierarchy/<int:hierarchy_id>", methods=["DELETE"])
@require_role("engineer")
@blp.response(204)
def delete_node_policy(hierarchy_id: int):
    service.delete_node_policy(current_user(), hierarchy_id)


@blp.route("/characteristic/<int:characteristic_id>", methods=["GET"])
@login_required
@blp.response(200, RetentionPolicyResponseSchema)
@blp.doc(responses={"200": nullable("RetentionPolicyResponse")})
def get_characteristic_policy(characteristic_id: int):
    authorize_characteristic(current_user(), characteristic_id, "operator")
    return _policy_or_null(service.get_characteristic_policy(characteristic_id)[1])


@blp.route("/characteristic/<int:characteristic_id>", methods=["PUT"])
@require_role("engineer")
@blp.arguments(RetentionPolicySetSchema)
@blp.response(200, RetentionPolicyResponseSchema)
def set_characteristic_policy(body: dict[str, Any], characteristic_id: int):
    return service.set_characteristic_policy(current_user(), characteristic_id, body)


@blp.route("/characteristic/<int:characteristic_id>", methods=["DELETE"])
@require_role("engineer")
@blp.response(204)
def delete_characteristic_policy(characteristic_id: int):
    service.delete_characteristic_policy(current_user(), characteristic_id)


@blp.route("/characteristic/<int:characteristic_id>/effective", methods=["GET"])
@login_required
@blp.response(200, EffectiveRetentionResponseSchema)
def effective_policy(characteristic_id: int):
    """Characteristic override, else the nearest ancestor node's, else the plant default,
    else forever (``source: "default"``)."""
    authorize_characteristic(current_user(), characteristic_id, "operator")
    return service.effective_policy(characteristic_id)


@blp.route("/overrides", methods=["GET"])
@login_required
@blp.arguments(PlantQuerySchema, location="query")
@blp.response(200, RetentionOverrideResponseSchema(many=True))
def list_overrides(query: dict[str, Any]):
    _readable_plant(query["plant_id"])
    return service.list_overrides(query["plant_id"])


@blp.route("/activity", methods=["GET"])
@login_required
@blp.arguments(ActivityQuerySchema, location="query")
@blp.response(200, PurgeHistoryResponseSchema(many=True))
def activity(query: dict[str, Any]):
    """The plant's purge runs, newest first."""
    _readable_plant(query["plant_id"])
    return service.recent_runs(query["plant_id"], query["limit"])


@blp.route("/next-purge", methods=["GET"])
@login_required
@blp.arguments(PlantQuerySchema, location="query")
@blp.response(200, NextPurgeResponseSchema)
def next_purge(query: dict[str, Any]):
    _readable_plant(query["plant_id"])
    return service.next_purge(query["plant_id"], get_settings().purge_interval_hours)


@blp.route("/purge", methods=["POST"])
@require_role("admin")
@blp.arguments(PurgeQuerySchema, location="query")
@blp.response(200, PurgeHistoryResponseSchema)
@blp.alt_response(200, schema=PurgeDryRunResponseSchema, description="with dry_run=true",
                  success=True)
def run_purge(query: dict[str, Any]):
    """Purge the plant now, in this request, and return its history row. With
    ``dry_run=true``: report what would be deleted, per characteristic, deleting nothing."""
    plant_id = query["plant_id"]
    get_plant_or_404(plant_id)
    check_plant_role(current_user(), plant_id, "admin")
    if query["dry_run"]:
        return jsonify(PurgeDryRunResponseSchema().dump(purge.plan_plant(plant_id).as_dict()))
    return purge.purge_plant(plant_id, wait=PURGE_WAIT_SECONDS)
