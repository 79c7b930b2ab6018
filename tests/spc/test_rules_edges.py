"""Every rule at its exact edges under engine.md §17, plus the §9.4 vectors (CL 0, σ 1)."""

import pytest

from openspc.spc import RuleConfig, Severity, SPCError, make_setting

from .rule_helpers import fired, rules_at


def only(rule_id, **parameters):
    """A config with one rule enabled."""
    config = RuleConfig.nelson().updated(
        [{"rule_id": r, "is_enabled": r == rule_id} for r in range(1, 9)]
    )
    if parameters:
        config = config.updated([{"rule_id": rule_id, "parameters": parameters}])
    return config


# --- rule 1 ------------------------------------------------------------------------------


def test_rule1_on_the_limits_is_not_beyond():
    # §9.4: the reference fires on [3.0] and not on [-3.0]; C1 makes both "on the line".
    assert rules_at([3.0]) == set()
    assert rules_at([-3.0]) == set()


def test_rule1_just_beyond_both_sides():
    assert fired([3.0001], config=only(1)) == {(0, 1, 0, 0)}
    assert fired([-3.0001], config=only(1)) == {(0, 1, 0, 0)}


def test_rule1_uses_the_points_own_limits():
    # Attribute chart: LCL floored at 0; a zero count sits on the LCL, not beyond it.
    assert rules_at([0.0], center=0.5, s=0.2, ucl=1.0, lcl=0.0) == set()
    # Per-point limits narrower than 3s: beyond them fires even though |d| < 3s.
    assert rules_at([0.95, 0.2], center=0.5, s=0.2, ucl=0.9, lcl=0.1) == {(0, 1)}


# --- rule 2 ------------------------------------------------------------------------------


@pytest.mark.parametrize("side", [0.5, -0.5])
def test_rule2_run_of_nine_and_eight(side):
    assert fired([side] * 9, config=only(2)) == {(8, 2, 0, 8)}
    assert fired([side] * 8, config=only(2)) == set()


def test_rule2_fires_at_every_later_point_of_a_long_run():
    assert fired([0.5] * 11, config=only(2)) == {(8, 2, 0, 8), (9, 2, 1, 9), (10, 2, 2, 10)}


def test_rule2_point_on_center_line_breaks_the_run():
    # §9.4: the reference counts [0.0]×9 as an upper run; C3 says CL belongs to no side.
    assert rules_at([0.0] * 9) == set()
    assert fired([0.5] * 4 + [0.0] + [0.5] * 8, config=only(2)) == set()
    assert fired([0.5] * 4 + [0.0] + [0.5] * 9, config=only(2)) == {(13, 2, 5, 13)}


def test_rule2_sides_do_not_mix():
    assert fired([0.5] * 5 + [-0.5] * 4, config=only(2)) == set()


def test_rule2_lower_side_vector():
    assert (8, 2) in rules_at([-0.5] * 9)


# --- rule 3 ------------------------------------------------------------------------------


def test_rule3_six_rising_and_five():
    rising = [-0.5, -0.3, -0.1, 0.1, 0.3, 0.5]
    assert fired(rising, config=only(3)) == {(5, 3, 0, 5)}
    assert fired(rising[:5], config=only(3)) == set()
    assert fired(rising[::-1], config=only(3)) == {(5, 3, 0, 5)}


def test_rule3_tie_breaks_the_trend():
    assert rules_at([0, 0.1, 0.2, 0.2, 0.3, 0.4, 0.5]) == set()


def test_rule3_seven_rising_fires_twice():
    assert fired([0.1 * i for i in range(7)], config=only(3)) == {(5, 3, 0, 5), (6, 3, 1, 6)}


def test_rule3_turning_point_starts_a_new_trend():
    values = [0.0, 0.1, 0.2, 0.3, 0.4, 0.3, 0.2, 0.1, 0.0, -0.1]
    assert fired(values, config=only(3)) == {(9, 3, 4, 9)}


