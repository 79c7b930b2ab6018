"""Request bodies are bounded (413, OPENSPC_MAX_REQUEST_BYTES) and an error never echoes more
than a short prefix of an input (issue 11, item 4)."""

from __future__ import annotations

import pytest

from tests.api.samples_helpers import SAMPLES, sample_count

MiB = 1024 * 1024


@pytest.fixture
def admin(factory):
    return factory.headers(factory.user("admin", username="root"))


def test_a_30_mb_body_is_refused_with_413(client, admin):
    response = client.post("/api/v1/plants/", headers=admin,
                           json={"name": "x" * (30 * MiB), "code": "BIG"})
    assert response.status_code == 413
    assert response.json == {"detail": "Request body larger than 2097152 bytes"}


def test_an_oversized_string_is_echoed_as_a_short_prefix(client, admin, chart):
    big = "y" * MiB
    response = client.post("/api/v1/plants/", headers=admin, json={"name": big, "code": "BIG"})
    assert response.status_code == 422
    assert len(response.data) < 2000
    [item] = response.json["detail"]
    assert item["loc"] == ["body", "name"]
    assert item["input"].startswith("yyyy") and len(item["input"]) <= 101
    listed = client.post(SAMPLES, headers=admin, json={
        "characteristic_id": chart.id, "measurements": [1.0] * 200_000})
    assert listed.status_code == 422 and len(listed.data) < 2000
    path = client.get(f"/api/v1/plants/{'9' * 5000}", headers=admin)
    assert path.status_code == 422 and len(path.data) < 2000
    assert sample_count() == 0


class TestConfiguredLimit:
    @pytest.fixture
    def settings_overrides(self):
        return {"OPENSPC_MAX_REQUEST_BYTES": "2000"}

    def test_the_limit_follows_the_setting(self, client, admin, chart):
        small = client.post(SAMPLES, headers=admin,
                            json={"characteristic_id": chart.id, "measurements": [10.0]})
        assert small.status_code == 201
        large = client.post(SAMPLES, headers=admin, json={
            "characteristic_id": chart.id, "measurements": [10.0], "batch_number": "b" * 3000})
        assert (large.status_code, large.json) == (
            413, {"detail": "Request body larger than 2000 bytes"})
        assert sample_count() == 1


def test_an_overflowing_number_is_echoed_as_valid_json(client, admin, chart):
    """1e400 is a JSON number that Python reads as infinity; the 422 repeats it as text, not
    as the non-JSON literal Infinity."""
    response = client.post(SAMPLES, headers={**admin, "Content-Type": "application/json"},
                           data=f'{{"characteristic_id": {chart.id}, "measurements": [1e400]}}')
    assert response.status_code == 422
    assert b"Infinity" not in response.data
    assert response.json["detail"][0]["loc"] == ["body", "measurements", 0]
