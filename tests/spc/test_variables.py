"""Variables charts against published textbook limits, engine.md §16 and hand calculations."""

import math
import random

import numpy as np
import pytest

from openspc.spc import (
    ChartType,
    SigmaMethod,
    SPCError,
    compute_limits,
    constants,
    imr_limits,
    limits_from_sigma,
    subgroup_stats,
    xbar_r_limits,
    xbar_s_limits,
)

# Montgomery, Introduction to Statistical Quality Control (6th ed.), Table 6.3: inside
# diameter of piston rings (mm), 25 samples of 5. Published: X̿ = 74.001, R̄ = 0.023,
# X̄ chart 74.014 / 73.988, R chart UCL 0.049; X̄-S (Example 6.3): S̄ = 0.0094,
# X̄ chart 74.014 / 73.988, S chart UCL 0.0196, LCL 0.
# The book computes the limits from X̿ and R̄ already rounded to 3 decimals
# (74.001 + 0.577·0.023 = 74.0143); unrounded, X̿ = 74.00112 and R̄ = 0.02324 give 74.0146,
# so the limits are compared to 1e-3 and the statistics to their printed precision.
PISTON_RINGS = [
    [74.030, 74.002, 74.019, 73.992, 74.008],
    [73.995, 73.992, 74.001, 74.011, 74.004],
    [73.988, 74.024, 74.021, 74.005, 74.002],
    [74.002, 73.996, 73.993, 74.015, 74.009],
    [73.992, 74.007, 74.015, 73.989, 74.014],
    [74.009, 73.994, 73.997, 73.985, 73.993],
    [73.995, 74.006, 73.994, 74.000, 74.005],
    [73.985, 74.003, 73.993, 74.015, 73.988],
    [74.008, 73.995, 74.009, 74.005, 74.004],
    [73.998, 74.000, 73.990, 74.007, 73.995],
    [73.994, 73.998, 73.994, 73.995, 73.990],
    [74.004, 74.000, 74.007, 74.000, 73.996],
    [73.983, 74.002, 73.998, 73.997, 74.012],
    [74.006, 73.967, 73.994, 74.000, 73.984],
    [74.012, 74.014, 73.998, 73.999, 74.007],
    [74.000, 73.984, 74.005, 73.998, 73.996],
    [73.994, 74.012, 73.986, 74.005, 74.007],
    [74.006, 74.010, 74.018, 74.003, 74.000],
    [73.984, 74.002, 74.003, 74.005, 73.997],
    [74.000, 74.010, 74.013, 74.020, 74.003],
    [73.982, 74.001, 74.015, 74.005, 73.996],
    [74.004, 73.999, 73.990, 74.006, 74.009],
    [74.010, 73.989, 73.990, 74.009, 74.014],
    [74.015, 74.008, 73.993, 74.000, 74.010],
    [73.982, 73.984, 73.995, 74.017, 74.013],
]


def test_piston_ring_data_is_the_published_table():
    stats = subgroup_stats(PISTON_RINGS)
    # The book prints Σx̄_i = 1850.028 and ΣR_i = 0.581.
    assert stats.means.sum() == pytest.approx(1850.028, abs=0.003)
    assert stats.ranges.sum() == pytest.approx(0.581, abs=1e-9)


def test_piston_rings_xbar_r_published_limits():
    limits = xbar_r_limits(PISTON_RINGS)
    assert limits.method == SigmaMethod.R_BAR_D2
    assert limits.n == 5 and limits.sample_count == 25
    assert limits.center_line == pytest.approx(74.001, abs=5e-4)
    assert limits.ucl == pytest.approx(74.014, abs=1e-3)
    assert limits.lcl == pytest.approx(73.988, abs=1e-3)
    assert limits.secondary.chart == "r"
    assert limits.secondary.center_line == pytest.approx(0.023, abs=5e-4)
    assert limits.secondary.ucl == pytest.approx(0.049, abs=5e-4)
    assert limits.secondary.lcl == 0.0
    # Same as the A2 form with exact constants.
    r_bar = 0.581 / 25
    assert limits.ucl == pytest.approx(limits.center_line + constants(5).A2 * r_bar, rel=1e-12)


