"""Samples API (api.md §8): submit with its synchronous verdict, batch, list, read, edit,
exclude, delete, history. Expected verdicts are derived by hand in each test from the
limits CL = 10, σ = 1 (n = 1, UCL 13, LCL 7) unless stated otherwise."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from openspc.extensions import db
from openspc.models import Sample, SampleEditHistory, Violation
from openspc.services import evaluation
from tests.api.samples_helpers import (
    SAMPLES,
    fired,
    post_series,
    post_value,
    sample_count,
    violation_count,
)


@pytest.fixture
def supervisor(factory, plant):
    return factory.headers(factory.user("supervisor", plant, username="sup"))


# -- POST /samples: verdicts -----------------------------------------------------------------


def test_in_control_sample_is_evaluated_and_answered(client, chart, operator):
    response = post_value(client, operator, chart.id, 10.5)
    assert response.status_code == 201
    body = response.json
    assert body["status"] == "evaluated"
    assert body["in_control"] is True
    assert body["violations"] == []
    assert body["zone"] == "zone_c_upper"  # 10 <= 10.5 <= 11
    assert body["mean"] == 10.5 and body["range_value"] is None
    assert body["timestamp"].endswith("Z")
    sample = db.session.get(Sample, body["sample_id"])
    assert (sample.status, sample.sequence) == ("evaluated", 1)


def test_point_beyond_ucl_fires_rule_1_and_a_point_on_it_does_not(client, chart, operator):
    # Spaced with centre points so that no two zone-A points share a 3-point window (rule 5).
    results = post_series(client, operator, chart.id, [13.0, 10.0, 10.0, 13.5, 10.0, 10.0, 6.9])
    assert fired(results) == [[], [], [], [1], [], [], [1]]
    assert results[0]["zone"] == "zone_a_upper"
    assert results[3]["in_control"] is False
    assert results[3]["zone"] == "beyond_ucl"
    assert results[3]["violations"][0]["severity"] == "CRITICAL"
    assert results[3]["violations"][0]["rule_name"] == "Outlier"


def test_rule_2_fires_at_the_ninth_point_above_the_center_line(client, chart, operator):
    # G-1: the reference fired at the 8th point (newest point counted twice).
    results = post_series(client, operator, chart.id, [10.5] * 10)
    assert fired(results) == [[]] * 8 + [[2], [2]]


def test_rule_3_trend_fires_via_rest(client, chart, operator):
    # G-1: with the duplicated newest point a trend could never fire through the API.
    results = post_series(client, operator, chart.id, [10.5, 10.3, 10.1, 9.9, 9.7, 9.5])
    assert fired(results) == [[], [], [], [], [], [3]]


def test_rule_4_alternation_fires_via_rest(client, chart, operator):
    results = post_series(client, operator, chart.id, [10.5, 9.5] * 7)
    assert fired(results) == [[]] * 13 + [[4]]


def test_violation_records_the_pattern_range(client, chart, operator):
    results = post_series(client, operator, chart.id, [10.5] * 9)
    violation = db.session.execute(sa.select(Violation)).scalar_one()
    assert violation.rule_id == 2
    assert violation.sample_id == results[8]["sample_id"]
    assert violation.first_sample_id == results[0]["sample_id"]
    assert violation.last_sample_id == results[8]["sample_id"]
    assert violation.char_id == chart.id


def test_variable_limits_mode_judges_each_point_at_its_own_size(client, factory, plant, operator):
    # engine.md §5.2 worked example: CL 100, σ 2, n_i = 2, x̄ = 104 -> limits 104.2426/95.7574.
    common = dict(subgroup_size=4, ucl=103.0, lcl=97.0, center_line=100.0, sigma=2.0)
    variable = factory.characteristic(factory.hierarchy(plant), subgroup_mode="VARIABLE_LIMITS",
                                      **common)
    nominal = factory.characteristic(factory.hierarchy(plant), **common)
    judged = post_value(client, operator, variable.id, 103.0, 105.0).json
    assert judged["in_control"] is True
    assert judged["zone"] == "zone_a_upper"  # 4 > 2·2/√2 = 2.83
    sample = db.session.get(Sample, judged["sample_id"])
    assert sample.effective_ucl == pytest.approx(100 + 3 * 2 / math.sqrt(2))
    assert sample.effective_lcl == pytest.approx(100 - 3 * 2 / math.sqrt(2))
    assert fired([post_value(client, operator, nominal.id, 103.0, 105.0).json]) == [[1]]


def test_standardized_mode_stores_the_z_score(client, factory, plant, operator):
    chart = factory.characteristic(
        factory.hierarchy(plant), subgroup_size=4, subgroup_mode="STANDARDIZED",
        ucl=103.0, lcl=97.0, center_line=100.0, sigma=2.0,
    )
    result = post_value(client, operator, chart.id, 100.0, 101.0, 101.5, 101.5).json
    assert db.session.get(Sample, result["sample_id"]).z_score == pytest.approx(1.0)
    assert result["zone"] == "zone_c_upper"  # exactly +1σ stays in zone C (C9)


def test_p_chart_sample_uses_count_and_sample_size(client, factory, plant, operator):
    p_bar = 0.1
    chart = factory.characteristic(
        factory.hierarchy(plant), chart_type="p", ucl=0.3, lcl=0.0, center_line=p_bar,
        sigma=math.sqrt(p_bar * (1 - p_bar)),
    )
    body = {"characteristic_id": chart.id, "count": 20, "sample_size": 50}
    response = client.post(SAMPLES, json=body, headers=operator)
    assert response.status_code == 201
    assert response.json["mean"] == pytest.approx(0.4)
    assert fired([response.json]) == [[1]]  # UCL_i = 0.1 + 3·0.3/√50 = 0.2273
    sample = db.session.get(Sample, response.json["sample_id"])
    assert sample.effective_ucl == pytest.approx(p_bar + 3 * 0.3 / math.sqrt(50))
    assert (sample.defect_count, sample.sample_size) == (20, 50)


@pytest.mark.parametrize("body, loc", [
    ({"count": 3, "sample_size": 50, "measurements": [1.0]}, ["body", "measurements"]),
    ({"sample_size": 50}, ["body", "count"]),
    ({"count": 3}, ["body", "sample_size"]),
    ({"count": 60, "sample_size": 50}, ["body", "count"]),
])
def test_bad_attribute_sample_is_refused_naming_the_field(client, factory, plant, operator,
                                                          body, loc):
    chart = factory.characteristic(factory.hierarchy(plant), chart_type="p", ucl=0.3, lcl=0.0,
                                   center_line=0.1, sigma=0.3)
    response = client.post(SAMPLES, json={"characteristic_id": chart.id, **body},
                           headers=operator)
    assert response.status_code == 422
    assert response.json["detail"][0]["loc"] == loc
    assert sample_count() == 0


def test_without_limits_a_sample_is_stored_pending_and_judged_once_limits_exist(
    client, factory, plant, operator
):
    chart = factory.characteristic(factory.hierarchy(plant))
    results = post_series(client, operator, chart.id, [10.0, 14.0])
    assert [r["status"] for r in results] == ["pending", "pending"]
    assert results[1]["in_control"] is None and results[1]["zone"] == "unknown"
    engineer = factory.headers(factory.user("engineer", plant))
    response = client.post(f"/api/v1/characteristics/{chart.id}/set-limits", headers=engineer,
                           json={"ucl": 13.0, "lcl": 7.0, "center_line": 10.0, "sigma": 1.0})
    assert response.status_code == 200
    stored = db.session.execute(sa.select(Sample).order_by(Sample.id)).scalars().all()
    assert [(s.status, s.sequence) for s in stored] == [("evaluated", 1), ("evaluated", 2)]
    violation = db.session.execute(sa.select(Violation)).scalar_one()
    assert (violation.sample_id, violation.rule_id) == (stored[1].id, 1)
    assert violation.limits_version == 1


# -- POST /samples: refusals --------------------------------------------------------------


def test_submission_needs_a_token(client, chart):
    assert post_value(client, {}, chart.id, 10.0).status_code == 401
    assert sample_count() == 0


def test_submission_needs_operator_at_the_characteristics_plant(client, factory, chart):
    elsewhere = factory.headers(factory.user("engineer", factory.plant()))
    nobody = factory.headers(factory.user())
    for headers in (elsewhere, nobody):
        response = post_value(client, headers, chart.id, 10.0)
        assert response.status_code == 403
        assert response.json["detail"] == "operator or higher privileges required for this plant"
    assert sample_count() == 0


def test_unknown_characteristic_is_404_and_nothing_is_stored(client, operator):
    response = post_value(client, operator, 999, 10.0)
    assert response.status_code == 404
    assert response.json["detail"] == "Characteristic 999 not found"
    assert sample_count() == 0


@pytest.mark.parametrize("body, kind", [
    ({"measurements": []}, "too_short"),
    ({"measurements": [1.0] * 26}, "too_long"),
    ({}, "missing"),
    ({"measurements": ["x"]}, "float_parsing"),
])
def test_malformed_measurements_are_422(client, chart, operator, body, kind):
    response = client.post(SAMPLES, json={"characteristic_id": chart.id, **body},
                           headers=operator)
    assert response.status_code == 422
    assert response.json["detail"][0]["type"] == kind
    assert response.json["detail"][0]["loc"][:2] == ["body", "measurements"]
    assert sample_count() == 0


def test_non_finite_measurement_is_422(client, chart, operator):
    raw = f'{{"characteristic_id": {chart.id}, "measurements": [NaN]}}'
    response = client.post(SAMPLES, data=raw, content_type="application/json", headers=operator)
    assert response.status_code == 422
    assert sample_count() == 0


def test_measurement_count_outside_the_mode_is_400(client, factory, plant, operator):
    chart = factory.characteristic(factory.hierarchy(plant), subgroup_size=5, min_measurements=3,
                                   ucl=13.0, lcl=7.0, center_line=10.0, sigma=1.0)
    too_few = post_value(client, operator, chart.id, 1.0, 2.0)
    too_many = post_value(client, operator, chart.id, *[1.0] * 6)
    assert (too_few.status_code, too_many.status_code) == (400, 400)
    assert too_few.json["detail"].startswith("Invalid input")
    assert "at least 3" in too_few.json["detail"]
    assert sample_count() == 0


def test_timestamp_far_in_the_future_is_refused(client, chart, operator):
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    response = client.post(SAMPLES, headers=operator, json={
        "characteristic_id": chart.id, "measurements": [10.0], "timestamp": future})
    assert response.status_code == 422
    assert response.json["detail"][0]["loc"] == ["body", "timestamp"]
    assert sample_count() == 0


# -- POST /samples/batch -------------------------------------------------------------------


def test_batch_commits_valid_items_and_reports_each_failed_one(client, chart, operator):
    response = client.post(f"{SAMPLES}batch", headers=operator, json={
        "characteristic_id": chart.id,
        "samples": [
            {"measurements": [10.0]},
            {"measurements": []},
            {"measurements": [20.0], "batch_number": "B7"},
            {"measurements": [10.0, 11.0]},
        ],
    })
    assert response.status_code == 200
    assert response.json == {
        "total": 4, "imported": 2, "failed": 2,
        "errors": [
            "Sample 2: measurements: List should have at least 1 item after validation, not 0",
            "Sample 4: Invalid input: too many measurements: 2 given, subgroup size is 1",
        ],
    }
    stored = db.session.execute(sa.select(Sample).order_by(Sample.id)).scalars().all()
    assert [s.mean for s in stored] == [10.0, 20.0]
    assert all(s.status == "evaluated" for s in stored)
    assert [v.rule_id for v in db.session.execute(sa.select(Violation)).scalars()] == [1]


def test_batch_honours_item_timestamps_and_evaluates_them_in_time_order(client, chart, operator):
    base = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
    stamps = [base + timedelta(minutes=m) for m in (30, 10, 20)]
    response = client.post(f"{SAMPLES}batch", headers=operator, json={
        "characteristic_id": chart.id,
        "samples": [{"measurements": [float(i)], "timestamp": t.isoformat()}
                    for i, t in enumerate(stamps)],
    })
    assert response.json["imported"] == 3
    stored = db.session.execute(sa.select(Sample).order_by(Sample.sequence)).scalars().all()
    assert [s.timestamp for s in stored] == sorted(stamps)
    assert [s.mean for s in stored] == [1.0, 2.0, 0.0]


def test_batch_without_rule_evaluation_stores_skipped_samples(client, chart, operator):
    response = client.post(f"{SAMPLES}batch", headers=operator, json={
        "characteristic_id": chart.id, "samples": [{"measurements": [99.0]}],
        "skip_rule_evaluation": True,
    })
    assert response.json["imported"] == 1
    assert db.session.execute(sa.select(Sample.status)).scalar_one() == "skipped"
    assert violation_count() == 0


def test_batch_refusals_store_nothing(client, factory, chart, operator):
    too_many = {"characteristic_id": chart.id, "samples": [{"measurements": [1.0]}] * 1001}
    assert client.post(f"{SAMPLES}batch", headers=operator, json=too_many).status_code == 422
    unknown = {"characteristic_id": 999, "samples": [{"measurements": [1.0]}]}
    assert client.post(f"{SAMPLES}batch", headers=operator, json=unknown).status_code == 404
    nobody = factory.headers(factory.user())
    body = {"characteristic_id": chart.id, "samples": [{"measurements": [1.0]}]}
    assert client.post(f"{SAMPLES}batch", headers=nobody, json=body).status_code == 403
    assert sample_count() == 0


# -- reading --------------------------------------------------------------------------------


def test_list_filters_sorts_pages_and_hides_excluded(client, chart, operator, supervisor):
    ids = [r["sample_id"] for r in post_series(client, operator, chart.id, [10.0, 10.1, 10.2])]
    client.patch(f"{SAMPLES}{ids[1]}/exclude", json={"is_excluded": True}, headers=supervisor)
    page = client.get(f"{SAMPLES}?characteristic_id={chart.id}", headers=operator).json
    assert [item["id"] for item in page["items"]] == [ids[2], ids[0]]
    assert page["total"] == 2
    asc = client.get(f"{SAMPLES}?characteristic_id={chart.id}&include_excluded=true"
                     "&sort_dir=asc&limit=2&offset=1", headers=operator).json
    assert [item["id"] for item in asc["items"]] == [ids[1], ids[2]]
    assert (asc["total"], asc["offset"], asc["limit"]) == (3, 1, 2)
    assert client.get(f"{SAMPLES}?sort_dir=up", headers=operator).status_code == 422
    assert client.get(f"{SAMPLES}?characteristic_id=999", headers=operator).json["total"] == 0


def test_list_shows_only_readable_plants(client, factory, chart, operator):
    post_series(client, operator, chart.id, [10.0])
    stranger = factory.headers(factory.user("operator", factory.plant()))
    assert client.get(SAMPLES, headers=stranger).json["total"] == 0
    assert client.get(SAMPLES, headers=operator).json["total"] == 1


def test_get_one_sample_with_display_key(client, factory, chart, operator):
    first, second = post_series(client, operator, chart.id, [10.0, 10.5])
    body = client.get(f"{SAMPLES}{second['sample_id']}", headers=operator).json
    day = datetime.now(UTC).strftime("%y%m%d")
    assert body["display_key"] == f"{day}-002"
    assert body["measurements"] == [10.5] and body["characteristic_id"] == chart.id
    assert body["sequence"] == 2 and body["status"] == "evaluated"
    assert client.get(f"{SAMPLES}999", headers=operator).status_code == 404
    stranger = factory.headers(factory.user("operator", factory.plant()))
    assert client.get(f"{SAMPLES}{first['sample_id']}", headers=stranger).status_code == 403


# -- edit, exclude, delete, history ------------------------------------------------------------


def _edit(client, headers, sample_id, values, reason="typo"):
    return client.put(f"{SAMPLES}{sample_id}", headers=headers,
                      json={"measurements": values, "reason": reason, "edited_by": "ignored"})


def test_edit_judges_the_edited_sample_itself(client, chart, operator, supervisor):
    # G-12: the reference attached the newest point's verdict to the edited sample.
    ids = [r["sample_id"] for r in post_series(client, operator, chart.id,
                                               [10.2, 9.8, 10.1, 9.9, 10.0])]
    response = _edit(client, supervisor, ids[1], [14.0])
    assert response.status_code == 200
    assert fired([response.json]) == [[1]]
    assert [(v.sample_id, v.rule_id) for v in db.session.execute(sa.select(Violation)).scalars()
            ] == [(ids[1], 1)]
    history = client.get(f"{SAMPLES}{ids[1]}/history", headers=operator).json
    assert len(history) == 1
    assert history[0]["previous_values"] == [9.8] and history[0]["new_values"] == [14.0]
    assert history[0]["edited_by"] == "sup" and history[0]["reason"] == "typo"
    sample = client.get(f"{SAMPLES}{ids[1]}", headers=operator).json
    assert (sample["is_modified"], sample["edit_count"], sample["mean"]) == (True, 1, 14.0)
    assert fired([_edit(client, supervisor, ids[1], [9.8]).json]) == [[]]
    assert violation_count() == 0
    history = client.get(f"{SAMPLES}{ids[1]}/history", headers=operator).json
    assert [h["new_values"] for h in history] == [[9.8], [14.0]]


def test_edit_rejudges_later_samples_whose_window_holds_it(client, chart, operator, supervisor):
    ids = [r["sample_id"] for r in post_series(client, operator, chart.id,
                                               [10.5] * 4 + [9.5] + [10.5] * 5)]
    assert violation_count() == 0
    _edit(client, supervisor, ids[4], [10.5])
    stored = {(v.sample_id, v.rule_id) for v in db.session.execute(sa.select(Violation)).scalars()}
    assert stored == {(ids[8], 2), (ids[9], 2)}
    assert stored == {(hit.point, hit.rule_id) for hit in evaluation.replay(chart.id)}
    more = post_series(client, operator, chart.id, [10.5])
    assert fired(more) == [[2]]


def test_edit_refusals_change_nothing(client, factory, chart, operator, supervisor):
    sample_id = post_series(client, operator, chart.id, [10.0])[0]["sample_id"]
    assert _edit(client, operator, sample_id, [11.0]).status_code == 403
    bad_count = _edit(client, supervisor, sample_id, [11.0, 12.0])
    assert bad_count.status_code == 400
    no_reason = client.put(f"{SAMPLES}{sample_id}", headers=supervisor,
                           json={"measurements": [11.0]})
    assert no_reason.status_code == 422
    assert _edit(client, supervisor, 999, [11.0]).status_code == 404
    other_plant = factory.headers(factory.user("supervisor", factory.plant()))
    assert _edit(client, other_plant, sample_id, [11.0]).status_code == 403
    assert db.session.get(Sample, sample_id).mean == 10.0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SampleEditHistory)) == 0


def test_excluded_sample_leaves_the_rule_window(client, chart, operator, supervisor):
    ids = [r["sample_id"] for r in post_series(client, operator, chart.id, [10.5] * 8)]
    response = client.patch(f"{SAMPLES}{ids[3]}/exclude", headers=supervisor,
                            json={"is_excluded": True, "reason": "ignored"})
    assert response.status_code == 200
    assert response.json["is_excluded"] is True and response.json["excluded"] is True
    # 7 points remain above CL: rule 2 now needs two more, not one.
    assert fired(post_series(client, operator, chart.id, [10.5, 10.5])) == [[], [2]]


def test_exclude_needs_supervisor_and_a_body(client, chart, operator, supervisor):
    sample_id = post_series(client, operator, chart.id, [10.0])[0]["sample_id"]
    url = f"{SAMPLES}{sample_id}/exclude"
    assert client.patch(url, headers=operator, json={"is_excluded": True}).status_code == 403
    assert client.patch(url, headers=supervisor, json={}).status_code == 422
    assert client.patch(f"{SAMPLES}999/exclude", headers=supervisor,
                        json={"is_excluded": True}).status_code == 404
    assert db.session.get(Sample, sample_id).is_excluded is False


def test_delete_cascades_and_needs_supervisor(client, chart, operator, supervisor):
    sample_id = post_series(client, operator, chart.id, [14.0])[0]["sample_id"]
    assert client.delete(f"{SAMPLES}{sample_id}", headers=operator).status_code == 403
    assert client.delete(f"{SAMPLES}{sample_id}", headers=supervisor).status_code == 204
    assert client.get(f"{SAMPLES}{sample_id}", headers=operator).status_code == 404
    assert (sample_count(), violation_count()) == (0, 0)
    assert client.delete(f"{SAMPLES}{sample_id}", headers=supervisor).status_code == 404


def test_history_of_unknown_sample_is_404(client, operator):
    assert client.get(f"{SAMPLES}999/history", headers=operator).status_code == 404


def test_a_rules_change_judges_the_very_next_sample(client, factory, plant, chart, operator):
    """The evaluator keeps the rules it ran with in its stored state; a PUT rules must make
    the next sample use the new settings, however many samples came before."""
    engineer = factory.headers(factory.user("engineer", plant, username="eng"))
    url = f"/api/v1/characteristics/{chart.id}/rules"
    assert fired(post_series(client, operator, chart.id, [10.0, 13.5])) == [[], [1]]
    client.put(url, json=[{"rule_id": 1, "is_enabled": False}], headers=engineer)
    # Centre points between the outliers keep rule 5 (2 of 3 in zone A) quiet.
    assert fired(post_series(client, operator, chart.id, [10.0, 10.0, 13.5])) == [[], [], []]
    client.put(url, json=[{"rule_id": 1, "is_enabled": True, "severity": "INFO"}],
               headers=engineer)
    *_, result = post_series(client, operator, chart.id, [10.0, 10.0, 13.5])
    assert [(v["rule_id"], v["severity"]) for v in result["violations"]] == [(1, "INFO")]
