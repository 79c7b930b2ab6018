"""Placeholder until the hierarchy resource lands."""

from openspc.api.blueprint import Blueprint

blp = Blueprint("hierarchy", __name__, url_prefix="/api/v1/hierarchy")
