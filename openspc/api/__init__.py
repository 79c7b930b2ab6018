"""Blueprint registration: one module per resource."""

from __future__ import annotations

from importlib import import_module

from flask import Flask
from flask_smorest import Api

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
    "opcua_servers",
)


def register_api(app: Flask, api: Api) -> None:
    for name in RESOURCE_MODULES:
        module = import_module(f"openspc.api.{name}")
        api.register_blueprint(module.blp)
