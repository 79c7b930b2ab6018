"""Placeholder until the data_entry resource lands."""

from openspc.api.blueprint import Blueprint

blp = Blueprint("data_entry", __name__, url_prefix="/api/v1/data-entry")
