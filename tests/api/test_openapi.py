"""The OpenAPI document and the route inventory (issue 2 item 7, api.md §0 and §C).

Every route under /api/v1 is in /openapi.json with its methods; /docs and /redoc serve HTML;
the document is valid OpenAPI 3; and every (method, path) of the api.md tables of the modules
we implement is served, module by module with the counts of §C.
"""

from __future__ import annotations

import re

import pytest

IGNORED_METHODS = {"HEAD", "OPTIONS"}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}

# api.md §1-§11, copied from the tables; the count of each module is api.md §C's.
REFERENCE_ROUTES: dict[str, tuple[int, list[tuple[str, str]]]] = {
    "auth": (5, [
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/auth/refresh"),
        ("POST", "/api/v1/auth/logout"),
        ("GET", "/api/v1/auth/me"),
        ("POST", "/api/v1/auth/change-password"),
    ]),
    "users": (8, [
        ("GET", "/api/v1/users/"),
        ("POST", "/api/v1/users/"),
        ("GET", "/api/v1/users/{user_id}"),
        ("PATCH", "/api/v1/users/{user_id}"),
        ("DELETE", "/api/v1/users/{user_id}"),
        ("DELETE", "/api/v1/users/{user_id}/permanent"),
        ("POST", "/api/v1/users/{user_id}/roles"),
        ("DELETE", "/api/v1/users/{user_id}/roles/{plant_id}"),
    ]),
    "plants": (5, [
        ("GET", "/api/v1/plants/"),
        ("POST", "/api/v1/plants/"),
        ("GET", "/api/v1/plants/{plant_id}"),
        ("PUT", "/api/v1/plants/{plant_id}"),
        ("DELETE", "/api/v1/plants/{plant_id}"),
    ]),
    "hierarchy": (8, [
        ("GET", "/api/v1/hierarchy/"),
        ("POST", "/api/v1/hierarchy/"),
        ("GET", "/api/v1/hierarchy/{node_id}"),
        ("PATCH", "/api/v1/hierarchy/{node_id}"),
        ("DELETE", "/api/v1/hierarchy/{node_id}"),
        ("GET", "/api/v1/hierarchy/{node_id}/characteristics"),
        ("GET", "/api/v1/plants/{plant_id}/hierarchies/"),
        ("POST", "/api/v1/plants/{plant_id}/hierarchies/"),
    ]),
    "characteristics": (11, [
        ("GET", "/api/v1/characteristics/"),
        ("POST", "/api/v1/characteristics/"),
        ("GET", "/api/v1/characteristics/{char_id}"),
        ("PATCH", "/api/v1/characteristics/{char_id}"),
        ("DELETE", "/api/v1/characteristics/{char_id}"),
        ("GET", "/api/v1/characteristics/{char_id}/chart-data"),
        ("POST", "/api/v1/characteristics/{char_id}/recalculate-limits"),
        ("POST", "/api/v1/characteristics/{char_id}/set-limits"),
        ("GET", "/api/v1/characteristics/{char_id}/rules"),
        ("PUT", "/api/v1/characteristics/{char_id}/rules"),
        ("POST", "/api/v1/characteristics/{char_id}/change-mode"),
    ]),
    "characteristic_config": (3, [
        ("GET", "/api/v1/characteristics/{char_id}/config"),
        ("PUT", "/api/v1/characteristics/{char_id}/config"),
        ("DELETE", "/api/v1/characteristics/{char_id}/config"),
    ]),
    "annotations": (4, [
        ("GET", "/api/v1/characteristics/{characteristic_id}/annotations"),
        ("POST", "/api/v1/characteristics/{characteristic_id}/annotations"),
        ("PUT", "/api/v1/characteristics/{characteristic_id}/annotations/{annotation_id}"),
        ("DELETE", "/api/v1/characteristics/{characteristic_id}/annotations/{annotation_id}"),
    ]),
    "samples": (8, [
        ("GET", "/api/v1/samples/"),
        ("POST", "/api/v1/samples/"),
        ("GET", "/api/v1/samples/{sample_id}"),
        ("PUT", "/api/v1/samples/{sample_id}"),
        ("PATCH", "/api/v1/samples/{sample_id}/exclude"),
        ("DELETE", "/api/v1/samples/{sample_id}"),
        ("GET", "/api/v1/samples/{sample_id}/history"),
        ("POST", "/api/v1/samples/batch"),
    ]),
    "data_entry": (3, [
        ("POST", "/api/v1/data-entry/submit"),
        ("POST", "/api/v1/data-entry/batch"),
        ("GET", "/api/v1/data-entry/schema"),
    ]),
    "violations": (6, [
        ("GET", "/api/v1/violations/"),
        ("GET", "/api/v1/violations/stats"),
        ("GET", "/api/v1/violations/reason-codes"),
        ("GET", "/api/v1/violations/{violation_id}"),
        ("POST", "/api/v1/violations/{violation_id}/acknowledge"),
        ("POST", "/api/v1/violations/batch-acknowledge"),
    ]),
    "api_keys": (6, [
        ("GET", "/api/v1/api-keys/"),
        ("POST", "/api/v1/api-keys/"),
        ("GET", "/api/v1/api-keys/{key_id}"),
        ("PATCH", "/api/v1/api-keys/{key_id}"),
        ("DELETE", "/api/v1/api-keys/{key_id}"),
        ("POST", "/api/v1/api-keys/{key_id}/revoke"),
    ]),
}


