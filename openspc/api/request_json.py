"""How OpenSPC reads a request's JSON body: standard JSON only, and bounded in depth.

Python's parser accepts ``NaN`` and ``Infinity``, which are not JSON, and recurses once per
nesting level, so a body nested 100,000 deep raised RecursionError (a 500). Both the request
parser (webargs) and ``request.get_json`` read bodies through :func:`parse`; what it refuses
is a 422 ``json_invalid``.
"""

from __future__ import annotations

import json
from typing import Any

from flask.json.provider import DefaultJSONProvider

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects accepted in a body; no OpenSPC schema needs more
than a few levels, and JSON columns are written by orjson, which stops at 255."""


def parse(text: str | bytes) -> Any:
    """The value of a JSON text; ``json.JSONDecodeError`` for anything else."""
    if isinstance(text, bytes | bytearray):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise json.JSONDecodeError(f"Bytes decoding error : {error.reason}",
                                       str(error.object), error.start) from None
    try:
        value = json.loads(text, parse_constant=_not_json)
    except RecursionError:
        raise _too_deep(text) from None
    except ValueError as error:
        if isinstance(error, json.JSONDecodeError):
            raise
        raise json.JSONDecodeError(str(error), text, 0) from None
    if _depth_exceeds(value, MAX_DEPTH):
        raise _too_deep(text)
    return value


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def _too_deep(text: str) -> json.JSONDecodeError:
    return json.JSONDecodeError(f"Nesting deeper than {MAX_DEPTH} levels", text or " ", 0)


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest deeper than ``limit`` (iteratively: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, dict | list))
    return False


class RequestJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, reading request bodies through :func:`parse`."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return parse(s)
