"""Limits lifecycle over REST: recalculate-limits, set-limits, change-mode (api.md §5,
engine.md §5, §7, §16). Expected numbers are computed here by hand, not by the engine."""

from __future__ import annotations

import math
import statistics

import pytest
import sqlalchemy as sa

from openspc.extensions import db
from openspc.models import Characteristic, ControlLimitsVersion, OutboxEvent, Sample
from tests.api.sample_rows import add_attribute_samples, add_samples, add_violation

D2_2 = 2 / math.sqrt(math.pi)  # E|Z1 - Z2| for two standard normals, exact
D3_2 = math.sqrt(2 * (1 - 2 / math.pi))
D2_5 = 2.325929  # published (Montgomery, Table VI)

IMR_VALUES = [10, 12, 11, 13, 10]
XBAR_R_SUBGROUPS = [
    [10.1, 10.3, 9.9, 10.0, 10.2],
    [9.8, 10.0, 10.1, 9.9, 10.2],
    [10.4, 10.1, 10.0, 10.3, 10.2],
    [9.9, 9.7, 10.0, 10.1, 9.8],
]


def url(char_id, action="recalculate-limits"):
    return f"/api/v1/characteristics/{char_id}/{action}"


@pytest.fixture
def engineer(factory):
    return factory.user("engineer")


@pytest.fixture
def auth(factory, engineer):
    return factory.headers(engineer)


def versions(char_id):
    return db.session.scalars(
        sa.select(ControlLimitsVersion)
        .where(ControlLimitsVersion.characteristic_id == char_id)
        .order_by(ControlLimitsVersion.version)
    ).all()


def reload(char_id) -> Characteristic:
    db.session.expire_all()
    return db.session.get(Characteristic, char_id)


# --- recalculate-limits: the engine.md §16 vectors ----------------------------------------


def test_imr_vector(client, factory, auth):
    char = factory.characteristic(subgroup_size=1)
    add_samples(char, IMR_VALUES)

    response = client.post(url(char.id) + "?min_samples=5", headers=auth)

    assert response.status_code == 200, response.json
    body = response.json
    sigma = statistics.mean([2, 1, 2, 3]) / D2_2
    assert body["before"] == {"ucl": None, "lcl": None, "center_line": None}
    assert body["after"]["center_line"] == pytest.approx(11.2)
    assert body["after"]["ucl"] == pytest.approx(11.2 + 3 * sigma)
    assert body["after"]["lcl"] == pytest.approx(11.2 - 3 * sigma)
    # the published figures use the 3-decimal d2 = 1.128
    assert body["after"]["ucl"] == pytest.approx(16.51915, abs=3e-3)
    assert body["after"]["lcl"] == pytest.approx(5.88085, abs=3e-3)
    calculation = body["calculation"]
    assert calculation["sigma"] == pytest.approx(1.77305, abs=1e-3)
    assert calculation["method"] == "moving_range"
    assert calculation["sample_count"] == 5 and calculation["excluded_count"] == 0
    assert calculation["start_date"] is None and calculation["last_n"] is None
    assert calculation["calculated_at"].endswith("+00:00")
    assert set(body) == {"before", "after", "calculation"}
    assert set(calculation) == {"method", "sigma", "sample_count", "excluded_count",
                                "calculated_at", "start_date", "end_date", "last_n"}

    stored = reload(char.id)
    assert stored.ucl == pytest.approx(body["after"]["ucl"])
    assert stored.stored_center_line == pytest.approx(11.2)
    assert stored.stored_sigma == pytest.approx(sigma)
    [version] = versions(char.id)
    assert version.version == 1 and stored.limits_version == 1
    assert version.method == "moving_range" and version.sample_count == 5
    assert version.secondary_chart == "mr"
    assert version.secondary_center_line == pytest.approx(2.0)  # MR-bar
    assert version.secondary_ucl == pytest.approx((1 + 3 * D3_2 / D2_2) * 2.0)
    assert version.secondary_ucl == pytest.approx(6.534, abs=2e-3)
    assert version.secondary_lcl == 0.0


