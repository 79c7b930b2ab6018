"""Placeholder until the characteristics resource lands."""

from openspc.api.blueprint import Blueprint

blp = Blueprint("characteristics", __name__, url_prefix="/api/v1/characteristics")
