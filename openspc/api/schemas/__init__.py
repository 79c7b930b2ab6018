"""Marshmallow request/response schemas, one module per resource (api.md §S)."""
