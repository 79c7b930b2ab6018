"""GET /characteristics/{id}/chart-data (api.md §5 bullets, §S ChartSample, §X.1, §X.2)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from tests.api.sample_rows import add_attribute_samples, add_samples, add_violation
from tests.conftest import statements_sent

D2_2 = 2 / math.sqrt(math.pi)
DAY1 = datetime(2024, 3, 5, 23, 58, tzinfo=UTC)


def chart(client, char_id, headers, query=""):
    return client.get(f"/api/v1/characteristics/{char_id}/chart-data{query}", headers=headers)


def test_zones_follow_the_limits_in_force(client, factory, operator):
    """I chart CL 10, σ 1: boundaries 11/12/13 and 9/8/7; a point on a line belongs to the
    zone inside it (C1), so 11 is zone C, 13 is zone A and only 13.5 is beyond."""
    char = factory.characteristic(subgroup_size=1, ucl=13.0, lcl=7.0, center_line=10.0,
                                  sigma=1.0, usl=14.0, lsl=6.0, target_value=10.0)
    values = [10, 11, 11.5, 12.5, 13, 13.5, 9.5, 7, 6.9]
    add_samples(char, values)

    response = chart(client, char.id, operator)

    assert response.status_code == 200, response.json
    body = response.json
    assert body["control_limits"] == {"center_line": 10.0, "ucl": 13.0, "lcl": 7.0}
    assert body["spec_limits"] == {"usl": 14.0, "lsl": 6.0, "target": 10.0}
    assert body["zone_boundaries"] == {
        "plus_1_sigma": 11.0, "plus_2_sigma": 12.0, "plus_3_sigma": 13.0,
        "minus_1_sigma": 9.0, "minus_2_sigma": 8.0, "minus_3_sigma": 7.0,
    }
    assert [p["zone"] for p in body["data_points"]] == [
        "zone_c_upper", "zone_c_upper", "zone_b_upper", "zone_a_upper", "zone_a_upper",
        "beyond_ucl", "zone_c_lower", "zone_a_lower", "beyond_lcl",
    ]
    assert [p["mean"] for p in body["data_points"]] == values
    assert [p["display_value"] for p in body["data_points"]] == values
    assert body["stored_sigma"] == 1.0
    assert body["subgroup_mode"] == "NOMINAL_TOLERANCE"
    assert body["nominal_subgroup_size"] == 1 and body["decimal_precision"] == 3


def test_points_fields_moving_range_and_secondary(client, factory, operator):
    char = factory.characteristic(subgroup_size=1, ucl=13.0, lcl=7.0, center_line=10.0,
                                  sigma=1.0)
    samples = add_samples(char, [10, 12, 11, 13.5])

    body = chart(client, char.id, operator).json
    point = body["data_points"]

    assert [p["moving_range"] for p in point] == [None, 2.0, 1.0, 2.5]
    first = point[0]
    assert first["sample_id"] == samples[0].id
    assert first["timestamp"] == "2024-03-05T08:00:00+00:00"
    assert first["range"] is None and first["std_dev"] is None
    assert first["excluded"] is False and first["actual_n"] == 1
    assert first["effective_ucl"] is None and first["z_score"] is None
    assert body["secondary"]["chart"] == "mr"
    assert body["secondary"]["center_line"] == pytest.approx(D2_2)
    assert body["secondary"]["lcl"] == 0.0


def test_violation_ids_per_point(client, factory, operator):
    char = factory.characteristic(subgroup_size=1, ucl=13.0, lcl=7.0, center_line=10.0,
                                  sigma=1.0)
    samples = add_samples(char, [10, 14, 10])
    open_one = add_violation(samples[1], 1)
    acknowledged = add_violation(samples[1], 5, acknowledged=True)
    informative = add_violation(samples[1], 2, requires_acknowledgement=False)

    points = chart(client, char.id, operator).json["data_points"]

    assert points[1]["violation_ids"] == [open_one.id, acknowledged.id, informative.id]
    assert points[1]["unacknowledged_violation_ids"] == [open_one.id]
    assert points[1]["violation_rules"] == [1, 2, 5]
    assert points[0]["violation_ids"] == [] and points[2]["violation_rules"] == []


def test_display_key_counts_each_day_and_excluded_samples(client, factory, operator):
    """Samples at 23:58, 23:59 (excluded), 00:00, 00:01: YYMMDD-NNN per calendar day."""
    char = factory.characteristic(subgroup_size=1, ucl=13.0, lcl=7.0, center_line=10.0,
                                  sigma=1.0)
    add_samples(char, [10, 11, 12, 9], start=DAY1, excluded=[1])

    shown = chart(client, char.id, operator).json["data_points"]
    everything = chart(client, char.id, operator,
                       "?start_date=2024-03-05T00:00:00Z&end_date=2024-03-07T00:00:00Z")

    assert [p["display_key"] for p in shown] == ["240305-001", "240306-001", "240306-002"]
    assert [p["display_key"] for p in everything.json["data_points"]] == [
        "240305-001", "240305-002", "240306-001", "240306-002"]
    assert [p["excluded"] for p in everything.json["data_points"]] == [
        False, True, False, False]


def test_limit_keeps_the_newest_oldest_first(client, factory, operator):
    char = factory.characteristic(subgroup_size=1, ucl=13.0, lcl=7.0, center_line=10.0,
                                  sigma=1.0)
    add_samples(char, [1, 2, 3, 4, 5, 6], excluded=[5])

    points = chart(client, char.id, operator, "?limit=3").json["data_points"]
    in_range = chart(client, char.id, operator,
                     "?limit=2&start_date=2024-03-05T08:01:00&end_date=2024-03-05T08:05:00")

    assert [p["mean"] for p in points] == [3, 4, 5]
    assert [p["mean"] for p in in_range.json["data_points"]] == [5, 6]


def test_no_limits_gives_no_points(client, factory, operator):
    char = factory.characteristic(subgroup_size=1)
    add_samples(char, [1, 2, 3], status="pending")

    body = chart(client, char.id, operator).json

    assert body["data_points"] == []
    assert body["control_limits"] == {"center_line": None, "ucl": None, "lcl": None}
    assert set(body["zone_boundaries"].values()) == {None}
    assert body["stored_sigma"] is None and body["secondary"] is None


def test_xbar_r_zones_use_the_standard_error(client, factory, operator):
    """n = 4, σ = 2: σx̄ = 1, so the +1σ line is CL + 1; the R chart uses d2(4)·σ."""
    char = factory.characteristic(subgroup_size=4, ucl=103.0, lcl=97.0, center_line=100.0,
                                  sigma=2.0)
    add_samples(char, [[100, 101, 102, 103], [99, 99, 99, 99.5]])

    body = chart(client, char.id, operator).json

    assert body["zone_boundaries"]["plus_1_sigma"] == pytest.approx(101.0)
    assert body["zone_boundaries"]["minus_3_sigma"] == pytest.approx(97.0)
    assert [p["zone"] for p in body["data_points"]] == ["zone_b_upper", "zone_c_lower"]
    assert body["data_points"][0]["range"] == 3.0
    assert body["data_points"][0]["std_dev"] == pytest.approx(1.2909944)
    assert body["data_points"][0]["moving_range"] is None
    assert body["secondary"]["chart"] == "r"
    assert body["secondary"]["center_line"] == pytest.approx(2.058751 * 2, abs=1e-4)


def test_standardized_mode_plots_z_scores(client, factory, operator):
    char = factory.characteristic(subgroup_size=4, ucl=103.0, lcl=97.0, center_line=100.0,
                                  sigma=2.0, subgroup_mode="STANDARDIZED", min_measurements=1)
    add_samples(char, [[100, 102, 101, 101], [103, 105], [95]])

    points = chart(client, char.id, operator).json["data_points"]

    assert [p["z_score"] for p in points] == pytest.approx([1.0, 2.8284271, -2.5])
    assert [p["display_value"] for p in points] == pytest.approx([1.0, 2.8284271, -2.5])
    assert [p["mean"] for p in points] == [101, 104, 95]
    assert [p["zone"] for p in points] == ["zone_c_upper", "zone_a_upper", "zone_a_lower"]


def test_variable_limits_mode_gives_per_point_limits(client, factory, operator):
    char = factory.characteristic(subgroup_size=4, ucl=103.0, lcl=97.0, center_line=100.0,
                                  sigma=2.0, subgroup_mode="VARIABLE_LIMITS", min_measurements=1)
    add_samples(char, [[100, 102, 101, 101], [103, 105], [95]])

    points = chart(client, char.id, operator).json["data_points"]

    assert [p["effective_ucl"] for p in points] == pytest.approx([103.0, 104.2426407, 106.0])
    assert [p["effective_lcl"] for p in points] == pytest.approx([97.0, 95.7573593, 94.0])
    assert [p["z_score"] for p in points] == [None, None, None]


def test_p_chart_points_have_their_own_limits(client, factory, operator):
    p_bar = 0.1
    sigma = math.sqrt(p_bar * (1 - p_bar))
    char = factory.characteristic(chart_type="p", ucl=p_bar + 3 * sigma / math.sqrt(100),
                                  lcl=0.01, center_line=p_bar, sigma=sigma)
    add_attribute_samples(char, [10, 2, 9], [100, 25, 100])

    body = chart(client, char.id, operator).json

    points = body["data_points"]
    assert [p["mean"] for p in points] == pytest.approx([0.1, 0.08, 0.09])
    assert [p["count"] for p in points] == [10, 2, 9]
    assert [p["sample_size"] for p in points] == [100, 25, 100]
    assert [p["effective_ucl"] for p in points] == pytest.approx(
        [p_bar + 3 * sigma / 10, p_bar + 3 * sigma / 5, p_bar + 3 * sigma / 10])
    assert [p["effective_lcl"] for p in points] == pytest.approx([p_bar - 3 * sigma / 10, 0.0,
                                                                 p_bar - 3 * sigma / 10])
    assert body["zone_boundaries"]["plus_1_sigma"] == pytest.approx(p_bar + sigma / 10)
    assert body["secondary"] is None


def test_queries_do_not_grow_with_points(app, client, factory, operator):
    """Samples, their violations and the display keys: a fixed number of queries."""
    char = factory.characteristic(subgroup_size=1, ucl=13.0, lcl=7.0, center_line=10.0,
                                  sigma=1.0)
    def queries_for(n_points):
        with statements_sent() as statements:
            assert len(chart(client, char.id, operator).json["data_points"]) == n_points
        return len(statements)

    samples = add_samples(char, [10, 11])
    add_violation(samples[0])
    few = queries_for(2)
    samples = add_samples(char, [10, 12] * 30, start=datetime(2024, 3, 6, tzinfo=UTC),
                          step=timedelta(hours=1))
    for sample in samples[::3]:
        add_violation(sample)

    assert queries_for(62) == few


def test_read_roles_and_bad_input(client, factory):
    char = factory.characteristic(subgroup_size=1, ucl=13.0, lcl=7.0, center_line=10.0,
                                  sigma=1.0)
    stranger = factory.headers(factory.user("engineer", factory.plant()))
    operator = factory.headers(factory.user("operator"))

    assert chart(client, char.id, None).status_code == 401
    outside = chart(client, char.id, stranger)
    assert outside.status_code == 403
    assert outside.json == {"detail": "operator or higher privileges required for this plant"}
    assert chart(client, 999, operator).json == {"detail": "Characteristic 999 not found"}
    for query, loc in [("?limit=0", "limit"), ("?limit=1001", "limit"),
                       ("?start_date=soon", "start_date")]:
        response = chart(client, char.id, operator, query)
        assert response.status_code == 422
        assert response.json["detail"][0]["loc"] == ["query", loc]


def test_a_back_dated_sample_is_drawn_and_judged_in_its_place(client, factory, operator):
    """22:00, 23:00, 01:30 and 01:40 the next day, then 23:45 entered late: chart-data draws
    it third, and it is judged there: rule 5 (two of three beyond 2σ on one side) fires on
    12.5, 12.6 consecutive on the chart, which in arrival order are not, and on the point
    after it."""
    char = factory.characteristic(subgroup_size=1, ucl=13.0, lcl=7.0, center_line=10.0,
                                  sigma=1.0)
    posted = []
    for timestamp, value in [("2026-03-01T22:00:00Z", 10.0), ("2026-03-01T23:00:00Z", 12.5),
                             ("2026-03-02T01:30:00Z", 10.0), ("2026-03-02T01:40:00Z", 10.0),
                             ("2026-03-01T23:45:00Z", 12.6)]:
        response = client.post("/api/v1/samples/", headers=operator, json={
            "characteristic_id": char.id, "measurements": [value], "timestamp": timestamp})
        assert response.status_code == 201, response.json
        posted.append(response.json)
    ids = [p["sample_id"] for p in posted]

    body = chart(client, char.id, operator).json

    assert [p["sample_id"] for p in body["data_points"]] == [ids[i] for i in (0, 1, 4, 2, 3)]
    assert [v["rule_id"] for v in posted[4]["violations"]] == [5]
    violations = client.get(f"/api/v1/violations/?characteristic_id={char.id}",
                            headers=operator).json["items"]
    # On the chart the windows of three ending at 12.6 (10, 12.5, 12.6) and at the next
    # point (12.5, 12.6, 10) both hold two beyond 2σ: the point after the late one, judged
    # before it arrived, is judged again and now fires too.
    assert {(v["sample_id"], v["rule_id"]) for v in violations} == {(ids[4], 5), (ids[2], 5)}