def test_piston_rings_xbar_s_published_limits():
    limits = xbar_s_limits(PISTON_RINGS)
    assert limits.method == SigmaMethod.S_BAR_C4
    assert limits.secondary.chart == "s"
    assert limits.secondary.center_line == pytest.approx(0.0094, abs=5e-5)
    assert limits.ucl == pytest.approx(74.014, abs=1e-3)
    assert limits.lcl == pytest.approx(73.988, abs=1e-3)
    assert limits.secondary.ucl == pytest.approx(0.0196, abs=5e-5)
    assert limits.secondary.lcl == 0.0


def test_xbar_s_is_available_for_small_subgroups():
    # The reference picks the estimator by n; we pick by chart type.
    assert xbar_s_limits(PISTON_RINGS).chart_type == ChartType.XBAR_S


def test_engine_vector_imr():
    limits = imr_limits([10, 12, 11, 13, 10])
    # §16 uses d2 = 1.128 (σ 1.77305, UCL 16.51915); exact d2(2) = 2/√π gives σ = 2·√π/2.
    assert limits.center_line == pytest.approx(11.2)
    assert limits.sigma == pytest.approx(2.0 / (2 / math.sqrt(math.pi)), rel=1e-7)
    assert limits.sigma == pytest.approx(1.77305, abs=1e-3)
    assert limits.ucl == pytest.approx(16.51915, abs=3e-3)
    assert limits.lcl == pytest.approx(5.88085, abs=3e-3)
    assert limits.secondary.chart == "mr"
    assert limits.secondary.center_line == pytest.approx(2.0)
    assert limits.secondary.ucl == pytest.approx(6.534, abs=2e-3)
    assert limits.secondary.lcl == 0.0


SIXTEEN_XBAR_R = [
    [10.1, 10.3, 9.9, 10.0, 10.2],
    [9.8, 10.0, 10.1, 9.9, 10.2],
    [10.4, 10.1, 10.0, 10.3, 10.2],
    [9.9, 9.7, 10.0, 10.1, 9.8],
]


def test_engine_vector_xbar_r():
    limits = xbar_r_limits(SIXTEEN_XBAR_R)
    assert limits.center_line == pytest.approx(10.05)
    assert limits.sigma == pytest.approx(0.171969, abs=1e-5)
    assert limits.ucl == pytest.approx(10.280721, abs=1e-4)
    assert limits.lcl == pytest.approx(9.819279, abs=1e-4)
    assert limits.secondary.ucl == pytest.approx(0.8456, abs=1e-3)
    assert limits.secondary.lcl == 0.0


def test_engine_vector_xbar_s_from_summary_statistics():
    s_bar = 1.619525
    limits = limits_from_sigma("xbar_s", 49.112778, s_bar / constants(12).c4, 12, "s_bar_c4")
    assert limits.sigma == pytest.approx(1.656634, abs=1e-4)
    assert limits.ucl == pytest.approx(50.547465, abs=1e-4)
    assert limits.lcl == pytest.approx(47.678091, abs=1e-4)
    assert limits.secondary.ucl == pytest.approx(2.665738, abs=1e-3)
    assert limits.secondary.lcl == pytest.approx(0.573312, abs=1e-3)


def test_undersized_subgroup_does_not_bias_sigma():
    # §16: the reference averages R = (2, 1, 0) → R̄ = 1.0 and σ = 0.42992 (biased low by
    # the one-value subgroup). Ours: the one-value subgroup carries no within information,
    # σ = mean(2/d2(5), 1/d2(5)) = 1.5/2.326 = 0.64489.
    groups = [[9, 10, 11, 10, 10], [9.5, 10.5, 10, 10, 10], [10]]
    limits = xbar_r_limits(groups, n=5)
    assert limits.center_line == pytest.approx(10.0)
    assert limits.sigma == pytest.approx(1.5 / constants(5).d2, rel=1e-12)
    assert limits.ucl == pytest.approx(10.0 + 3 * limits.sigma / math.sqrt(5), rel=1e-12)
    pooled = xbar_r_limits(groups, n=5, sigma_method="pooled")
    # Hand: s1² = (1+0+1+0+0)/4 = 0.5, s2² = (0.25+0.25)/4 = 0.125; pooled = √(4·0.625/8).
    assert pooled.method == SigmaMethod.POOLED
    assert pooled.sigma == pytest.approx(math.sqrt(0.3125), rel=1e-12)


