"""Placeholder until the samples resource lands."""

from openspc.api.blueprint import Blueprint

blp = Blueprint("samples", __name__, url_prefix="/api/v1/samples")