def test_xbar_r_vector(client, factory, auth):
    char = factory.characteristic(subgroup_size=5)
    add_samples(char, XBAR_R_SUBGROUPS)

    response = client.post(url(char.id) + "?min_samples=4", headers=auth)

    assert response.status_code == 200, response.json
    after = response.json["after"]
    assert after["center_line"] == pytest.approx(10.05)
    assert after["ucl"] == pytest.approx(10.280721, abs=1e-4)
    assert after["lcl"] == pytest.approx(9.819279, abs=1e-4)
    assert response.json["calculation"]["method"] == "r_bar_d2"
    assert response.json["calculation"]["sigma"] == pytest.approx(0.4 / D2_5, rel=1e-5)
    [version] = versions(char.id)
    assert version.secondary_chart == "r"
    assert version.secondary_center_line == pytest.approx(0.4, rel=1e-5)
    assert version.secondary_ucl == pytest.approx(0.8456, abs=1e-3)
    assert version.secondary_lcl == 0.0


def test_undersized_subgroup_does_not_bias_sigma(client, factory, auth):
    """engine.md §16: the reference averages R = 0 of the one-value sample into R-bar
    (σ 0.42992); a subgroup of one value carries no within-subgroup spread and must not."""
    char = factory.characteristic(subgroup_size=5)
    add_samples(char, [[9, 10, 11, 10, 10], [9.5, 10.5, 10, 10, 10], [10]])

    response = client.post(url(char.id) + "?min_samples=3", headers=auth)

    assert response.status_code == 200, response.json
    sigma = (2 / D2_5 + 1 / D2_5) / 2
    assert response.json["calculation"]["sigma"] == pytest.approx(sigma, rel=1e-5)
    assert response.json["calculation"]["sigma"] != pytest.approx(0.42992, abs=1e-3)
    assert response.json["after"]["center_line"] == pytest.approx(10.0)
    assert response.json["after"]["ucl"] == pytest.approx(10 + 3 * sigma / math.sqrt(5), rel=1e-6)


def test_p_chart_recalculation(client, factory, auth):
    char = factory.characteristic(chart_type="p", subgroup_size=1)
    counts, sizes = [3, 4, 1, 6, 2], [50, 100, 50, 100, 50]
    add_attribute_samples(char, counts, sizes)

    response = client.post(url(char.id) + "?min_samples=5", headers=auth)

    assert response.status_code == 200, response.json
    p_bar = 16 / 350
    n = 50  # the most frequent sample size gives the reported limits
    half_width = 3 * math.sqrt(p_bar * (1 - p_bar) / n)
    assert response.json["after"]["center_line"] == pytest.approx(p_bar)
    assert response.json["after"]["ucl"] == pytest.approx(p_bar + half_width)
    assert response.json["after"]["lcl"] == 0.0  # p̄ − 3σ < 0 is floored
    assert response.json["calculation"]["method"] == "binomial"
    assert reload(char.id).stored_sigma == pytest.approx(math.sqrt(p_bar * (1 - p_bar)))
    assert versions(char.id)[0].secondary_chart is None


def test_xbar_s_recalculation(client, factory, auth):
    char = factory.characteristic(subgroup_size=3, chart_type="xbar_s")
    subgroups = [[1.0, 2.0, 4.0], [2.0, 2.5, 3.0], [0.5, 2.0, 3.5]]
    add_samples(char, subgroups)

    response = client.post(url(char.id) + "?min_samples=3", headers=auth)

    c4 = math.sqrt(2 / 2) * math.gamma(3 / 2) / math.gamma(2 / 2)  # c4(3) = 0.886227
    s_bar = statistics.mean(statistics.stdev(group) for group in subgroups)
    sigma = s_bar / c4
    x_bar = statistics.mean(statistics.mean(group) for group in subgroups)
    assert response.status_code == 200, response.json
    assert response.json["calculation"]["method"] == "s_bar_c4"
    assert response.json["calculation"]["sigma"] == pytest.approx(sigma)
    assert response.json["after"]["ucl"] == pytest.approx(x_bar + 3 * sigma / math.sqrt(3))
    [version] = versions(char.id)
    assert version.secondary_chart == "s"
    assert version.secondary_center_line == pytest.approx(s_bar)


