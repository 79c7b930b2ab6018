"""Placeholder until the characteristic_config resource lands."""

from openspc.api.blueprint import Blueprint

blp = Blueprint("characteristic_config", __name__, url_prefix="/api/v1/characteristic-config")
