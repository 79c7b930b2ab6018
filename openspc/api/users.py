"""Placeholder until the users resource lands."""

from openspc.api.blueprint import Blueprint

blp = Blueprint("users", __name__, url_prefix="/api/v1/users")
