"""GET /characteristics/{id}/capability (api.md §X.2), against hand-computed indices."""

from __future__ import annotations

import math
import statistics

import pytest

from tests.api.sample_rows import add_attribute_samples, add_samples
from tests.api.test_limits import D2_2, D2_5, IMR_VALUES, XBAR_R_SUBGROUPS


def capability(client, char_id, headers, query=""):
    return client.get(f"/api/v1/characteristics/{char_id}/capability{query}", headers=headers)


def test_two_sided_indices(client, factory, operator):
    usl, lsl, target = 10.7, 9.5, 10.0
    char = factory.characteristic(subgroup_size=5, usl=usl, lsl=lsl, target_value=target)
    add_samples(char, XBAR_R_SUBGROUPS)
    values = [v for group in XBAR_R_SUBGROUPS for v in group]
    mean = statistics.mean(values)
    within = 0.4 / D2_5  # R-bar / d2(5): every range is 0.4
    overall = statistics.stdev(values)

    response = capability(client, char.id, operator)

    assert response.status_code == 200, response.json
    body = response.json
    assert body["mean"] == pytest.approx(10.05)
    assert body["sigma_within"] == pytest.approx(within, rel=1e-5)
    assert body["sigma_overall"] == pytest.approx(overall)
    assert body["cp"] == pytest.approx((usl - lsl) / (6 * within), rel=1e-5)
    assert body["cpu"] == pytest.approx((usl - mean) / (3 * within), rel=1e-5)
    assert body["cpl"] == pytest.approx((mean - lsl) / (3 * within), rel=1e-5)
    assert body["cpk"] == pytest.approx(body["cpl"])
    assert body["pp"] == pytest.approx((usl - lsl) / (6 * overall))
    assert body["ppk"] == pytest.approx((mean - lsl) / (3 * overall))
    assert body["cpm"] == pytest.approx((usl - lsl) / (6 * math.sqrt(overall**2 + 0.05**2)))
    assert body["sample_count"] == 4
    assert (body["usl"], body["lsl"], body["target"]) == (usl, lsl, target)


def test_one_sided_when_only_usl(client, factory, operator):
    char = factory.characteristic(subgroup_size=1, usl=20.0)
    add_samples(char, IMR_VALUES)
    within = 2.0 / D2_2  # MR-bar / d2(2)
    overall = statistics.stdev(IMR_VALUES)

    body = capability(client, char.id, operator).json

    assert body["cp"] is None and body["pp"] is None and body["cpm"] is None
    assert body["cpl"] is None
    assert body["cpk"] == pytest.approx((20 - 11.2) / (3 * within))
    assert body["cpu"] == body["cpk"]
    assert body["ppk"] == pytest.approx((20 - 11.2) / (3 * overall))


def test_excluded_samples_and_window(client, factory, operator):
    char = factory.characteristic(subgroup_size=1, usl=20.0, lsl=0.0)
    add_samples(char, [100, *IMR_VALUES, 500], excluded=[6])

    everything = capability(client, char.id, operator, "?last_n=5").json
    windowed = capability(client, char.id, operator,
                          "?start_date=2024-03-05T08:02:00Z&end_date=2024-03-05T08:04:00Z").json

    assert everything["sample_count"] == 5
    assert everything["mean"] == pytest.approx(11.2)
    assert everything["sigma_overall"] == pytest.approx(statistics.stdev(IMR_VALUES))
    assert windowed["sample_count"] == 3
    assert windowed["mean"] == pytest.approx(statistics.mean([12, 11, 13]))
    assert windowed["sigma_within"] == pytest.approx(1.5 / D2_2)


def test_refusals(client, factory, operator):
    attribute = factory.characteristic(chart_type="p", usl=0.2)
    add_attribute_samples(attribute, [1, 2], [50, 50])
    flat = factory.characteristic(subgroup_size=1, usl=10.0)
    add_samples(flat, [5, 5, 5])
    stranger = factory.headers(factory.user("supervisor", factory.plant()))

    not_variables = capability(client, attribute.id, operator)
    zero_sigma = capability(client, flat.id, operator)
    outside = capability(client, flat.id, stranger)

    assert not_variables.status_code == 400
    assert "p chart" in not_variables.json["detail"]
    assert zero_sigma.status_code == 400
    assert "sigma" in zero_sigma.json["detail"]
    assert outside.status_code == 403
    assert outside.json == {"detail": "operator or higher privileges required for this plant"}
    assert capability(client, 999, operator).status_code == 404
    bad = capability(client, flat.id, operator, "?last_n=0")
    assert bad.status_code == 422 and bad.json["detail"][0]["loc"] == ["query", "last_n"]
