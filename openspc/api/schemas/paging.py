"""The paged list of api.md §S (``{items, total, offset, limit}``), one per item schema."""

from __future__ import annotations

from marshmallow import fields

from openspc.api.validation import Schema


def page_schema(item_schema: type[Schema], name: str) -> type[Schema]:
    """A schema class named ``name`` for a page of ``item_schema``, keys in the reference's
    order (responses keep schema order, so ``items`` must come first)."""
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item_schema)),
            "total": fields.Integer(),
            "offset": fields.Integer(),
            "limit": fields.Integer(),
        },
        name=name,
    )
