"""Placeholder until the annotations resource lands."""

from openspc.api.blueprint import Blueprint

blp = Blueprint("annotations", __name__, url_prefix="/api/v1/annotations")
