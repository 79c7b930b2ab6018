"""The JSON codec of the database columns and the Redis channel reads and writes what the
standard library does, so rows and messages of two releases (or of another tool) read the
same."""

from __future__ import annotations

import json
import math

import socketio as python_socketio
from hypothesis import given
from hypothesis import strategies as st

from openspc import jsoncodec
from openspc.realtime.relay import client_manager_for

FINITE = st.floats(allow_nan=False, allow_infinity=False)
SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | FINITE | st.text()
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(st.text() | st.integers(0, 10**6), inner, max_size=5),
    max_leaves=30,
)


@given(VALUES)
def test_its_text_reads_as_the_standard_librarys_and_back(value):
    assert json.loads(jsoncodec.dumps(value)) == json.loads(json.dumps(value))
    assert jsoncodec.loads(json.dumps(value)) == json.loads(json.dumps(value))


@given(FINITE)
def test_every_float_crosses_exactly(value):
    decoded = jsoncodec.loads(jsoncodec.dumps({"mean": value}))["mean"]
    assert decoded == value and math.copysign(1, decoded) == math.copysign(1, value)


def test_a_batch_message_crosses_with_its_frames_in_order():
    frames = [{"type": "sample", "sample": {"id": n, "mean": 10 + n / 3}} for n in range(1000)]
    message = {"method": "emit", "batch": [{"data": [frame]} for frame in frames]}
    assert jsoncodec.loads(jsoncodec.dumps(message)) == message


def test_the_channel_keeps_its_codec_once_attached_to_a_server():
    """python-socketio hands its managers the server's packet codec when they attach."""
    manager = client_manager_for("redis://127.0.0.1:6379/15")
    python_socketio.Server(client_manager=manager)
    assert manager.json is jsoncodec


def test_json_columns_are_written_and_read_by_it(app):
    """numpy's integers are not JSON to the standard library; a column stores them."""
    import numpy as np
    import sqlalchemy as sa

    from openspc.extensions import db
    from openspc.models import Plant

    plant = db.session.execute(sa.select(Plant)).scalars().first()
    plant.settings = {"window": np.int64(25), 7: "a key that is not a string"}
    plant_id = plant.id
    db.session.commit()
    db.session.remove()

    stored = db.session.execute(sa.select(Plant.settings).where(Plant.id == plant_id))
    assert stored.scalar_one() == {"window": 25, "7": "a key that is not a string"}
