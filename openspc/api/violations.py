"""Violation routes (api.md §10): list, statistics, reason codes, read, acknowledge.

``/stats`` and ``/reason-codes`` are static paths, matched before ``/{violation_id}``.
Acknowledging needs supervisor at the violation's plant (checked after the 404); the batch
route needs only a login and checks each violation's plant, as the reference.
"""

from __future__ import annotations

from flask.views import MethodView

from openspc.api.blueprint import Blueprint
from openspc.api.schemas.violations import (
    BatchAcknowledgeResultSchema,
    BatchAcknowledgeSchema,
    ViolationAcknowledgeSchema,
    ViolationListQuerySchema,
    ViolationPageSchema,
    ViolationResponseSchema,
    ViolationStatsQuerySchema,
    ViolationStatsSchema,
)
from openspc.auth.current import current_user
from openspc.auth.roles import login_required
from openspc.services import violations as service

blp = Blueprint(
    "violations", __name__, url_prefix="/api/v1/violations", description="Rule violations"
)


@blp.route("/")
class Violations(MethodView):
    @login_required
    @blp.arguments(ViolationListQuerySchema, location="query")
    @blp.response(200, ViolationPageSchema)
    def get(self, query):
        return service.list_violations(current_user(), query)


@blp.route("/stats")
class ViolationStats(MethodView):
    @login_required
    @blp.arguments(ViolationStatsQuerySchema, location="query")
    @blp.response(200, ViolationStatsSchema)
    def get(self, query):
        return service.violation_stats(current_user(), query)


@blp.route("/reason-codes")
class ReasonCodes(MethodView):
    @login_required
    @blp.response(200)
    def get(self):
        return service.REASON_CODES


@blp.route("/batch-acknowledge")
class BatchAcknowledge(MethodView):
    @login_required
    @blp.arguments(BatchAcknowledgeSchema)
    @blp.response(200, BatchAcknowledgeResultSchema)
    def post(self, data):
        return service.batch_acknowledge(current_user(), data)


@blp.route("/<int:violation_id>")
class ViolationItem(MethodView):
    @login_required
    @blp.response(200, ViolationResponseSchema)
    def get(self, violation_id):
        return service.get_violation(current_user(), violation_id)


@blp.route("/<int:violation_id>/acknowledge")
class Acknowledge(MethodView):
    @login_required
    @blp.arguments(ViolationAcknowledgeSchema)
    @blp.response(200, ViolationResponseSchema)
    def post(self, data, violation_id):
        return service.acknowledge(current_user(), violation_id, data)
