"""Shared helper: run all three evaluation paths and insist they agree."""

import json
from unittest import mock

from openspc.spc import Points, RuleConfig, RuleEvaluator, evaluate_batch

# Route every chunk, however short, through the seeded numpy kernel instead of push().
KERNEL_ONLY = mock.patch("openspc.spc.incremental.SMALL_CHUNK", 0)


def fired(values, config=None, center=0.0, s=1.0, ucl=None, lcl=None):
    """{(point, rule, first, last)} on a chart with the given center/s (CL 0, σ 1 default),
    checked identical across batch, per-point push, chunked evaluate_many and a state
    round-trip through JSON."""
    config = config or RuleConfig.nelson()
    points = Points.build(values, center, s, ucl, lcl)
    batch = evaluate_batch(points, config).violations()

    pushed = []
    evaluator = RuleEvaluator(config)
    for i in range(len(points)):
        pushed += evaluator.push(
            points.value[i], points.center[i], points.s[i], points.ucl[i], points.lcl[i]
        )
        evaluator = RuleEvaluator.from_dict(config, json.loads(json.dumps(evaluator.to_dict())))

    chunked = []
    evaluator = RuleEvaluator(config)
    with KERNEL_ONLY:
        for start in range(0, len(points), 4):
            chunked += evaluator.evaluate_many(points[start : start + 4])
    assert batch == pushed == chunked
    return {(v.point, v.rule_id, v.first, v.last) for v in batch}


def rules_at(values, **kwargs):
    """{(point, rule)} only."""
    return {(point, rule) for point, rule, _, _ in fired(values, **kwargs)}
