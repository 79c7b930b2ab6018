"""Subgroup modes (engine.md §5.2 worked example) and the secondary-chart points."""

import pytest

from openspc.spc import (
    Points,
    SPCError,
    SubgroupMode,
    is_undersized,
    limits_from_sigma,
    secondary_points,
    validate_subgroup_size,
    variables_points,
    z_scores,
    zone_labels,
)

LIMITS = limits_from_sigma("xbar_r", 100.0, 2.0, 4)  # CL_s = 100, σ_s = 2, nominal n = 4


def test_standardized_worked_example():
    z = z_scores(LIMITS, [101, 104, 95], [4, 2, 1])
    assert z.tolist() == pytest.approx([1.0, 2.8284271, -2.5])
    points = variables_points(LIMITS, [101, 104, 95], [4, 2, 1], SubgroupMode.STANDARDIZED)
    assert points.center.tolist() == [0.0] * 3 and points.s.tolist() == [1.0] * 3
    assert points.ucl.tolist() == [3.0] * 3 and points.lcl.tolist() == [-3.0] * 3
    # z = 1.0 lies exactly on +1σ: zone C upper under §17 C1/C9 (the reference says B upper).
    assert zone_labels(points).tolist() == ["zone_c_upper", "zone_a_upper", "zone_a_lower"]


def test_variable_limits_worked_example():
    points = variables_points(LIMITS, [101, 104, 95], [4, 2, 1], "VARIABLE_LIMITS")
    assert points.ucl.tolist() == pytest.approx([103.0, 104.2426407, 106.0])
    assert points.lcl.tolist() == pytest.approx([97.0, 95.7573593, 94.0])
    assert points.s.tolist() == pytest.approx([1.0, 1.4142136, 2.0])


def test_nominal_tolerance_uses_fixed_limits():
    points = variables_points(LIMITS, [101, 104], [4, 2])
    assert points.ucl.tolist() == [103.0, 103.0]
    assert points.s.tolist() == [1.0, 1.0]
    assert zone_labels(points).tolist() == ["zone_c_upper", "beyond_ucl"]


def test_zone_labels_on_every_line():
    values = [3.0, -3.0, 2.0, -2.0, 1.0, -1.0, 0.0, 3.5, -3.5]
    labels = zone_labels(Points.build(values, 0.0, 1.0))
    assert labels.tolist() == [
        "zone_a_upper",  # on UCL: not beyond (C1)
        "zone_a_lower",
        "zone_b_upper",  # on +2σ: inside the line
        "zone_b_lower",
        "zone_c_upper",
        "zone_c_lower",
        "zone_c_upper",
        "beyond_ucl",
        "beyond_lcl",
    ]


def test_secondary_points_use_r_chart_limits():
    points = secondary_points(LIMITS, [0.5, 20.0])
    assert points.center[0] == LIMITS.secondary.center_line
    assert zone_labels(points)[1] == "beyond_ucl"


def test_measurement_count_validation():
    validate_subgroup_size(5, 5)
    validate_subgroup_size(6, 5, SubgroupMode.STANDARDIZED)
    with pytest.raises(SPCError, match="too many measurements"):
        validate_subgroup_size(6, 5)
    with pytest.raises(SPCError, match="too few measurements"):
        validate_subgroup_size(1, 5, min_measurements=2)
    with pytest.raises(SPCError, match="too many measurements"):
        validate_subgroup_size(26, 5, SubgroupMode.VARIABLE_LIMITS)
    assert is_undersized(3, 5) and not is_undersized(3, 5, warn_below_count=3)


def test_points_refuse_zero_sigma_and_nan():
    with pytest.raises(SPCError, match="zero sigma"):
        Points.build([1.0], 0.0, 0.0)
    with pytest.raises(SPCError, match="NaN"):
        Points.build([float("nan")], 0.0, 1.0)
