"""Data-entry routes (api.md §9): submit one sample or a batch with a user token or an API
key, and the self-describing schema. The reference's routes always failed (G-3); these do
what its table describes. A key is limited to the characteristics in its ``permissions``;
a user needs operator at the characteristic's plant (the reference checked no role).
"""

from __future__ import annotations

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask.views import MethodView

from openspc import get_settings
from openspc.api.blueprint import Blueprint
from openspc.api.documentation import sample_body
from openspc.api.schemas.samples import (
    BatchEntryRequestSchema,
    BatchEntryResponseSchema,
    DataEntryRequestSchema,
    DataEntryResponseSchema,
    to_input,
)
from openspc.auth.current import current_caller
from openspc.auth.dual import user_or_api_key
from openspc.extensions import limiter
from openspc.services import samples as service

blp = Blueprint(
    "data_entry", __name__, url_prefix="/api/v1/data-entry",
    description="Data entry for gateways and scripts (API key or token)",
)


@blp.route("/submit")
class Submit(MethodView):
    @user_or_api_key
    @blp.arguments(DataEntryRequestSchema)
    @limiter.limit(lambda: get_settings().rate_limit_data_entry)
    @blp.response(201, DataEntryResponseSchema)
    @blp.doc(requestBody=sample_body("DataEntryRequest"))
    def post(self, data):
        return service.submit_entry(current_caller(), to_input(data["characteristic_id"], data))


@blp.route("/batch")
class Batch(MethodView):
    @user_or_api_key
    @blp.arguments(BatchEntryRequestSchema)
    @blp.response(201, BatchEntryResponseSchema)
    def post(self, data):
        items = [to_input(item["characteristic_id"], item) for item in data["samples"]]
        return service.submit_entries(current_caller(), items)


def _json_schema(schema: type) -> dict:
    """The JSON Schema of a request/response schema, nested schemas inlined."""
    plugin = MarshmallowPlugin(schema_name_resolver=lambda _schema: None)
    APISpec("data-entry", "1", "3.0.3", plugins=[plugin])
    return plugin.converter.schema2jsonschema(schema)


@blp.route("/schema")
class EntrySchema(MethodView):
    @blp.response(200)
    def get(self):
        return {
            "single_sample": {
                "endpoint": "POST /api/v1/data-entry/submit",
                "request": _json_schema(DataEntryRequestSchema),
                "response": _json_schema(DataEntryResponseSchema),
            },
            "batch_sample": {
                "endpoint": "POST /api/v1/data-entry/batch",
                "request": _json_schema(BatchEntryRequestSchema),
                "response": _json_schema(BatchEntryResponseSchema),
            },
            "authentication": {
                "method": "API Key",
                "header": "X-API-Key",
                "description": "Include your API key in the X-API-Key header",
                "example": "X-API-Key: openspc_your_api_key_here",
            },
        }
