"""Attribute charts against Montgomery's published examples and hand calculations."""

import math

import numpy as np
import pytest

from openspc.spc import (
    ChartType,
    SPCError,
    attribute_points,
    attribute_statistic,
    c_limits,
    compute_limits,
    np_limits,
    p_limits,
    point_limits,
    u_limits,
)

# Montgomery Table 7.1: orange juice cans, 30 samples of n = 50. Published p̄ = 0.2313,
# UCL 0.4102, LCL 0.0524; np chart (same data) CL 11.565, UCL 20.51, LCL 2.62 (the book
# multiplies the rounded p̄ = 0.2313 by 50; unrounded n·p̄ = 347/30 = 11.5667).
ORANGE_JUICE = [12, 15, 8, 10, 4, 7, 16, 9, 14, 10, 5, 6, 17, 12, 22,
                8, 10, 5, 13, 11, 20, 18, 24, 15, 9, 12, 7, 13, 9, 6]  # fmt: skip
# Montgomery Table 7.7: nonconformities on 26 printed circuit boards; c̄ = 19.85,
# UCL 33.22, LCL 6.48 (the book adds 3·√19.85 to the rounded c̄; unrounded c̄ = 19.846
# gives 33.211 / 6.481, hence a 1e-2 tolerance on the limits).
CIRCUIT_BOARDS = [21, 24, 16, 12, 15, 5, 28, 20, 31, 25, 20, 24, 16,
                  19, 10, 17, 13, 22, 18, 39, 30, 24, 16, 19, 17, 15]  # fmt: skip
# Montgomery Example 7.x: personal computers, 20 samples of n = 5 units; ū = 1.93,
# UCL 3.79, LCL 0.07.
COMPUTERS = [10, 12, 8, 14, 10, 16, 11, 7, 10, 15, 9, 5, 7, 11, 12, 6, 8, 10, 7, 5]


def test_orange_juice_p_chart():
    assert sum(ORANGE_JUICE) == 347
    limits = p_limits(ORANGE_JUICE, 50)
    assert limits.chart_type == ChartType.P
    assert limits.center_line == pytest.approx(0.2313, abs=5e-5)
    assert limits.ucl == pytest.approx(0.4102, abs=5e-5)
    assert limits.lcl == pytest.approx(0.0524, abs=5e-5)
    assert limits.n == 50 and limits.sample_count == 30


def test_orange_juice_np_chart():
    limits = np_limits(ORANGE_JUICE, 50)
    assert limits.center_line == pytest.approx(11.565, abs=2e-3)
    assert limits.ucl == pytest.approx(20.51, abs=5e-3)
    assert limits.lcl == pytest.approx(2.62, abs=5e-3)


def test_circuit_boards_c_chart():
    assert sum(CIRCUIT_BOARDS) == 516
    limits = c_limits(CIRCUIT_BOARDS)
    assert limits.center_line == pytest.approx(19.85, abs=5e-3)
    assert limits.ucl == pytest.approx(33.22, abs=1e-2)
    assert limits.lcl == pytest.approx(6.48, abs=1e-2)


def test_computers_u_chart():
    assert sum(COMPUTERS) == 193
    limits = u_limits(COMPUTERS, 5)
    assert limits.center_line == pytest.approx(1.93)
    assert limits.ucl == pytest.approx(3.79, abs=5e-3)
    assert limits.lcl == pytest.approx(0.07, abs=5e-3)


