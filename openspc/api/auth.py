"""Placeholder until the auth resource lands."""

from openspc.api.blueprint import Blueprint

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth")
