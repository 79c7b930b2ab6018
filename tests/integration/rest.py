"""Set-up through the REST API, for integration tests that exercise a real database."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.conftest import Factory


def characteristic_via_api(client: FlaskClient, factory: Factory,
                           subgroup_size: int) -> tuple[dict[str, str], int]:
    """An engineer's headers and a new characteristic ("Bore") on a new line of the DEFAULT
    plant, both created through the API."""
    headers = factory.headers(factory.user("engineer"))
    node = client.post(f"/api/v1/plants/{factory.default_plant().id}/hierarchies/",
                       json={"name": "Line 1", "type": "Line"}, headers=headers)
    assert node.status_code == 201, node.json
    created = client.post("/api/v1/characteristics/", headers=headers, json={
        "hierarchy_id": node.json["id"], "name": "Bore", "subgroup_size": subgroup_size})
    assert created.status_code == 201, created.json
    return headers, created.json["id"]
