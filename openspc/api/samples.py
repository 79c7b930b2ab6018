"""Sample routes (api.md §8): list, submit (single and batch), read, edit, exclude, delete,
edit history.

Submitting needs operator at the characteristic's plant (checked after validation and the
404, as the reference); edit, exclude and delete need supervisor at any plant (before
validation) and at the sample's plant. Reads need operator at the plant.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import request
from flask.views import MethodView

from openspc.api.blueprint import Blueprint
from openspc.api.documentation import sample_body
from openspc.api.schemas.samples import (
    BatchImportRequestSchema,
    BatchImportResultSchema,
    SampleCreateSchema,
    SampleEditHistorySchema,
    SampleExcludeSchema,
    SampleListQuerySchema,
    SamplePageSchema,
    SampleProcessingResultSchema,
    SampleResponseSchema,
    SampleUpdateSchema,
    parse_batch_items,
    plain_submission,
    to_input,
)
from openspc.auth.current import bearer_access_token, current_user
from openspc.auth.roles import login_required, require_role
from openspc.services import pg_submission
from openspc.services import samples as service

blp = Blueprint("samples", __name__, url_prefix="/api/v1/samples", description="Samples")

_RESULT = SampleProcessingResultSchema()


def direct_submission(view: Callable) -> Callable:
    """Answer a plain, valid submission on PostgreSQL without the ORM and the schemas
    (:mod:`openspc.services.pg_submission`); anything that path does not take, including
    every error, goes through ``view`` and its decorators as usual."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if pg_submission.available():
            access = bearer_access_token()
            item = plain_submission(request.get_json(silent=True))
            if access is not None and item is not None:
                result = service.create_sample_direct(access.user_id, access.version, item)
                if result is not None:
                    return _RESULT.dump(result), 201
        return view(*args, **kwargs)

    return wrapper


@blp.route("/")
class Samples(MethodView):
    @login_required
    @blp.arguments(SampleListQuerySchema, location="query")
    @blp.response(200, SamplePageSchema)
    def get(self, query):
        return service.list_samples(current_user(), query)

    @direct_submission
    @login_required
    @blp.arguments(SampleCreateSchema)
    @blp.response(201, SampleProcessingResultSchema)
    @blp.doc(requestBody=sample_body("SampleCreate"))
    def post(self, data):
        """Store a sample and answer its verdict; ``status: "pending"`` when the evaluation
        did not finish within OPENSPC_SAMPLE_WAIT_TIMEOUT or the chart has no limits yet."""
        return service.create_sample(current_user(), to_input(data["characteristic_id"], data))


@blp.route("/batch")
class SampleBatch(MethodView):
    @login_required
    @blp.arguments(BatchImportRequestSchema)
    @blp.response(200, BatchImportResultSchema)
    def post(self, data):
        """Import up to 1000 samples in one transaction; a failed item writes nothing and is
        listed in ``errors`` (G-18), the others are stored and evaluated."""
        service.authorize_submission(current_user(), data["characteristic_id"])
        items = parse_batch_items(data["characteristic_id"], data["samples"])
        return service.import_batch(items, evaluate=not data["skip_rule_evaluation"])


@blp.route("/<int:sample_id>")
class SampleItem(MethodView):
    @login_required
    @blp.response(200, SampleResponseSchema)
    def get(self, sample_id):
        return service.get_sample(current_user(), sample_id)

    @require_role("supervisor")
    @blp.arguments(SampleUpdateSchema)
    @blp.response(200, SampleProcessingResultSchema)
    @blp.doc(requestBody=sample_body("SampleUpdate"))
    def put(self, data, sample_id):
        return service.edit_sample(current_user(), sample_id, data)

    @require_role("supervisor")
    @blp.response(204)
    def delete(self, sample_id):
        service.delete_sample(current_user(), sample_id)


@blp.route("/<int:sample_id>/exclude")
class SampleExclude(MethodView):
    @require_role("supervisor")
    @blp.arguments(SampleExcludeSchema)
    @blp.response(200, SampleResponseSchema)
    def patch(self, data, sample_id):
        return service.exclude_sample(current_user(), sample_id, data["is_excluded"])


@blp.route("/<int:sample_id>/history")
class SampleHistory(MethodView):
    @login_required
    @blp.response(200, SampleEditHistorySchema(many=True))
    def get(self, sample_id):
        return service.sample_history(current_user(), sample_id)
