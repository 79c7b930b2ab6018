"""Engine benchmark: rule evaluation throughput and limit computation time.

Run: ``python bench/bench_engine.py`` (from the repository root, in the project's venv).
Prints a markdown section to paste under "## Engine" in bench/RESULTS.md. Data are
in-control N(0, 1) points on a chart with CL 0, σ 1 and all eight Nelson rules enabled,
so every rule is computed at every point and firings are as rare as in production.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openspc.spc import (  # noqa: E402
    Points,
    RuleConfig,
    RuleEvaluator,
    evaluate_batch,
    imr_limits,
    p_limits,
    xbar_r_limits,
    xbar_s_limits,
)

CONFIG = RuleConfig.nelson()
RNG = np.random.default_rng(20260212)


def best_of(repeats: int, run: Callable[[], object]) -> float:
    """Best CPU time of this process over ``repeats`` runs: the machine is shared, and CPU
    time (single-threaded code) is what one core spends, unaffected by waiting for it."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times)


def chart_points(size: int) -> Points:
    return Points.build(RNG.normal(size=size), 0.0, 1.0)


def bench_batch(size: int, records: bool) -> float:
    """``evaluate_batch`` returns numpy arrays of firings; ``records`` also materialises them
    as Violation objects (about 2.6 % of in-control points fire some Nelson rule)."""
    points = chart_points(size)
    repeats = 5 if size >= 10**6 else 20
    if records:
        return size / best_of(repeats, lambda: evaluate_batch(points, CONFIG).violations())
    return size / best_of(repeats, lambda: evaluate_batch(points, CONFIG))


def bench_chunked(size: int, chunk: int) -> float:
    """Incremental evaluator fed ``chunk`` new points per call (a coalesced worker batch)."""
    chunks = [chart_points(min(chunk, size - start)) for start in range(0, size, chunk)]

    def run() -> None:
        evaluator = RuleEvaluator(CONFIG)
        for points in chunks:
            evaluator.evaluate_many(points)

    return size / best_of(3, run)


def bench_push(size: int) -> float:
    """Incremental evaluator, one Python call per point."""
    values = RNG.normal(size=size).tolist()

    def run() -> None:
        evaluator = RuleEvaluator(CONFIG)
        push = evaluator.push
        for value in values:
            push(value, 0.0, 1.0, 3.0, -3.0)

    return size / best_of(3, run)


def bench_flat(history: int, chunk: int) -> tuple[float, float]:
    """Seconds per point for a fixed workload on a fresh evaluator and after ``history``
    points (state serialised and restored, as a worker would)."""
    warm = RuleEvaluator(CONFIG)
    for start in range(0, history, 10_000):
        warm.evaluate_many(chart_points(min(10_000, history - start)))
    state = warm.to_dict()
    tail = chart_points(chunk)
    values = tail.value.tolist()

    def many(evaluator_state: dict | None) -> Callable[[], object]:
        def run() -> None:
            evaluator = (
                RuleEvaluator(CONFIG)
                if evaluator_state is None
                else RuleEvaluator.from_dict(CONFIG, evaluator_state)
            )
            evaluator.evaluate_many(tail)

        return run

    def push(evaluator_state: dict | None) -> Callable[[], object]:
        def run() -> None:
            evaluator = (
                RuleEvaluator(CONFIG)
                if evaluator_state is None
                else RuleEvaluator.from_dict(CONFIG, evaluator_state)
            )
            for value in values:
                evaluator.push(value, 0.0, 1.0, 3.0, -3.0)

        return run

    fresh_state = RuleEvaluator(CONFIG).to_dict()
    return (
        best_of(20, push(fresh_state)) / chunk,
        best_of(20, push(state)) / chunk,
        best_of(20, many(fresh_state)) / chunk,
        best_of(20, many(state)) / chunk,
    )


def bench_limits(count: int) -> list[tuple[str, float]]:
    subgroups = RNG.normal(74.0, 0.01, size=(count, 5))
    ragged = [row[: 3 + i % 3].tolist() for i, row in enumerate(subgroups)]
    counts = RNG.binomial(50, 0.2, size=count)
    singles = RNG.normal(size=count)
    cases = [
        ("X̄-R, 2-D array of n = 5", lambda: xbar_r_limits(subgroups)),
        ("X̄-S, 2-D array of n = 5", lambda: xbar_s_limits(subgroups)),
        ("X̄-R, ragged lists n = 3..5", lambda: xbar_r_limits(ragged, n=5)),
        ("X̄-S pooled, ragged lists", lambda: xbar_s_limits(ragged, 5, "pooled")),
        ("I-MR", lambda: imr_limits(singles)),
        ("p, varying sizes", lambda: p_limits(counts, RNG.integers(50, 60, size=count))),
    ]
    return [(name, best_of(5, run)) for name, run in cases]


def main() -> None:
    sizes = (10**3, 10**5, 10**6)
    lines = [
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, numpy {np.__version__}; single thread, best "
        "CPU time of several runs. All eight Nelson rules enabled, in-control N(0,1) data.",
        "",
        "| points | batch `evaluate_batch` (arrays) | batch + Violation records "
        "| `evaluate_many`, chunks of 10 | chunks of 100 | chunks of 1 000 "
        "| chunks of 10 000 | `push` (1 call per point) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        push = f"{bench_push(size):,.0f}" if size <= 10**5 else "–"
        small = f"{bench_chunked(size, 10):,.0f}" if size <= 10**5 else "–"
        lines.append(
            f"| {size:,} | {bench_batch(size, False):,.0f} | {bench_batch(size, True):,.0f} "
            f"| {small} | {bench_chunked(size, 100):,.0f} | {bench_chunked(size, 1000):,.0f} "
            f"| {bench_chunked(size, 10_000):,.0f} | {push} |"
        )
        print(lines[-1], flush=True)
    lines += ["", "(points per second)", ""]
    push_fresh, push_old, many_fresh, many_old = bench_flat(10**6, 1000)
    lines += [
        "Cost per point against history (1 000 new points after restoring the state):",
        "",
        "| path | fresh characteristic | after 10^6 points |",
        "|---|---:|---:|",
        f"| `push` | {push_fresh * 1e9:,.0f} ns | {push_old * 1e9:,.0f} ns |",
        f"| `evaluate_many` | {many_fresh * 1e9:,.0f} ns | {many_old * 1e9:,.0f} ns |",
        "",
        "Limit computation for 10^5 subgroups:",
        "",
        "| chart | time |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {seconds * 1e3:,.1f} ms |" for name, seconds in bench_limits(10**5)]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
