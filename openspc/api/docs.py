"""The documentation pages' assets, served by OpenSPC itself so that /docs and /redoc work on a
plant network with no route to the internet.

Swagger UI and ReDoc come pinned from the ``drf-spectacular-sidecar`` distribution (the
``swagger-ui-dist`` and ``redoc`` builds with their licence files). It is read as package data
through its distribution metadata: the package's own module imports Django, which OpenSPC never
loads. Asset URLs carry a fingerprint of that version and of OpenSPC's own page files, so the
browser may keep them for a year and still never runs a stale copy after an upgrade.
"""

from __future__ import annotations

import hashlib
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, abort, request, send_file

from openspc.extensions import limiter

ASSETS_DISTRIBUTION = "drf-spectacular-sidecar"
ASSETS_URL_PREFIX = "/docs/assets"
OWN_FILES = Path(__file__).with_name("docs_files")
ONE_YEAR = 365 * 24 * 3600

# Only what the two pages load, their source maps and the licences: not Swagger UI's
# oauth2-redirect page, which OpenSPC's bearer-token login does not use.
VENDOR_FILES = (
    "swagger-ui-dist/swagger-ui.css",
    "swagger-ui-dist/swagger-ui.css.map",
    "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui-dist/swagger-ui-bundle.js.map",
    "swagger-ui-dist/swagger-ui-bundle.js.LICENSE.txt",
    "swagger-ui-dist/favicon-32x32.png",
    "swagger-ui-dist/LICENSE",
    "redoc/bundles/redoc.standalone.js",
    "redoc/bundles/redoc.standalone.js.map",
    "redoc/bundles/redoc.standalone.js.LICENSE.txt",
    "redoc/LICENSE",
)

# What the pages need and nothing else: scripts, styles, fonts and the spec from this origin,
# and Swagger UI's icons, which are data: URIs in its stylesheet. No inline script anywhere:
# the pages load theirs from files.
POLICY = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "base-uri": "'none'",
    "form-action": "'none'",
    "frame-ancestors": "'none'",
}
# ReDoc writes its styles into <style> elements at run time, some before any nonce could reach
# it (its scrollbar sheet is written while the bundle loads), and runs its search index in a
# worker built from a blob: URL.
PAGE_NEEDS = {
    "api-docs.openapi_redoc": {"style-src": "'unsafe-inline'", "worker-src": "blob:"},
}


def content_security_policy(endpoint: str | None) -> str:
    needs = PAGE_NEEDS.get(endpoint or "", {})
    directives = {name: " ".join(filter(None, (POLICY.get(name), needs.get(name))))
                  for name in (*POLICY, *needs)}
    return "; ".join(f"{name} {sources}" for name, sources in directives.items())


def _set_content_security_policy(response: Response) -> Response:
    """Every HTML response OpenSPC serves is a documentation page and gets their policy, so a
    page added later starts locked down as well."""
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = content_security_policy(request.endpoint)
    return response


def _asset_files() -> dict[str, Path]:
    """Every servable asset, by its path under the fingerprint."""
    assets = distribution(ASSETS_DISTRIBUTION)
    root = Path(str(assets.locate_file("drf_spectacular_sidecar/static/drf_spectacular_sidecar")))
    files = {name: root / name for name in VENDOR_FILES}
    files.update({f"openspc/{path.name}": path for path in sorted(OWN_FILES.iterdir())})
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise RuntimeError(f"{ASSETS_DISTRIBUTION} {assets.version} lacks {', '.join(missing)}")
    return files


def _fingerprint(files: dict[str, Path]) -> str:
    digest = hashlib.sha256(distribution(ASSETS_DISTRIBUTION).version.encode())
    for name, path in files.items():
        if name.startswith("openspc/"):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


ASSET_FILES = _asset_files()
FINGERPRINT = _fingerprint(ASSET_FILES)
ASSETS_BASE = f"{ASSETS_URL_PREFIX}/{FINGERPRINT}/"

docs_assets = Blueprint("docs_assets", __name__)


@docs_assets.route(f"{ASSETS_URL_PREFIX}/<fingerprint>/<path:name>")
@limiter.exempt
def asset(fingerprint: str, name: str):
    path = ASSET_FILES.get(name)
    if fingerprint != FINGERPRINT or path is None:
        abort(404)
    # The licence files have no extension to guess a type from; shown as text, not downloaded.
    mimetype = "text/plain" if path.name == "LICENSE" else None
    response = send_file(path, mimetype=mimetype, max_age=ONE_YEAR)
    response.cache_control.public = True
    response.cache_control.immutable = True
    return response


def docs_config() -> dict[str, Any]:
    """flask-smorest's settings for /docs and /redoc, pointing at the assets above."""
    return {
        "OPENAPI_SWAGGER_UI_PATH": "/docs",
        "OPENAPI_SWAGGER_UI_URL": f"{ASSETS_BASE}swagger-ui-dist/",
        "OPENAPI_REDOC_PATH": "/redoc",
        "OPENAPI_REDOC_URL": f"{ASSETS_BASE}redoc/bundles/redoc.standalone.js",
    }


def init_docs(app: Flask) -> None:
    app.register_blueprint(docs_assets)
    app.after_request(_set_content_security_policy)
    app.jinja_env.globals["openspc_docs_assets"] = f"{ASSETS_BASE}openspc/"
