"""Placeholder until the plants resource lands."""

from openspc.api.blueprint import Blueprint

blp = Blueprint("plants", __name__, url_prefix="/api/v1/plants")
