"""Capability indices by hand calculation."""

import math

import pytest

from openspc.spc import SPCError, capability

VALUES = [9.0, 10.0, 11.0, 10.0, 10.0, 12.0, 8.0, 10.0]  # mean 10, s = sqrt(10/7)


def test_all_indices_by_hand():
    result = capability(VALUES, sigma_within=0.8, usl=13.0, lsl=8.5, target=10.5)
    overall = math.sqrt(10 / 7)
    assert result.mean == 10.0 and result.sigma_overall == pytest.approx(overall)
    assert result.cp == pytest.approx(4.5 / 4.8)
    assert result.cpu == pytest.approx(3 / 2.4)
    assert result.cpl == pytest.approx(1.5 / 2.4)
    assert result.cpk == pytest.approx(1.5 / 2.4)
    assert result.pp == pytest.approx(4.5 / (6 * overall))
    assert result.ppk == pytest.approx(1.5 / (3 * overall))
    assert result.cpm == pytest.approx(4.5 / (6 * math.sqrt(10 / 7 + 0.25)))
    assert result.sample_count == 8


def test_one_sided_specs_give_nulls():
    upper_only = capability(VALUES, 0.8, usl=13.0)
    assert upper_only.cp is None and upper_only.pp is None and upper_only.cpm is None
    assert upper_only.cpl is None
    assert upper_only.cpk == upper_only.cpu == pytest.approx(1.25)
    none = capability(VALUES, 0.8)
    assert none.cpk is None and none.ppk is None
    assert capability(VALUES, 0.8, usl=13.0, lsl=8.5).cpm is None  # no target


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"values": [1.0], "sigma_within": 1.0}, "at least 2"),
        ({"values": [1.0, float("nan")], "sigma_within": 1.0}, "NaN"),
        ({"values": VALUES, "sigma_within": 0.0}, "zero sigma"),
        ({"values": [2.0, 2.0], "sigma_within": 1.0}, "zero sigma"),
        ({"values": VALUES, "sigma_within": 1.0, "usl": 1.0, "lsl": 2.0}, "greater than lsl"),
    ],
)
def test_bad_input(kwargs, message):
    with pytest.raises(SPCError, match=message):
        capability(**kwargs)