# --- rule 4 ------------------------------------------------------------------------------


def test_rule4_fourteen_alternating_and_thirteen():
    assert fired([0.5, -0.5] * 7, config=only(4)) == {(13, 4, 0, 13)}
    assert fired(([0.5, -0.5] * 7)[:13], config=only(4)) == set()
    assert fired([-0.5, 0.5] * 7, config=only(4)) == {(13, 4, 0, 13)}


def test_rule4_zero_difference_breaks_alternation():
    assert rules_at([0.5, -0.5] * 6 + [0.5, 0.5]) == set()
    assert rules_at([0.5, -0.5] * 7 + [-0.5], config=only(4)) == {(13, 4)}


def test_rule4_vector_and_rule7_needs_fifteen():
    result = rules_at([0.5, -0.5] * 7)
    assert result == {(13, 4)}


# --- rule 5 ------------------------------------------------------------------------------


def test_rule5_on_the_two_sigma_line_does_not_count():
    # §9.4 expects a firing for [2, 0, 2] (reference counts v ≥ +2σ); C1 is strict.
    assert rules_at([2.0, 0.0, 2.0]) == set()
    assert rules_at([-2.0, 0.0, -2.0]) == set()


def test_rule5_two_of_three_both_sides():
    assert fired([2.1, 0.0, 2.1], config=only(5)) == {(2, 5, 0, 2)}
    assert fired([-2.1, 0.0, -2.1], config=only(5)) == {(2, 5, 0, 2)}


def test_rule5_newest_point_need_not_qualify():
    # C7: the window [2.1, 2.1, 0] still has 2 of 3; the pattern ends at point 1.
    assert fired([2.1, 2.1, 0.0], config=only(5)) == {(2, 5, 0, 1)}


def test_rule5_needs_a_full_window_and_one_side():
    assert fired([2.1, 2.1], config=only(5)) == set()
    assert fired([2.1, 0.0, -2.1], config=only(5)) == set()
    assert fired([2.1, 0.0, 0.0, 2.1], config=only(5)) == set()


def test_rule5_beyond_limit_points_count():
    assert fired([3.5, 0.0, 2.5], config=only(5)) == {(2, 5, 0, 2)}


# --- rule 6 ------------------------------------------------------------------------------


def test_rule6_four_of_five_and_three_of_five():
    assert fired([1.1, 1.1, 1.1, 1.1, 0.0], config=only(6)) == {(4, 6, 0, 3)}
    assert fired([1.1, 1.1, 1.1, 0.0, 0.0], config=only(6)) == set()
    assert fired([-1.1, 0.0, -1.1, -1.1, -1.1], config=only(6)) == {(4, 6, 0, 4)}


def test_rule6_on_the_one_sigma_line_does_not_count():
    assert fired([1.0] * 5, config=only(6)) == set()
    assert fired([1.0, 1.1, 1.1, 1.1, 1.1], config=only(6)) == {(4, 6, 1, 4)}


def test_rule6_other_side_point_inside_window():
    assert fired([1.1, -1.1, 1.1, 1.1, 1.1], config=only(6)) == {(4, 6, 0, 4)}


# --- rule 7 ------------------------------------------------------------------------------


def test_rule7_fifteen_within_including_lines():
    values = [1.0, -1.0] * 7 + [1.0]  # all exactly on ±1σ: within (C2)
    assert fired(values, config=only(7)) == {(14, 7, 0, 14)}
    assert fired(values[:14], config=only(7)) == set()


def test_rule7_one_point_beyond_one_sigma_breaks_it():
    values = [0.2, -0.2] * 7 + [0.2]
    values[7] = 1.01
    assert fired(values, config=only(7)) == set()


# --- rule 8 ------------------------------------------------------------------------------


def test_rule8_eight_outside_and_seven():
    assert fired([1.1, -1.1] * 4, config=only(8)) == {(7, 8, 0, 7)}
    assert fired(([1.1, -1.1] * 4)[:7], config=only(8)) == set()


