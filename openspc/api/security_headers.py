"""Headers every response carries, set in WSGI so that Socket.IO's answers (served before Flask
sees the request) get them too."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

ALWAYS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
)


class SecurityHeaders:
    """Adds ``nosniff`` and ``Referrer-Policy`` everywhere, and ``Vary: Origin`` since the CORS
    grant depends on it: a shared cache must not hand one origin's answer to another.
    (The documentation pages' Content-Security-Policy is set in ``openspc.api.docs``.)
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            return start_response(status, with_security_headers(headers), exc_info)

        return self.app(environ, start)


def with_security_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    present = {name.lower(): value for name, value in headers}
    added = [(name, value) for name, value in ALWAYS if name.lower() not in present]
    vary = {part.strip().lower() for name, value in headers if name.lower() == "vary"
            for part in value.split(",")}
    if "origin" not in vary and "*" not in vary:
        added.append(("Vary", "Origin"))
    return [*headers, *added]
