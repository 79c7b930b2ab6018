"""/docs and /redoc in a real browser on a network that reaches nothing but the service.

``openspc serve`` runs as documented, and headless Chromium (Debian's ``chromium`` package, see
tests/integration/browser.py) opens each page with every request to another host refused by a
proxy. The operations must be rendered, as many as /openapi.json holds, POST /api/v1/samples/
among them; the page must not have asked for any other host except where its own
Content-Security-Policy refused it first, and must log no error.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import require_service
from tests.integration.browser import Browser, chromium, chromium_binary
from tests.integration.processes import stop_process

RENDER_TIMEOUT = 60
HOST = "openspc.plant.test"  # how the browser addresses the service

# ReDoc 2.5 always draws its maker's logo in the menu footer from cdn.redoc.ly. The page's CSP
# refuses it before any request leaves the browser and ReDoc hides the image when it fails.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"

SWAGGER_OPERATIONS = "document.querySelectorAll('#swagger-ui-container .opblock').length"
SWAGGER_SAMPLES_POST_BLOCK = (
    '.opblock-post:has(.opblock-summary-path[data-path="/api/v1/samples/"])')
SWAGGER_SAMPLES_POST = f"!!document.querySelector('{SWAGGER_SAMPLES_POST_BLOCK}')"
REDOC_OPERATIONS = "document.querySelectorAll('[data-section-id*=\"/paths/\"]').length"
REDOC_SAMPLES_POST = """Array.from(document.querySelectorAll('span.http-verb.post')).some(
    verb => verb.nextElementSibling?.textContent === '/api/v1/samples/')"""


@pytest.fixture(scope="module")
def browser_binary() -> str:
    binary = chromium_binary()
    require_service(binary is not None,
                    "no Chromium to drive: install Debian's package (apt-get install -y chromium) "
                    "or set OPENSPC_TEST_CHROMIUM")
    return binary


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[str]:
    """``openspc serve`` on a fresh SQLite file and a port of its own: its base URL."""
    folder = tmp_path_factory.mktemp("docs_offline")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "OPENSPC_DATABASE_URL": f"sqlite:///{folder / 'openspc.db'}",
        "OPENSPC_DATA_DIR": str(folder),
        "OPENSPC_JWT_SECRET": "docs-offline-" + "x" * 40,
        "OPENSPC_ADMIN_PASSWORD": "docs-offline-admin",
        "OPENSPC_LOG_LEVEL": "WARNING",
    }
    log = folder / "serve.log"
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "openspc"), "serve", "--host", "127.0.0.1",
         "--port", str(port)],
        cwd=folder, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", process, log)
        yield f"http://{HOST}:{port}"
    finally:
        stop_process(process, timeout=15)


def _wait_healthy(base: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"openspc serve exited:\n{log.read_text()}")
        try:
            if requests.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    pytest.fail(f"openspc serve did not become healthy:\n{log.read_text()}")


@pytest.fixture(scope="module")
def browser(browser_binary, tmp_path_factory) -> Iterator[Browser]:
    profile = tmp_path_factory.mktemp("chromium") / "profile"
    profile.mkdir()
    with chromium(browser_binary, profile, HOST) as running:
        yield running


@pytest.fixture(scope="module")
def operation_count(service) -> int:
    """Counted from the OpenAPI document, not from either page."""
    document = requests.get(_direct(service, "/openapi.json"), timeout=10).json()
    methods = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
    return sum(1 for item in document["paths"].values() for method in item if method in methods)


def _direct(url: str, path: str = "") -> str:
    """The same URL through 127.0.0.1, for this process, which does not resolve ``HOST``."""
    return urlsplit(url)._replace(netloc=f"127.0.0.1:{urlsplit(url).port}").geturl() + path


def _refused_elsewhere(page_requests: dict[str, str | None], base: str) -> dict[str, str | None]:
    """The requests to anything but the service (data: and blob: URLs are the page's own)."""
    own = urlsplit(base).netloc
    return {url: reason for url, reason in page_requests.items()
            if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).netloc != own}


def test_swagger_ui_renders_every_operation_offline(browser, service, operation_count):
    with browser.page(f"{service}/docs") as page:
        rendered = page.wait_for(
            f"{SWAGGER_OPERATIONS} >= {operation_count} && {SWAGGER_SAMPLES_POST}",
            RENDER_TIMEOUT)
        assert rendered, (f"Swagger UI rendered {page.evaluate(SWAGGER_OPERATIONS)} of "
                          f"{operation_count} operations; problems: {page.problems()}")
        assert page.evaluate(SWAGGER_OPERATIONS) == operation_count

        # Opening an operation draws its parameters and examples: still nothing refused.
        page.click(f"{SWAGGER_SAMPLES_POST_BLOCK} .opblock-summary-control")
        assert page.wait_for(
            f"!!document.querySelector('{SWAGGER_SAMPLES_POST_BLOCK}.is-open .opblock-body')",
            RENDER_TIMEOUT)

        assert _refused_elsewhere(page.requests(), service) == {}
        assert page.problems() == []


def test_redoc_renders_every_operation_offline(browser, service, operation_count):
    with browser.page(f"{service}/redoc") as page:
        rendered = page.wait_for(
            f"{REDOC_OPERATIONS} >= {operation_count} && {REDOC_SAMPLES_POST}", RENDER_TIMEOUT)
        assert rendered, (f"ReDoc rendered {page.evaluate(REDOC_OPERATIONS)} of "
                          f"{operation_count} operations; problems: {page.problems()}")
        assert page.evaluate(REDOC_OPERATIONS) == operation_count
        assert page.wait_for("document.querySelector('.api-content') !== null", RENDER_TIMEOUT)

        assert _refused_elsewhere(page.requests(), service) == {REDOC_LOGO: "csp"}
        assert [problem for problem in page.problems() if REDOC_LOGO not in problem] == []


def test_pages_load_nothing_but_the_service_s_own_files(browser, service):
    """What the browser fetched for both pages came from the service, with cache headers."""
    for path in ("/docs", "/redoc"):
        with browser.page(f"{service}{path}") as page:
            page.wait_for("document.readyState === 'complete'", RENDER_TIMEOUT)
            assets = [url for url in page.requests() if "/docs/assets/" in url]
        assert assets, path
        for url in assets:
            response = requests.get(_direct(url), timeout=10)
            assert response.status_code == 200, url
            assert "immutable" in response.headers["Cache-Control"], url
