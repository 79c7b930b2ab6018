"""/docs and /redoc come with everything they load from the service itself (issue 19).

Every HTML response of the service is checked for references to other hosts, and so are the
stylesheets those pages load; the assets are compared byte for byte with the pinned
distribution's files, read here through its own metadata; and the security headers are checked
on pages, assets, JSON answers, errors and Socket.IO's answers alike.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from importlib.metadata import distribution
from pathlib import Path

import pytest

DOC_PAGES = ("/docs", "/redoc")
SIDECAR = "drf-spectacular-sidecar"
# Any absolute URL (a scheme) or a scheme-relative one (//host): the service's pages need none.
ELSEWHERE = re.compile(r"(?:\b[a-z][a-z0-9+.-]*:|^|(?<=[\s\"'(=]))//[^/\s\"'<>)][^\s\"'<>)]*",
                       re.IGNORECASE)
CSS_URL = re.compile(r"url\(\s*[\"']?([^\"')]+)")


class References(HTMLParser):
    """Every attribute value of a page, and the files it loads (script src, link href)."""

    def __init__(self):
        super().__init__()
        self.values: list[str] = []
        self.loaded: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            self.values.append(value or "")
            if (tag, name) in {("script", "src"), ("link", "href")}:
                self.loaded.append(value)


def _html_responses(app, client) -> dict[str, str]:
    """Every argument-free GET route of the service that answers HTML, by path."""
    pages = {}
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and not rule.arguments:
            response = client.get(rule.rule)
            if response.mimetype == "text/html":
                pages[rule.rule] = response.get_data(as_text=True)
    return pages


def test_no_html_page_refers_to_another_host(app, client):
    pages = _html_responses(app, client)
    assert set(DOC_PAGES) <= set(pages)
    found = {path: ELSEWHERE.findall(html) for path, html in pages.items()}
    assert {path: urls for path, urls in found.items() if urls} == {}


@pytest.mark.parametrize("path", DOC_PAGES)
def test_what_a_page_loads_is_served_here_and_its_styles_stay_here(client, path):
    references = References()
    references.feed(client.get(path).get_data(as_text=True))
    assert references.loaded
    for url in references.loaded:
        if url.startswith("data:"):
            continue
        assert url.startswith("/docs/assets/"), url
        response = client.get(url)
        assert response.status_code == 200, url
        if response.mimetype == "text/css":
            outside = [ref for ref in CSS_URL.findall(response.get_data(as_text=True))
                       if not ref.startswith("data:") and ELSEWHERE.search(ref)]
            assert outside == [], f"{url} loads {outside}"


def _sidecar_file(relative: str) -> bytes:
    root = "drf_spectacular_sidecar/static/drf_spectacular_sidecar"
    return Path(str(distribution(SIDECAR).locate_file(f"{root}/{relative}"))).read_bytes()


def _asset_base(client) -> str:
    references = References()
    references.feed(client.get("/redoc").get_data(as_text=True))
    script = next(url for url in references.loaded if url.endswith("redoc.standalone.js"))
    return script.removesuffix("redoc/bundles/redoc.standalone.js")


@pytest.mark.parametrize("relative", [
    "swagger-ui-dist/swagger-ui-bundle.js", "swagger-ui-dist/swagger-ui.css",
    "swagger-ui-dist/LICENSE", "redoc/bundles/redoc.standalone.js", "redoc/LICENSE",
    "redoc/bundles/redoc.standalone.js.LICENSE.txt",
])
def test_assets_are_the_pinned_distribution_s_files_cached_for_a_year(client, relative):
    response = client.get(_asset_base(client) + relative)
    assert response.status_code == 200
    assert response.get_data() == _sidecar_file(relative)
    cache = response.cache_control
    assert cache.public and cache.immutable and cache.max_age == 365 * 24 * 3600


@pytest.mark.parametrize(("relative", "licence"), [
    ("swagger-ui-dist/LICENSE", "Apache License"), ("redoc/LICENSE", "The MIT License"),
])
def test_licences_read_as_text_in_a_browser(client, relative, licence):
    response = client.get(_asset_base(client) + relative)
    assert response.mimetype == "text/plain"
    assert licence in response.get_data(as_text=True)


def test_the_pin_is_exact():
    requirements = distribution("openspc").requires or []
    assert f"{SIDECAR}=={distribution(SIDECAR).version}" in requirements


@pytest.mark.parametrize("relative", [
    "swagger-ui-dist/oauth2-redirect.html", "../../../openspc/__init__.py", "nothing.js",
    "openspc/../swagger-ui-dist/LICENSE",
])
def test_only_the_listed_assets_are_served(client, relative):
    assert client.get(_asset_base(client) + relative).status_code == 404


def test_another_fingerprint_is_not_served(client):
    """A URL of another release must not be cached for a year with this release's bytes."""
    assert client.get("/docs/assets/0123456789abcdef/redoc/LICENSE").status_code == 404


def _policy(response) -> dict[str, list[str]]:
    directives = [part.split() for part in response.headers["Content-Security-Policy"].split(";")]
    return {words[0]: words[1:] for words in directives if words}


def test_swagger_ui_page_policy_allows_this_origin_only_and_nothing_inline(client):
    policy = _policy(client.get("/docs"))
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "worker-src" not in policy


def test_redoc_page_policy_adds_inline_styles_and_its_search_worker_only(client):
    policy = _policy(client.get("/redoc"))
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]
    assert policy["worker-src"] == ["blob:"]
    sources = {source for values in policy.values() for source in values}
    assert sources <= {"'none'", "'self'", "data:", "blob:", "'unsafe-inline'"}


@pytest.mark.parametrize("path", [
    "/docs", "/redoc", "/openapi.json", "/health", "/api/v1/plants/", "/no/such/route",
    "/socket.io/?EIO=4&transport=polling",
])
def test_every_response_carries_nosniff_and_referrer_policy(client, path):
    response = client.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "Origin" in response.vary


def test_assets_carry_nosniff_and_no_page_policy(client):
    response = client.get(_asset_base(client) + "swagger-ui-dist/swagger-ui.css")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.mimetype == "text/css"
    assert "Content-Security-Policy" not in response.headers
