"""Fixtures the API tests share: plant A (the default plant) and plant B ("Other"), a node and a
characteristic at A, an engineer at A and one at B only (the outsider), an operator, and the
CL 10, σ 1 chart (UCL 13, LCL 7, n = 1) that the sample tests judge against."""

from __future__ import annotations

import pytest


@pytest.fixture
def plants(factory):
    return factory.default_plant(), factory.plant(name="Other", code="OTHER")


@pytest.fixture
def node(factory, plants):
    return factory.hierarchy(plants[0])


@pytest.fixture
def char(factory, plants):
    return factory.characteristic(factory.hierarchy(plants[0]))


@pytest.fixture
def engineer(factory, plants):
    """Headers of an engineer at plant A."""
    return factory.headers(factory.user("engineer", plants[0]))


@pytest.fixture
def outsider(factory, plants):
    """Headers of an engineer at the other plant only."""
    return factory.headers(factory.user("engineer", plants[1]))


@pytest.fixture
def plant(factory):
    return factory.default_plant()


@pytest.fixture
def chart(factory, plant):
    return factory.characteristic(
        factory.hierarchy(plant), ucl=13.0, lcl=7.0, center_line=10.0, sigma=1.0
    )


@pytest.fixture
def operator(factory):
    """Headers of an operator at the default plant."""
    return factory.headers(factory.user("operator"))


_DOCUMENT: list = []


def _document(app):
    """The OpenAPI document as schemathesis reads it, built once: every app serves the same."""
    if not _DOCUMENT:
        import schemathesis

        document = app.test_client().get("/openapi.json").json
        _DOCUMENT.append(schemathesis.openapi.from_dict(document))
    return _DOCUMENT[0]


@pytest.fixture(autouse=True)
def documented_responses(request, monkeypatch):
    """Every response the API tests receive is validated against the OpenAPI document: its
    status, content type and body (issue 11, item 8). 429 bodies are the rate limiter's and
    are checked by test_rate_limits.py."""
    if "app" not in request.fixturenames:
        yield
        return
    from flask.testing import FlaskClient
    from schemathesis.core.transport import Response

    schema = _document(request.getfixturevalue("app"))
    original = FlaskClient.open

    def open_and_check(self, *args, **kwargs):
        response = original(self, *args, **kwargs)
        operation = schema.find_operation_by_path(response.request.method,
                                                  response.request.path)
        if operation is not None and response.status_code != 429:
            schema.validate_response(operation, Response.from_wsgi(response))
        return response

    monkeypatch.setattr(FlaskClient, "open", open_and_check)
    yield
