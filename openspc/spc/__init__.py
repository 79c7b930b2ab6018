"""OpenSPC's pure SPC engine: constants, control limits, Nelson rules, capability.

Plain functions and small dataclasses over numpy; imports nothing else from openspc so
the API, the workers and the tests share one engine (design.md, "Layout").
"""

from .attributes import attribute_statistic, c_limits, np_limits, p_limits, u_limits
from .batch import BatchResult, RuleFirings, evaluate_batch
from .capability import Capability, capability
from .charts import ChartType, ControlLimits, SecondaryLimits, SigmaMethod, SubgroupMode
from .constants import ChartConstants, c4, constants, d2, d3
from .errors import SPCError
from .incremental import RuleEvaluator
from .limits import compute_limits
from .points import (
    Points,
    attribute_points,
    point_limits,
    secondary_points,
    standard_errors,
    variables_points,
    z_scores,
)
from .rules import (
    RULE_NAMES,
    RuleConfig,
    RuleSetting,
    Severity,
    Violation,
    make_setting,
    zone_labels,
)
from .subgroups import SubgroupStats, is_undersized, subgroup_stats, validate_subgroup_size
from .variables import (
    imr_limits,
    limits_from_sigma,
    moving_ranges,
    sigma_pooled,
    sigma_r_bar,
    sigma_s_bar,
    xbar_r_limits,
    xbar_s_limits,
)

__all__ = [
    "RULE_NAMES",
    "BatchResult",
    "Capability",
    "ChartConstants",
    "ChartType",
    "ControlLimits",
    "Points",
    "RuleConfig",
    "RuleEvaluator",
    "RuleFirings",
    "RuleSetting",
    "SPCError",
    "SecondaryLimits",
    "Severity",
    "SigmaMethod",
    "SubgroupMode",
    "SubgroupStats",
    "Violation",
    "attribute_points",
    "attribute_statistic",
    "c4",
    "c_limits",
    "capability",
    "compute_limits",
    "constants",
    "d2",
    "d3",
    "evaluate_batch",
    "imr_limits",
    "is_undersized",
    "limits_from_sigma",
    "make_setting",
    "moving_ranges",
    "np_limits",
    "p_limits",
    "point_limits",
    "secondary_points",
    "sigma_pooled",
    "sigma_r_bar",
    "sigma_s_bar",
    "standard_errors",
    "subgroup_stats",
    "u_limits",
    "validate_subgroup_size",
    "variables_points",
    "xbar_r_limits",
    "xbar_s_limits",
    "z_scores",
    "zone_labels",
]