def test_p_chart_variable_sizes_hand_calculation():
    # d = 4, 10, 6 defectives in n = 100, 200, 50: p̄ = 20/350 = 0.0571429.
    counts, sizes = [4, 10, 6], [100, 200, 50]
    limits = p_limits(counts, sizes)
    p_bar = 20 / 350
    assert limits.center_line == pytest.approx(p_bar, rel=1e-12)
    assert limits.sigma == pytest.approx(math.sqrt(p_bar * (1 - p_bar)), rel=1e-12)
    ucl, lcl = point_limits(limits, sizes)
    for size, u, low in zip(sizes, ucl, lcl, strict=True):
        half = 3 * math.sqrt(p_bar * (1 - p_bar) / size)
        assert u == pytest.approx(p_bar + half, rel=1e-12)
        assert low == pytest.approx(max(0.0, p_bar - half), abs=1e-15)
    assert lcl[2] == 0.0  # n = 50: p̄ - 3σ = -0.041 is floored
    points = attribute_points(limits, counts, sizes)
    assert points.value.tolist() == pytest.approx([0.04, 0.05, 0.12])
    assert points.s.tolist() == pytest.approx(
        [math.sqrt(p_bar * (1 - p_bar) / n) for n in sizes], rel=1e-12
    )
    z = attribute_points(limits, counts, sizes, standardized=True)
    assert z.value[2] == pytest.approx((0.12 - p_bar) / math.sqrt(p_bar * (1 - p_bar) / 50))
    assert z.ucl.tolist() == [3.0] * 3 and z.lcl.tolist() == [-3.0] * 3


def test_p_chart_ucl_capped_at_one_and_np_at_n():
    limits = p_limits([1, 1], [2, 2])  # p̄ = 0.5, n = 2: p̄ + 3·0.3536 = 1.56
    assert limits.ucl == 1.0 and limits.lcl == 0.0
    np_lim = np_limits([1, 1], 2)
    assert np_lim.ucl == 2.0 and np_lim.lcl == 0.0


def test_u_chart_variable_sizes_per_point_limits():
    counts, sizes = [3, 9, 2], [1.0, 4.0, 0.5 * 2]
    limits = u_limits(counts, sizes)
    u_bar = 14 / 6
    ucl, _ = point_limits(limits, sizes)
    assert ucl[1] == pytest.approx(u_bar + 3 * math.sqrt(u_bar / 4), rel=1e-12)
    assert attribute_statistic("u", counts, sizes).tolist() == pytest.approx([3, 2.25, 2])


def test_dispatcher_attribute_charts_and_exclusion():
    limits = compute_limits("c", counts=[4, 6, 100], excluded=[False, False, True])
    assert limits.center_line == pytest.approx(5.0)
    assert compute_limits("p", counts=ORANGE_JUICE, sizes=50).center_line == pytest.approx(
        347 / 1500
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: p_limits([1, -1], [10, 10]), "negative count"),
        (lambda: p_limits([11, 1], [10, 10]), "count > size"),
        (lambda: np_limits([11, 1], 10), "count > size"),
        (lambda: np_limits([1, 2], [10, 12]), "constant sample size"),
        (lambda: p_limits([1, 2], [10, 0]), "non-positive size"),
        (lambda: p_limits([1.5, 2], [10, 10]), "not a whole number"),
        (lambda: c_limits([1, float("nan")]), "NaN"),
        (lambda: u_limits([1, 2], [float("inf"), 1]), "infinite"),
        (lambda: c_limits([0, 0, 0]), "zero sigma"),
        (lambda: p_limits([0, 0], [10, 10]), "zero sigma"),
        (lambda: p_limits([10, 10], [10, 10]), "zero sigma"),
        (lambda: c_limits([]), "no counts"),
        (lambda: p_limits([1, 2, 3], [10, 10]), "3 counts but 2 sizes"),
        (lambda: compute_limits("u", counts=[1, 2]), "needs sample sizes"),
    ],
)
def test_bad_counts_name_the_problem(call, message):
    with pytest.raises(SPCError, match=message):
        call()


def test_np_points_reject_other_sizes():
    limits = np_limits(ORANGE_JUICE, 50)
    with pytest.raises(SPCError, match="constant sample size"):
        attribute_points(limits, [3], [40])
    assert np.all(attribute_points(limits, [3, 30]).ucl == limits.ucl)
