"""URL rules that answer like the reference: both slash spellings, and 422 for bad path ints."""

from __future__ import annotations

from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter, Rule

from openspc.api.validation import error_items, range_error


class PathParamInvalid(HTTPException):
    """A path parameter that is not an integer: the reference answers 422, not 404."""

    code = 422

    def __init__(self, name: str, value: str,
                 msg: str = "Input should be a valid integer, unable to parse string as an "
                            "integer"):
        super().__init__()
        self.items = error_items({"path": {name: [msg]}}, {"path": {name: value}})


class LenientIntConverter(BaseConverter):
    """Matches any segment and refuses a non-integer with 422 naming the parameter."""

    regex = r"[^/]+"
    part_isolating = True
    weight = 50
    variable_name = "id"

    def to_python(self, value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise PathParamInvalid(self.variable_name, value) from None
        beyond = range_error(number)
        if beyond:
            raise PathParamInvalid(self.variable_name, value, beyond)
        return number

    def to_url(self, value: Any) -> str:
        return str(int(value))


class ApiRule(Rule):
    """A rule whose converters know the name of the parameter they parse."""

    def get_converter(self, variable_name, converter_name, args, kwargs):
        converter = super().get_converter(variable_name, converter_name, args, kwargs)
        converter.variable_name = variable_name
        return converter


class SlashTolerance:
    """WSGI middleware: ``/samples/batch/`` reaches the rule ``/samples/batch``.

    Rules that end with a slash already match without it (``strict_slashes=False``); this
    covers the other direction without a redirect, as api.md §0 asks.
    """

    def __init__(self, app, flask_app):
        self.app = app
        self.flask_app = flask_app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if len(path) > 1 and path.endswith("/"):
            adapter = self.flask_app.url_map.bind("localhost")
            method = environ.get("REQUEST_METHOD", "GET")
            if not _matches(adapter, path, method) and _matches(adapter, path.rstrip("/"), method):
                environ["PATH_INFO"] = path.rstrip("/")
        return self.app(environ, start_response)


def _matches(adapter, path: str, method: str) -> bool:
    try:
        adapter.match(path, method=method)
    except PathParamInvalid:
        return True
    except HTTPException:
        return False
    return True
