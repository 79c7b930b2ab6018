"""The request parser: webargs errors become the reference's 422 items."""

from __future__ import annotations

from typing import Any

from flask import request
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from openspc.api import request_json
from openspc.api.validation import error_items
from openspc.errors import ValidationFailed


class ApiParser(FlaskParser):
    def load_json(self, req, schema):
        if not req.get_data(cache=True):
            raise ValidationFailed(
                [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}]
            )
        return super().load_json(req, schema)

    def _raw_load_json(self, req):
        if not is_json_request(req):
            return core.missing
        return request_json.parse(req.get_data(cache=True))

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        raise ValidationFailed(error_items(error.messages, _raw_inputs()))

    def _handle_invalid_json_error(self, error, req, *args, **kwargs):
        raise ValidationFailed([{
            "type": "json_invalid", "loc": ["body", getattr(error, "pos", 0)],
            "msg": "JSON decode error", "input": {}, "ctx": {"error": str(error).split(":")[0]},
        }])


def _raw_inputs() -> dict[str, Any]:
    return {
        "json": request.get_json(silent=True),
        "query": request.args.to_dict(),
        "view_args": request.view_args or {},
    }