def test_variable_sizes_scale_each_subgroup_by_its_own_constant():
    groups = [[1.0, 2.0], [1.0, 2.0, 4.0], [0.0, 1.0, 1.0, 3.0]]
    r_sigma = xbar_r_limits(groups).sigma
    expected = (1 / constants(2).d2 + 3 / constants(3).d2 + 3 / constants(4).d2) / 3
    assert r_sigma == pytest.approx(expected, rel=1e-12)
    s_limits = xbar_s_limits(groups)
    s = [np.std(g, ddof=1) for g in groups]
    expected = np.mean([si / constants(len(g)).c4 for si, g in zip(s, groups, strict=True)])
    assert s_limits.sigma == pytest.approx(expected, rel=1e-12)
    # Center line = grand mean of all 9 individual values.
    assert s_limits.center_line == pytest.approx(15.0 / 9)
    assert s_limits.n == 4  # most frequent size, largest on ties


def test_limits_do_not_depend_on_subgroup_order():
    shuffled = PISTON_RINGS[:]
    random.Random(4).shuffle(shuffled)
    for fn in (xbar_r_limits, xbar_s_limits):
        a, b = fn(PISTON_RINGS), fn(shuffled)
        assert a.center_line == pytest.approx(b.center_line, rel=1e-12)
        assert a.sigma == pytest.approx(b.sigma, rel=1e-12)


def test_excluded_samples_never_enter_the_baseline():
    # engine.md §7.2 observed case: the 50 is excluded.
    values = [[10], [11], [9], [10], [11], [9], [10], [50]]
    with_outlier = compute_limits("i_mr", subgroups=values)
    assert with_outlier.center_line == pytest.approx(15.0)
    limits = compute_limits("i_mr", subgroups=values, excluded=[False] * 7 + [True])
    assert limits.center_line == pytest.approx(10.0)
    assert limits.sample_count == 7
    assert limits.sigma == pytest.approx(1.333333 / constants(2).d2, rel=1e-5)


def test_dispatcher_defaults_by_chart_type():
    assert compute_limits("xbar_r", subgroups=PISTON_RINGS).method == "r_bar_d2"
    assert compute_limits("xbar_s", subgroups=PISTON_RINGS).method == "s_bar_c4"
    assert compute_limits("i_mr", subgroups=[1.0, 2.0, 4.0]).method == "moving_range"
    assert compute_limits("xbar_s", subgroups=PISTON_RINGS, sigma_method="pooled").method == (
        "pooled"
    )


def test_manual_limits_and_round_trip():
    limits = limits_from_sigma("xbar_r", 100.0, 2.0, 4)
    assert (limits.ucl, limits.lcl, limits.method) == (103.0, 97.0, SigmaMethod.MANUAL)
    assert type(limits).from_dict(limits.to_dict()) == limits


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: xbar_r_limits([[1.0, float("nan")], [1.0, 2.0]]), "NaN"),
        (lambda: xbar_r_limits([[1.0, float("inf")], [1.0, 2.0]]), "infinite"),
        (lambda: xbar_r_limits([[1.0, 2.0], []]), "subgroup 1 is empty"),
        (lambda: xbar_r_limits([]), "no subgroups"),
        (lambda: xbar_r_limits([[1.0] * 26]), "too many measurements"),
        (lambda: compute_limits("i_mr", subgroups=[[1.0], [1.0, 2.0]]), "too many measurements"),
        (lambda: xbar_r_limits([[3.0, 3.0], [3.0, 3.0]]), "zero sigma"),
        (lambda: xbar_r_limits([[3.0], [4.0]]), "sigma is undefined"),
        (lambda: imr_limits([1.0]), "sigma is undefined"),
        (lambda: imr_limits([2.0, 2.0, 2.0]), "zero sigma"),
        (lambda: imr_limits([2.0, float("nan")]), "NaN"),
        (lambda: limits_from_sigma("xbar_r", 1.0, 0.0, 5), "zero sigma"),
        (lambda: limits_from_sigma("xbar_r", 1.0, 1.0, 1), "subgroup size"),
        (lambda: xbar_r_limits(PISTON_RINGS, sigma_method="moving_range"), "does not apply"),
    ],
)
def test_bad_input_names_the_problem(call, message):
    with pytest.raises(SPCError, match=message):
        call()
