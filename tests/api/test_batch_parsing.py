"""Batch bodies are read without marshmallow when every value is plain and valid: whatever
that shortcut accepts must be exactly what the schema returns, and everything else must be
left to the schema (its errors are the wire contract). Checked on generated items that mix
valid, lax and invalid values of every field."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from hypothesis import example, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError, fields

from openspc.api.schemas.samples import (
    BatchEntryRequestSchema,
    BatchItemSchema,
    DataEntryRequestSchema,
    parse_batch_items,
    to_input,
)
from openspc.api.validation import Length, Schema, error_items
from openspc.errors import ValidationFailed

ANY_JSON = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.integers(2**1023, 2**1100),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=3), st.just("7"),
    st.just("7.5"), st.just(7.0), st.just(7.5), st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
MEASUREMENTS = st.one_of(
    st.lists(st.one_of(st.floats(-1e6, 1e6), st.integers(-100, 100)), min_size=1, max_size=25),
    st.lists(st.floats(-1e6, 1e6), min_size=0, max_size=1),
    st.lists(st.floats(-1e6, 1e6), min_size=25, max_size=26),
    st.lists(st.one_of(st.floats(), st.booleans(), st.text(max_size=2), st.none(),
                       st.integers(2**1023, 2**1100)), min_size=1, max_size=3),
    ANY_JSON,
)
COUNTS = st.one_of(st.integers(-2, 50), ANY_JSON)
STRINGS = st.one_of(st.text(max_size=101), st.text(min_size=100, max_size=101), ANY_JSON)
TIMESTAMPS = st.one_of(
    st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat),
    st.datetimes().map(datetime.isoformat), st.integers(0, 2**31), st.just(" 2024-03-01T08:00 "),
    ANY_JSON,
)
FIELDS = {"measurements": MEASUREMENTS, "count": COUNTS, "sample_size": COUNTS,
          "batch_number": STRINGS, "operator_id": STRINGS, "timestamp": TIMESTAMPS,
          "characteristic_id": st.one_of(st.integers(1, 9), ANY_JSON),
          "metadata": ANY_JSON, "unknown": ANY_JSON}
VALID = {"measurements": st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=5),
         "count": st.none() | st.integers(1, 5), "sample_size": st.none() | st.integers(5, 9),
         "batch_number": st.none() | st.text(max_size=3),
         "operator_id": st.none() | st.text(max_size=3), "timestamp": st.none() | TIMESTAMPS,
         "characteristic_id": st.integers(1, 9),
         "metadata": st.none() | st.dictionaries(st.text(max_size=2), st.integers())}


@st.composite
def one_field_off(draw) -> dict:
    """A valid item with at most one field replaced by anything."""
    item = draw(st.fixed_dictionaries(VALID))
    field = draw(st.sampled_from([None, *FIELDS]))
    if field is not None:
        item[field] = draw(FIELDS[field])
    return item


ITEMS = st.one_of(st.fixed_dictionaries({}, optional=FIELDS), one_field_off())
EDGES = [  # each one step past what the shortcut may take
    {"measurements": [1.0, math.nan]}, {"measurements": [math.inf]}, {"measurements": [True]},
    {"measurements": [2**1100]}, {"measurements": [1.0] * 26}, {"measurements": []},
    {"measurements": None}, {"measurements": "1.0"}, {"count": "5"}, {"count": 5.0},
    {"count": -1}, {"sample_size": 0}, {"sample_size": True}, {"batch_number": "x" * 101},
    {"operator_id": 5}, {"timestamp": ""}, {"timestamp": 1.5e9}, {"timestamp": True},
    {"metadata": []}, {"characteristic_id": "4"}, {"characteristic_id": True},
]


class ReferenceBatchEntry(Schema):
    """The data-entry batch as marshmallow alone reads it."""

    samples = fields.List(fields.Nested(DataEntryRequestSchema), required=True,
                          validate=Length(max=1000))


def load(schema: Schema, body: dict) -> dict:
    """The loaded body, or the error messages."""
    try:
        return {"loaded": schema.load(body)}
    except ValidationError as error:
        return {"errors": error.messages}


@settings(max_examples=300, deadline=None)
@given(st.lists(ITEMS, max_size=4))
@example(EDGES)
def test_batch_items_parse_as_the_item_schema_loads_them(items):
    for item, parsed in zip(items, parse_batch_items(3, items), strict=True):
        expected = load(BatchItemSchema(), item)
        if "errors" in expected:
            assert isinstance(parsed, ValidationFailed)
            assert parsed.detail == error_items({"json": expected["errors"]}, {"json": item})
        else:
            assert parsed == to_input(3, expected["loaded"])


@settings(max_examples=300, deadline=None)
@given(st.lists(ITEMS, max_size=4))
@example([{"characteristic_id": 1, "measurements": [1.0], **edge} for edge in EDGES])
@example([{"characteristic_id": 1, "measurements": [1.0]}] * 2)
def test_data_entry_batches_load_as_the_nested_schema_loads_them(items):
    body = {"samples": items}
    assert load(BatchEntryRequestSchema(), body) == load(ReferenceBatchEntry(), body)