def test_c_chart_recalculation(client, factory, auth):
    char = factory.characteristic(chart_type="c")
    add_attribute_samples(char, [2, 4, 3, 5, 1], [1] * 5)

    response = client.post(url(char.id) + "?min_samples=5", headers=auth)

    assert response.status_code == 200, response.json
    after = response.json["after"]
    assert after == {"center_line": 3.0, "ucl": pytest.approx(3 + 3 * math.sqrt(3)), "lcl": 0.0}
    assert response.json["calculation"]["method"] == "poisson"


# --- which samples are used ---------------------------------------------------------------


def test_excluded_samples_are_never_used(client, factory, auth):
    """G-6: the reference used the excluded 50 unless exclude_ooc=true (CL 15.0)."""
    char = factory.characteristic(subgroup_size=1)
    add_samples(char, [10, 11, 9, 10, 11, 9, 10, 50], excluded=[7])

    response = client.post(url(char.id) + "?min_samples=7", headers=auth)

    assert response.status_code == 200
    body = response.json
    assert body["after"]["center_line"] == pytest.approx(10.0)
    assert body["calculation"]["sigma"] == pytest.approx((8 / 6) / D2_2)
    assert body["calculation"]["sigma"] == pytest.approx(1.182, abs=2e-3)
    assert body["calculation"]["sample_count"] == 7
    assert body["calculation"]["excluded_count"] == 1


def test_exclude_ooc_drops_samples_with_open_violations(client, factory, auth):
    char = factory.characteristic(subgroup_size=1)
    samples = add_samples(char, [10, 11, 9, 10, 30, 11, 9, 20])
    add_violation(samples[4])  # open: dropped
    add_violation(samples[7], acknowledged=True)  # reviewed and kept

    kept = client.post(url(char.id) + "?min_samples=2", headers=auth).json
    dropped = client.post(url(char.id) + "?min_samples=2&exclude_ooc=true", headers=auth).json

    assert kept["calculation"]["sample_count"] == 8
    assert kept["after"]["center_line"] == pytest.approx(110 / 8)
    assert dropped["calculation"]["sample_count"] == 7
    assert dropped["calculation"]["excluded_count"] == 1
    assert dropped["after"]["center_line"] == pytest.approx(80 / 7)


def test_last_n_and_date_window(client, factory, auth):
    char = factory.characteristic(subgroup_size=1)
    add_samples(char, [100, 100, 10, 12, 11, 13, 10, 50])  # one minute apart from START
    start, end = "2024-03-05T08:02:00Z", "2024-03-05T08:07:00"

    windowed = client.post(
        url(char.id) + f"?min_samples=5&start_date={start}&end_date={end}&last_n=5",
        headers=auth,
    )

    assert windowed.status_code == 200, windowed.json
    body = windowed.json
    assert body["calculation"]["sample_count"] == 5
    assert body["after"]["center_line"] == pytest.approx(statistics.mean([12, 11, 13, 10, 50]))
    assert body["calculation"]["start_date"] == "2024-03-05T08:02:00+00:00"
    assert body["calculation"]["end_date"] == "2024-03-05T08:07:00+00:00"
    assert body["calculation"]["last_n"] == 5


def test_pending_samples_form_the_baseline_and_are_evaluated_once_limits_exist(
    client, factory, auth
):
    """G-2: samples stored while there were no limits wait, then get judged."""
    char = factory.characteristic(subgroup_size=1)
    add_samples(char, IMR_VALUES + [40], status="pending")

    response = client.post(url(char.id) + "?min_samples=6", headers=auth)

    assert response.status_code == 200
    assert response.json["calculation"]["sample_count"] == 6
    statuses = db.session.scalars(sa.select(Sample.status).where(Sample.char_id == char.id))
    assert set(statuses) == {"evaluated"}


# --- refusals: 400, nothing changed -------------------------------------------------------


def assert_unchanged(char_id):
    stored = reload(char_id)
    assert stored.ucl is None and stored.lcl is None and stored.stored_sigma is None
    assert versions(char_id) == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEvent)) == 0


