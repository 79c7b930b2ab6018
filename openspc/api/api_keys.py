"""Placeholder until the api_keys resource lands."""

from openspc.api.blueprint import Blueprint

blp = Blueprint("api_keys", __name__, url_prefix="/api/v1/api-keys")