def test_rule8_one_side_is_enough_and_the_line_is_inside():
    assert fired([1.5] * 8, config=only(8)) == {(7, 8, 0, 7)}  # C8
    assert fired([1.0] * 8, config=only(8)) == set()
    assert fired([-1.0, 1.1] * 4, config=only(8)) == set()


# --- per-point centers and sigmas (VARIABLE_LIMITS, attribute charts, limit versions) -----


def test_each_point_is_classified_against_its_own_center_and_sigma():
    # x̄ = 101 with s = 0.5 is beyond +2σ; with s = 1 it is not.
    values, centers, sigmas = [101.1, 101.1, 100.0], [100.0] * 3, [0.5, 0.5, 1.0]
    assert fired(values, config=only(5), center=centers, s=sigmas) == {(2, 5, 0, 1)}
    sigmas = [0.5, 1.0, 1.0]
    assert fired(values, config=only(5), center=centers, s=sigmas) == set()


# --- parameters, presets, severities --------------------------------------------------------


def test_western_electric_preset():
    config = RuleConfig.western_electric()
    assert config.enabled_rules == (1, 2, 5, 6)
    assert config.setting(2).parameters == {"run_length": 8}
    assert rules_at([0.5] * 8, config=config) == {(7, 2)}
    assert rules_at([0.5, -0.5] * 7, config=config) == set()


def test_custom_parameters():
    config = only(5, k=3, m=4)
    assert fired([2.1, 2.1, 0.0, 2.1], config=config) == {(3, 5, 0, 3)}
    assert fired([2.1, 2.1, 0.0, 0.0], config=config) == set()
    assert fired([0.1, 0.2, 0.3], config=only(3, run_length=3)) == {(2, 3, 0, 2)}
    assert fired([0.5, -0.5, 0.5], config=only(4, run_length=3)) == {(2, 4, 0, 2)}


def test_k_of_m_both_sides_reports_union_of_qualifying_points():
    config = only(5, k=1, m=3)
    assert fired([0.0, 2.5, -2.5, 0.0], config=config) == {(2, 5, 1, 2), (3, 5, 1, 2)}


def test_default_severities_and_overrides():
    config = RuleConfig.nelson()
    assert config.setting(1).severity == Severity.CRITICAL
    assert {config.setting(r).severity for r in range(2, 9)} == {Severity.WARNING}
    config = config.updated([{"rule_id": 7, "severity": "INFO"}])
    assert config.setting(7).severity == Severity.INFO
    assert config.setting(7).enabled  # a subset update keeps the rest (G-17)
    assert RuleConfig.from_dict(config.to_dict()) == config


def test_secondary_chart_default_is_rule1_only():
    assert RuleConfig.rule1_only().enabled_rules == (1,)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"rule_id": 2, "parameters": {"run_length": 1}}, "parameters.run_length"),
        ({"rule_id": 2, "parameters": {"run_length": 51}}, "parameters.run_length"),
        ({"rule_id": 5, "parameters": {"k": 4, "m": 3}}, "parameters.k"),
        ({"rule_id": 6, "parameters": {"m": 0}}, "parameters.m"),
        ({"rule_id": 2, "parameters": {"k": 2}}, "unknown parameter parameters.k"),
        ({"rule_id": 3, "parameters": {"run_length": "6"}}, "must be an integer"),
        ({"rule_id": 9}, "rule_id must be in 1..8"),
        ({"rule_id": 2, "severity": "LOW"}, "severity"),
    ],
)
def test_bad_rule_settings(setting, message):
    with pytest.raises(SPCError, match=message):
        RuleConfig.nelson().updated([setting])


def test_bad_presets_and_settings():
    with pytest.raises(SPCError, match="rule_preset"):
        RuleConfig.preset("aiag")
    assert make_setting(1).name == "Outlier"