def test_too_few_samples(client, factory, auth):
    char = factory.characteristic(subgroup_size=1)
    add_samples(char, IMR_VALUES)

    response = client.post(url(char.id), headers=auth)  # min_samples defaults to 25

    assert response.status_code == 400
    assert response.json["detail"].startswith("Invalid input for limit calculation")
    assert "5 usable samples" in response.json["detail"]
    assert_unchanged(char.id)


def test_zero_sigma_is_refused(client, factory, auth):
    """G-9: identical values give σ = 0, and zones would be undefined."""
    char = factory.characteristic(subgroup_size=1)
    add_samples(char, [5.0] * 6)

    response = client.post(url(char.id) + "?min_samples=2", headers=auth)

    assert response.status_code == 400
    assert response.json["detail"].startswith("Invalid input for limit calculation: ")
    assert "sigma" in response.json["detail"]
    assert_unchanged(char.id)


@pytest.mark.parametrize(
    ("query", "loc", "msg"),
    [
        ("min_samples=0", "min_samples", "Input should be greater than or equal to 1"),
        ("last_n=0", "last_n", "Input should be greater than or equal to 1"),
        ("last_n=abc", "last_n",
         "Input should be a valid integer, unable to parse string as an integer"),
        ("exclude_ooc=maybe", "exclude_ooc",
         "Input should be a valid boolean, unable to interpret input"),
        ("start_date=yesterday", "start_date", "Input should be a valid datetime"),
    ],
)
def test_recalculate_bad_query(client, factory, auth, query, loc, msg):
    char = factory.characteristic(subgroup_size=1)
    add_samples(char, IMR_VALUES)

    response = client.post(url(char.id) + "?" + query, headers=auth)

    assert response.status_code == 422
    [item] = response.json["detail"]
    assert item["loc"] == ["query", loc] and item["msg"] == msg
    assert_unchanged(char.id)


# --- roles --------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["recalculate-limits", "set-limits", "change-mode"])
def test_write_roles(client, factory, action):
    char = factory.characteristic(subgroup_size=1)
    add_samples(char, IMR_VALUES)
    supervisor = factory.headers(factory.user("supervisor"))
    elsewhere = factory.headers(factory.user("engineer", factory.plant()))

    anonymous = client.post(url(char.id, action))
    # the any-plant check comes before validation: no body, still 403
    low = client.post(url(char.id, action), headers=supervisor)
    outside = client.post(
        url(char.id, action) + "?min_samples=2", headers=elsewhere,
        json={"ucl": 13, "lcl": 7, "center_line": 10, "sigma": 1, "new_mode": "STANDARDIZED"},
    )
    missing = client.post(
        url(999, action) + "?min_samples=2", headers=elsewhere,
        json={"ucl": 13, "lcl": 7, "center_line": 10, "sigma": 1, "new_mode": "STANDARDIZED"},
    )

    assert anonymous.status_code == 401 and anonymous.json == {"detail": "Not authenticated"}
    assert low.status_code == 403
    assert low.json == {"detail": "Engineer or higher privileges required"}
    assert outside.status_code == 403
    assert outside.json == {"detail": "engineer or higher privileges required for this plant"}
    assert missing.status_code == 404
    assert missing.json == {"detail": "Characteristic 999 not found"}
    assert_unchanged(char.id)


def test_admin_of_another_plant_may_recalculate(client, factory):
    char = factory.characteristic(subgroup_size=1)
    add_samples(char, IMR_VALUES)
    admin = factory.headers(factory.user("admin", factory.plant()))

    assert client.post(url(char.id) + "?min_samples=5", headers=admin).status_code == 200


# --- set-limits ---------------------------------------------------------------------------


def test_set_limits(client, factory, auth, engineer):
    char = factory.characteristic(subgroup_size=4, ucl=12.0, lcl=8.0, center_line=10.0,
                                  sigma=1.3)

    response = client.post(url(char.id, "set-limits"), headers=auth,
                           json={"ucl": 13.5, "lcl": 7.5, "center_line": 10.5, "sigma": 2.0})

    assert response.status_code == 200, response.json
    body = response.json
    assert body["before"] == {"ucl": 12.0, "lcl": 8.0, "center_line": 10.0}
    assert body["after"] == {"ucl": 13.5, "lcl": 7.5, "center_line": 10.5}
    assert set(body["calculation"]) == {"method", "sigma", "sample_count", "excluded_count",
                                        "calculated_at"}
    assert body["calculation"]["method"] == "manual"
    assert body["calculation"]["sigma"] == 2.0
    assert body["calculation"]["sample_count"] == 0
    stored = reload(char.id)
    assert (stored.ucl, stored.lcl, stored.stored_center_line, stored.stored_sigma) == (
        13.5, 7.5, 10.5, 2.0)
    [version] = versions(char.id)
    assert version.method == "manual" and version.created_by == engineer.username
    assert version.secondary_chart == "r"
    assert version.secondary_center_line == pytest.approx(2.058751 * 2.0, abs=1e-4)  # d2(4)·σ


