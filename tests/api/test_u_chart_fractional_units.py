"""u charts take fractional inspection units (issue 11, item 11): Montgomery's dyed-cloth
example (Introduction to Statistical Quality Control, the ``dyedcloth`` data of R's qcc): ten
rolls of 9.5 to 12.5 units of 50 m². Limits are computed by hand here: ū = Σc/Σn and
ū ± 3·√(ū/n_i) per roll. p and np keep whole sample sizes."""

from __future__ import annotations

import math

import pytest

from tests.api.samples_helpers import SAMPLES, sample_count

DEFECTS = [14, 12, 20, 11, 7, 10, 21, 16, 19, 23]
UNITS = [10.0, 8.0, 13.0, 10.0, 9.5, 10.0, 12.0, 10.5, 12.0, 12.5]


@pytest.fixture
def engineer(factory, plant):
    return factory.headers(factory.user("engineer", plant))


def test_dyed_cloth_u_chart_with_fractional_units(client, factory, plant, engineer):
    chart = factory.characteristic(factory.hierarchy(plant), chart_type="u")
    single = client.post(SAMPLES, headers=engineer, json={
        "characteristic_id": chart.id, "count": DEFECTS[0], "sample_size": UNITS[0]})
    assert single.status_code == 201, single.json
    batch = client.post(f"{SAMPLES}batch", headers=engineer, json={
        "characteristic_id": chart.id,
        "samples": [{"count": c, "sample_size": n} for c, n in zip(DEFECTS[1:4], UNITS[1:4],
                                                                  strict=True)]})
    assert batch.json == {"total": 3, "imported": 3, "failed": 0, "errors": []}
    entry = client.post("/api/v1/data-entry/batch", headers=engineer, json={
        "samples": [{"characteristic_id": chart.id, "count": c, "sample_size": n}
                    for c, n in zip(DEFECTS[4:], UNITS[4:], strict=True)]})
    assert entry.status_code == 201 and entry.json["successful"] == 6, entry.json

    recalculated = client.post(
        f"/api/v1/characteristics/{chart.id}/recalculate-limits?min_samples=10",
        headers=engineer)
    assert recalculated.status_code == 200, recalculated.json
    u_bar = sum(DEFECTS) / sum(UNITS)  # 153 / 107.5
    assert u_bar == pytest.approx(1.4233, abs=1e-4)
    assert recalculated.json["after"]["center_line"] == pytest.approx(u_bar)

    data = client.get(f"/api/v1/characteristics/{chart.id}/chart-data", headers=engineer)
    assert data.status_code == 200, data.json
    points = data.json["data_points"]
    assert [p["sample_size"] for p in points] == UNITS
    assert [p["count"] for p in points] == DEFECTS
    for point, c, n in zip(points, DEFECTS, UNITS, strict=True):
        assert point["mean"] == pytest.approx(c / n)
        assert point["effective_ucl"] == pytest.approx(u_bar + 3 * math.sqrt(u_bar / n))
        assert point["effective_lcl"] == pytest.approx(max(0.0, u_bar - 3 * math.sqrt(u_bar / n)))
    # roll 5: 9.5 units, UCL 1.4233 + 3·√(1.4233/9.5) = 2.5845 (by hand)
    assert points[4]["effective_ucl"] == pytest.approx(2.5845, abs=1e-4)
    listed = client.get(f"{SAMPLES}?characteristic_id={chart.id}&sort_dir=asc",
                        headers=engineer)
    assert [item["sample_size"] for item in listed.json["items"]] == UNITS


@pytest.mark.parametrize("chart_type", ["p", "np"])
def test_p_and_np_keep_whole_sample_sizes(client, factory, plant, engineer, chart_type):
    chart = factory.characteristic(factory.hierarchy(plant), chart_type=chart_type)
    response = client.post(SAMPLES, headers=engineer, json={
        "characteristic_id": chart.id, "count": 2, "sample_size": 9.5})
    assert response.status_code == 422
    assert response.json["detail"][0]["loc"] == ["body", "sample_size"]
    assert sample_count() == 0
    whole = client.post(SAMPLES, headers=engineer, json={
        "characteristic_id": chart.id, "count": 2, "sample_size": 50.0})
    assert whole.status_code == 201 and whole.json["sample_size"] == 50


@pytest.mark.parametrize("size", [0, -1.5, 0.0])
def test_u_chart_units_must_be_positive(client, factory, plant, engineer, size):
    chart = factory.characteristic(factory.hierarchy(plant), chart_type="u")
    response = client.post(SAMPLES, headers=engineer, json={
        "characteristic_id": chart.id, "count": 2, "sample_size": size})
    assert response.status_code == 422
    assert response.json["detail"][0]["loc"] == ["body", "sample_size"]