def openapi_path(rule: str) -> str:
    """A Flask rule in OpenAPI spelling: ``<int:x>`` / ``<x>`` -> ``{x}``, no trailing slash."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule).rstrip("/")


def api_routes(flask_app) -> set[tuple[str, str]]:
    """(METHOD, path) of every rule the app serves under /api/v1."""
    return {
        (method, openapi_path(rule.rule))
        for rule in flask_app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
        for method in rule.methods - IGNORED_METHODS
    }


def documented_routes(document: dict) -> set[tuple[str, str]]:
    """(METHOD, path) of every operation of the document under /api/v1."""
    return {
        (method.upper(), path.rstrip("/"))
        for path, item in document["paths"].items() if path.startswith("/api/v1/")
        for method in item.keys() & HTTP_METHODS
    }


@pytest.fixture
def document(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.content_type.startswith("application/json")
    return response.json


def test_openapi_path_normalisation() -> None:
    assert openapi_path("/api/v1/users/<int:user_id>/roles/<int:plant_id>") == (
        "/api/v1/users/{user_id}/roles/{plant_id}")
    assert openapi_path("/api/v1/api-keys/<key_id>") == "/api/v1/api-keys/{key_id}"
    assert openapi_path("/api/v1/plants/") == "/api/v1/plants"


def test_every_api_route_is_documented(client, document) -> None:
    served = api_routes(client.application)
    assert len(served) >= sum(count for count, _ in REFERENCE_ROUTES.values())
    assert served - documented_routes(document) == set()


def test_the_document_lists_no_route_that_is_not_served(client, document) -> None:
    assert documented_routes(document) - api_routes(client.application) == set()


def test_document_is_valid_openapi_3(document) -> None:
    assert {"openapi", "info", "paths"} <= document.keys()
    assert document["openapi"].startswith("3.")
    assert {"title", "version"} <= document["info"].keys()
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(document)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_serve_html(client, path) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.content_type.startswith("text/html")
    assert "/openapi.json" in response.get_data(as_text=True)


def _placeholders_blank(path: str) -> str:
    """Path parameter names are not part of the wire contract: compare shapes only."""
    return re.sub(r"\{[^}]+\}", "{}", path.rstrip("/"))


@pytest.mark.parametrize("module", REFERENCE_ROUTES)
def test_reference_routes_of_each_module_are_served(client, module) -> None:
    count, routes = REFERENCE_ROUTES[module]
    assert len(set(routes)) == count
    served = {(m, _placeholders_blank(p)) for m, p in api_routes(client.application)}
    missing = [(m, p) for m, p in routes if (m, _placeholders_blank(p)) not in served]
    assert missing == []