def test_each_change_is_a_new_version_with_a_frame(client, factory, auth):
    char = factory.characteristic(subgroup_size=1)
    add_samples(char, IMR_VALUES)
    db.session.execute(sa.update(Characteristic).values(eval_state={"key": ["stale"]}))
    db.session.commit()

    client.post(url(char.id) + "?min_samples=5", headers=auth)
    client.post(url(char.id, "set-limits"), headers=auth,
                json={"ucl": 14, "lcl": 8, "center_line": 11, "sigma": 1})
    client.post(url(char.id) + "?min_samples=5", headers=auth)

    assert [v.version for v in versions(char.id)] == [1, 2, 3]
    assert [v.method for v in versions(char.id)] == ["moving_range", "manual", "moving_range"]
    stored = reload(char.id)
    assert stored.limits_version == 3
    rows = db.session.scalars(sa.select(OutboxEvent).order_by(OutboxEvent.id)).all()
    updates = [frame for row in rows for frame in row.frame if frame["type"] == "limits_update"]
    assert [f["center_line"] for f in updates] == pytest.approx([11.2, 11, 11.2])
    assert updates[1] == {"type": "limits_update", "characteristic_id": char.id,
                          "ucl": 14, "lcl": 8, "center_line": 11}
    assert all(row.published_at is not None for row in rows)


@pytest.mark.parametrize(
    ("body", "loc", "msg"),
    [
        ({"ucl": 7, "lcl": 13, "center_line": 10, "sigma": 1}, "ucl",
         "Value error, UCL must be greater than LCL"),
        ({"ucl": 10, "lcl": 10, "center_line": 10, "sigma": 1}, "ucl",
         "Value error, UCL must be greater than LCL"),
        ({"ucl": 13, "lcl": 7, "center_line": 14, "sigma": 1}, "center_line",
         "Value error, center_line must be between LCL and UCL"),
        ({"ucl": 13, "lcl": 7, "center_line": 10, "sigma": 0}, "sigma",
         "Input should be greater than 0"),
        ({"ucl": 13, "lcl": 7, "center_line": 10}, "sigma", "Field required"),
        ({"ucl": "high", "lcl": 7, "center_line": 10, "sigma": 1}, "ucl",
         "Input should be a valid number, unable to parse string as a number"),
    ],
)
def test_set_limits_bad_input(client, factory, auth, body, loc, msg):
    char = factory.characteristic(subgroup_size=1)

    response = client.post(url(char.id, "set-limits"), headers=auth, json=body)

    assert response.status_code == 422
    [item] = response.json["detail"]
    assert item["loc"] == ["body", loc] and item["msg"] == msg
    assert_unchanged(char.id)


# --- change-mode (engine.md §5.2 worked example) ------------------------------------------


@pytest.fixture
def mode_char(factory):
    """CL_s = 100, σ_s = 2, nominal n = 4; samples of n_i = 4, 2, 1."""
    char = factory.characteristic(subgroup_size=4, ucl=103.0, lcl=97.0, center_line=100.0,
                                  sigma=2.0, min_measurements=1)
    add_samples(char, [[100, 102, 101, 101], [103, 105], [95]])
    return char


def mode_fields(char_id):
    db.session.expire_all()
    rows = db.session.execute(
        sa.select(Sample.z_score, Sample.effective_ucl, Sample.effective_lcl)
        .where(Sample.char_id == char_id).order_by(Sample.id)
    ).all()
    return [tuple(row) for row in rows]


