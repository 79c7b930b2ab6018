"""Placeholder until the violations resource lands."""

from openspc.api.blueprint import Blueprint

blp = Blueprint("violations", __name__, url_prefix="/api/v1/violations")
