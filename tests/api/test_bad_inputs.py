"""Inputs that used to answer 500 get a 4xx naming the field (issue 11, item 3; the
PostgreSQL cases are in tests/integration/test_bad_inputs_postgres.py)."""

from __future__ import annotations

import re

import pytest

from openspc.extensions import db
from openspc.models import Plant, Sample
from tests.api.samples_helpers import SAMPLES, sample_count

HUGE = 2**63
INT_MAX = 2**31 - 1


@pytest.fixture
def admin(factory):
    return factory.headers(factory.user("admin", username="root"))


def _path_templates(app) -> list[tuple[str, str, list[str]]]:
    """(rule, method, int parameters) of every route with an integer path parameter."""
    found = []
    for rule in app.url_map.iter_rules():
        names = [name for name, converter in rule._converters.items()
                 if converter.__class__.__name__ == "LenientIntConverter"]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if names:
                found.append((rule.rule, method, names))
    return found


def test_every_route_refuses_a_path_id_beyond_the_integer_range(app, client, admin):
    templates = _path_templates(app)
    assert len(templates) > 30
    for rule, method, names in templates:
        url = rule
        for name in names:
            url = re.sub(rf"<int:{name}>", str(HUGE), url)
        response = client.open(url, method=method, headers=admin, json={})
        assert response.status_code == 422, (method, url, response.json)
        assert response.json["detail"][0]["loc"] == ["path", names[0]], (method, url)
        assert response.json["detail"][0]["type"] == "less_than_equal"


@pytest.mark.parametrize("url", [
    f"{SAMPLES}?characteristic_id={HUGE}",
    f"/api/v1/characteristics/?hierarchy_id={HUGE}",
    f"/api/v1/violations/?characteristic_id={HUGE}",
    f"/api/v1/characteristics/?offset={HUGE}",
])
def test_query_ids_beyond_the_integer_range_are_refused(client, admin, url):
    response = client.get(url, headers=admin)
    assert response.status_code == 422, response.json
    assert response.json["detail"][0]["loc"][0] == "query"
    assert response.json["detail"][0]["type"] == "less_than_equal"


def test_body_ids_beyond_the_integer_range_are_refused(client, admin, chart):
    for body in ({"characteristic_id": HUGE, "measurements": [1.0]},
                 {"characteristic_id": chart.id, "count": HUGE, "sample_size": 1}):
        response = client.post(SAMPLES, headers=admin, json=body)
        assert response.status_code == 422, response.json
        assert response.json["detail"][0]["type"] == "less_than_equal"
    batch = client.post(f"{SAMPLES}batch", headers=admin,
                        json={"characteristic_id": HUGE, "samples": []})
    assert batch.json["detail"][0]["loc"] == ["body", "characteristic_id"]
    role = client.post("/api/v1/users/1/roles", headers=admin,
                       json={"plant_id": INT_MAX + 1, "role": "admin"})
    assert role.status_code == 422
    assert role.json["detail"][0]["loc"] == ["body", "plant_id"]
    assert sample_count() == 0


def test_an_integer_beyond_64_bits_in_plant_settings_is_refused(client, admin):
    response = client.post("/api/v1/plants/", headers=admin, json={
        "name": "Big", "code": "BIG", "settings": {"limits": {"max": [1, 2**64]}}})
    assert response.status_code == 422, response.json
    assert response.json["detail"][0]["loc"] == ["body", "settings", "limits", "max", 1]
    assert db.session.execute(db.select(Plant).filter_by(code="BIG")).first() is None
    fine = client.post("/api/v1/plants/", headers=admin, json={
        "name": "Big", "code": "BIG", "settings": {"limits": {"max": [1, 2**62]}}})
    assert fine.status_code == 201
    assert fine.json["settings"] == {"limits": {"max": [1, 2**62]}}


@pytest.mark.parametrize("depth", [100_000, 1_000])
def test_deeply_nested_json_is_refused(client, admin, chart, depth):
    nested = "[" * depth + "1" + "]" * depth
    body = f'{{"characteristic_id": {chart.id}, "measurements": {nested}}}'
    response = client.post(SAMPLES, headers={**admin, "Content-Type": "application/json"},
                           data=body)
    assert response.status_code == 422, response.data[:200]
    assert response.json["detail"][0]["type"] == "json_invalid"
    assert sample_count() == 0


def test_non_standard_json_constants_are_refused(client, admin, chart):
    response = client.post(SAMPLES, headers={**admin, "Content-Type": "application/json"},
                           data=f'{{"characteristic_id": {chart.id}, "measurements": [NaN]}}')
    assert response.status_code == 422
    assert response.json["detail"][0]["type"] == "json_invalid"


def test_large_finite_floats_in_a_subgroup_are_refused(client, factory, plant, admin):
    """math.sqrt overflowed on the squares of these deviations."""
    char = factory.characteristic(factory.hierarchy(plant), subgroup_size=2)
    response = client.post(SAMPLES, headers=admin,
                           json={"characteristic_id": char.id, "measurements": [1e300, -1e300]})
    assert response.status_code == 422
    assert response.json["detail"][0]["loc"] == ["body", "measurements"]
    assert db.session.execute(db.select(Sample)).first() is None


def test_nul_bytes_in_strings_are_refused_on_every_dialect(client, admin, chart):
    response = client.post(SAMPLES, headers=admin, json={
        "characteristic_id": chart.id, "measurements": [10.0], "batch_number": "B\x001"})
    assert response.status_code == 422
    assert response.json["detail"][0]["loc"] == ["body", "batch_number"]
    search = client.get("/api/v1/users/?search=a%00b", headers=admin)
    assert search.status_code == 422
    assert search.json["detail"][0]["loc"] == ["query", "search"]


def test_patch_user_with_another_users_email_is_409(client, factory, admin):
    first = client.post("/api/v1/users/", headers=admin, json={
        "username": "first", "password": "password123", "email": "first@example.com"})
    second = client.post("/api/v1/users/", headers=admin, json={
        "username": "second", "password": "password123", "email": "second@example.com"})
    assert first.status_code == second.status_code == 201
    response = client.patch(f"/api/v1/users/{second.json['id']}", headers=admin,
                            json={"email": "first@example.com", "password": "password456"})
    assert (response.status_code, response.json) == (
        409, {"detail": "User with this username or email already exists"})
    response = client.patch(f"/api/v1/users/{second.json['id']}", headers=admin,
                            json={"email": "first@example.com"})
    assert response.status_code == 409
