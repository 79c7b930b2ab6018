"""Blueprint registration: one module per resource."""

from __future__ import annotations

from importlib import import_module

from flask import Flask
from flask_smorest import Api

from openspc.api.documentation import exclusive_bounds, integer_path_parameter
from openspc.api.routing import LenientIntConverter

RESOURCE_MODULES = (
    "health",
    "auth",
    "users",
    "plants",
    "api_keys",
    "hierarchy",
    "characteristics",
    "limits",
    "characteristic_config",
    "annotations",
    "samples",
    "data_entry",
    "violations",
    "retention",
    "metrics",
    "database_admin",
    "brokers",
    "tags",
    "providers",
)
SANDBOX_MODULES = ("devtools",)


def register_api(app: Flask, api: Api) -> None:
    api.register_converter(LenientIntConverter, integer_path_parameter)
    api.ma_plugin.converter.add_attribute_function(exclusive_bounds)
    sandbox = app.extensions["openspc_settings"].sandbox
    for name in RESOURCE_MODULES + (SANDBOX_MODULES if sandbox else ()):
        module = import_module(f"openspc.api.{name}")
        api.register_blueprint(module.blp)
