"""JSON text for what OpenSPC writes and reads itself: the database's JSON columns and the
messages of the realtime Redis channel.

orjson, where SQLAlchemy and python-socketio would use the standard library. An evaluation
of 1,000 samples writes 1,000+ frames into the outbox, its publisher reads them back and
sends them on the channel as one message, and every web process decodes that message: with
the standard library, this encoding and decoding took about a fifth of a worker's CPU.

The text is standard JSON that the standard library reads back to equal values (floats to
the same double), so rows and messages written before or by another release read the same.
Dict keys that are not strings become strings, as with the standard library, and numpy
scalars become numbers.
"""

from __future__ import annotations

from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def dumps(value: Any, **_options: Any) -> str:
    """``value`` as JSON text; the standard library's options (``separators`` and the like,
    passed by python-socketio) are accepted and ignored: the text is always compact."""
    return orjson.dumps(value, option=_OPTIONS).decode()


def loads(text: str | bytes, **_options: Any) -> Any:
    return orjson.loads(text)