def test_change_mode_standardized(client, auth, mode_char):
    response = client.post(url(mode_char.id, "change-mode"), headers=auth,
                           json={"new_mode": "STANDARDIZED"})

    assert response.status_code == 200, response.json
    assert response.json["previous_mode"] == "NOMINAL_TOLERANCE"
    assert response.json["new_mode"] == "STANDARDIZED"
    assert response.json["samples_migrated"] == 3
    assert response.json["characteristic"]["subgroup_mode"] == "STANDARDIZED"
    assert response.json["characteristic"]["id"] == mode_char.id
    z = [row[0] for row in mode_fields(mode_char.id)]
    assert z == pytest.approx([1.0, 2.8284271, -2.5])
    assert all(row[1:] == (None, None) for row in mode_fields(mode_char.id))
    assert reload(mode_char.id).limits_version == 1


def test_change_mode_variable_limits_then_back(client, auth, mode_char):
    client.post(url(mode_char.id, "change-mode"), headers=auth, json={"new_mode": "STANDARDIZED"})
    response = client.post(url(mode_char.id, "change-mode"), headers=auth,
                           json={"new_mode": "VARIABLE_LIMITS"})

    assert response.status_code == 200
    assert response.json["previous_mode"] == "STANDARDIZED"
    rows = mode_fields(mode_char.id)
    assert [row[0] for row in rows] == [None, None, None]
    assert [row[1] for row in rows] == pytest.approx([103.0, 104.2426407, 106.0])
    assert [row[2] for row in rows] == pytest.approx([97.0, 95.7573593, 94.0])

    back = client.post(url(mode_char.id, "change-mode"), headers=auth,
                       json={"new_mode": "NOMINAL_TOLERANCE"})

    assert back.status_code == 200
    assert mode_fields(mode_char.id) == [(None, None, None)] * 3
    assert [v.version for v in versions(mode_char.id)] == [1, 2, 3]


def test_change_mode_needs_stored_parameters(client, factory, auth):
    char = factory.characteristic(subgroup_size=4, ucl=103.0, lcl=97.0)
    add_samples(char, [[100, 102, 101, 101]])

    response = client.post(url(char.id, "change-mode"), headers=auth,
                           json={"new_mode": "VARIABLE_LIMITS"})

    assert response.status_code == 400
    assert response.json == {
        "detail": "stored_sigma and stored_center_line must be set. Run recalculate-limits first."
    }
    assert reload(char.id).subgroup_mode == "NOMINAL_TOLERANCE"
    assert versions(char.id) == []


def test_change_mode_without_samples_needs_nothing(client, factory, auth):
    char = factory.characteristic(subgroup_size=4)

    response = client.post(url(char.id, "change-mode"), headers=auth,
                           json={"new_mode": "STANDARDIZED"})

    assert response.status_code == 200
    assert response.json["samples_migrated"] == 0
    assert reload(char.id).subgroup_mode == "STANDARDIZED"


@pytest.mark.parametrize("body", [{}, {"new_mode": "standardized"}, {"new_mode": 3}])
def test_change_mode_bad_input(client, auth, mode_char, body):
    response = client.post(url(mode_char.id, "change-mode"), headers=auth, json=body)

    assert response.status_code == 422
    [item] = response.json["detail"]
    assert item["loc"] == ["body", "new_mode"]
    assert reload(mode_char.id).subgroup_mode == "NOMINAL_TOLERANCE"
    assert mode_fields(mode_char.id) == [(None, None, None)] * 3


def test_recalculate_keeps_the_fields_of_points_judged_earlier(client, factory, auth):
    """C11: a point keeps the z-score of the limits it was judged with."""
    char = factory.characteristic(subgroup_size=1, ucl=16.0, lcl=4.0, center_line=10.0,
                                  sigma=2.0, subgroup_mode="STANDARDIZED")
    add_samples(char, IMR_VALUES)
    client.post(url(char.id, "change-mode"), headers=auth, json={"new_mode": "STANDARDIZED"})
    before = mode_fields(char.id)

    client.post(url(char.id) + "?min_samples=5", headers=auth)

    assert [row[0] for row in before] == pytest.approx([0.0, 1.0, 0.5, 1.5, 0.0])
    assert mode_fields(char.id) == before
