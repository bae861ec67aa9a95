"""Speed of the provisioning ILP: build and solve times on CBC and HiGHS for 1k, 10k and 100k
random columns, and for the ~2k columns the CLI solves (run on demand: -m benchmark -s)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from optimizer.catalog.problem_spec import ObjectiveKind, SolverName
from optimizer.fleet.columns import (
    Classes,
    Columns,
    IlpProblem,
    IlpSolution,
    Limits,
    Objective,
    SolverSettings,
    Status,
)
from optimizer.search.ilp import _build, solve_ilp
from optimizer.search.verify import check_solution

pytestmark = pytest.mark.benchmark

TIME_LIMIT_S = 120.0


def random_problem(n_columns: int, n_classes: int, solver: SolverName, seed: int = 0):
    """Random columns: capability = per-column speed (× devices) × an independent lognormal
    factor per class, one in five (column, class) pairs unservable, 30 accelerator groups, a
    third each aggregated, prefill and decode; KV hand-off binds. A hard case: few columns
    dominate others, so the MIP keeps most of them."""
    rng = np.random.default_rng(seed)
    devices = rng.choice([1, 2, 4, 8], n_columns)
    speed = rng.lognormal(0.0, 0.5, n_columns) * devices
    phase = rng.choice(3, n_columns)  # 0 aggregated, 1 prefill, 2 decode
    fit = rng.lognormal(0.0, 0.4, (n_columns, n_classes))
    capability = np.where(rng.random((n_columns, n_classes)) < 0.2, 0.0, speed[:, None] * fit)
    busy_w = devices * rng.uniform(500.0, 1200.0, n_columns)
    columns = Columns(
        names=tuple(f"col{i}" for i in range(n_columns)),
        prefill=phase != 2,
        decode=phase != 1,
        capability=capability,
        cost_usd_per_hour=devices * rng.uniform(1.0, 4.0, n_columns),
        idle_w=busy_w * 0.3,
        busy_w=busy_w,
        devices=devices.astype(float),
        group=tuple(f"acc{g}" for g in rng.integers(0, 30, n_columns)),
        transfer_bytes_per_s=np.where(phase == 0, np.inf, 50e9),
        tier=(None,) * n_columns,
        tier_gb=np.zeros(n_columns),
        tier_gb_per_request_rate=np.zeros((n_columns, n_classes)),
    )
    rates = rng.uniform(20.0, 200.0, n_classes)
    kv = rng.uniform(0.1e9, 2e9, n_classes)
    return _problem(columns, rates, kv, solver)


def catalog_shaped_problem(n_accelerators: int, n_classes: int, solver: SolverName, seed: int):
    """Columns shaped like the fleet layer's: accelerators × TP 1-8 × bf16/fp8 × three phases ×
    with or without a tier; capability = accelerator speed × TP^0.9 × precision / the class's
    context, zero where the context does not fit the memory. Many columns dominate others."""
    rng = np.random.default_rng(seed)
    speed = rng.lognormal(0.0, 0.5, n_accelerators)
    memory = rng.lognormal(0.0, 0.4, n_accelerators)
    price = 2.0 * speed * rng.lognormal(0.0, 0.3, n_accelerators)
    watts = rng.uniform(400.0, 1200.0, n_accelerators)
    context = rng.lognormal(0.0, 0.8, n_classes)
    grid = np.array(
        [
            (a, tp, precision, phase, tier)
            for a in range(n_accelerators)
            for tp in (1, 2, 4, 8)
            for precision in (1.0, 1.6)  # bf16, fp8 throughput
            for phase in (0, 1, 2)
            for tier in (0, 1)
        ]
    )
    a, tp, precision, phase, tier = grid.T
    a, phase = a.astype(int), phase.astype(int)
    fits = (memory[a] * tp * precision * (1 + 0.5 * tier))[:, None] > 0.8 * context
    throughput = speed[a] * tp**0.9 * precision * np.where(phase > 0, 1.4, 1.0)
    n_columns = len(grid)
    busy_w = watts[a] * tp
    columns = Columns(
        names=tuple(f"col{i}" for i in range(n_columns)),
        prefill=phase != 2,
        decode=phase != 1,
        capability=np.where(fits, throughput[:, None] / context, 0.0),
        cost_usd_per_hour=price[a] * tp * (1 + 0.1 * tier),
        idle_w=busy_w * 0.3,
        busy_w=busy_w,
        devices=tp,
        group=tuple(f"acc{g}" for g in a),
        transfer_bytes_per_s=np.where(phase == 0, np.inf, 50e9),
        tier=(None,) * n_columns,
        tier_gb=np.zeros(n_columns),
        tier_gb_per_request_rate=np.zeros((n_columns, n_classes)),
    )
    rates = rng.uniform(20.0, 200.0, n_classes)
    return _problem(columns, rates, rng.uniform(0.1e9, 2e9, n_classes), solver)


def _problem(columns: Columns, rates: np.ndarray, kv: np.ndarray, solver: SolverName):
    n_classes = len(rates)
    classes = Classes(tuple(f"class{k}" for k in range(n_classes)), rates, kv)
    # a power cap near what the fleet draws: it shapes the fleet without making it infeasible
    typical_w = np.median(columns.busy_w / columns.capability.max(axis=1, initial=1e-9))
    return IlpProblem(
        classes=classes,
        columns=columns,
        objective=Objective(ObjectiveKind.COST, 1.0, 1e-4, "usd_per_hour"),
        limits=Limits(power_w=float(2.0 * rates.sum() * typical_w)),
        energy_usd_per_wh=1e-4,  # $0.10/kWh
        solver=SolverSettings(name=solver, time_limit_s=TIME_LIMIT_S),
    )


def _timed(problem: IlpProblem) -> tuple[float, IlpSolution]:
    """Seconds to build the PuLP model alone, and the solve (whose wall_s includes a build)."""
    start = time.perf_counter()
    _build(problem, one_group=False, elastic=False)
    return time.perf_counter() - start, solve_ilp(problem)


def _row(label: str, problem: IlpProblem, build_s: float, solution: IlpSolution) -> str:
    gap = "-" if solution.gap is None else f"{solution.gap:.2%}"
    return (
        f"{label:<30} {len(problem.columns):>7} {solution.n_variables:>9} "
        f"{solution.n_constraints:>11} {build_s:>7.2f} {solution.wall_s - build_s:>8.2f} "
        f"{solution.status.value:>10} {gap:>7}"
    )


HEADER = (
    f"{'problem':<30} {'columns':>7} {'variables':>9} {'constraints':>11} {'build_s':>7} "
    f"{'solve_s':>8} {'status':>10} {'gap':>7}"
)


@pytest.mark.parametrize("solver", [SolverName.CBC, SolverName.HIGHS])
def test_solve_speed_by_size(solver):
    print(f"\n{HEADER}")
    for n_columns in (1_000, 10_000, 100_000):
        problem = random_problem(n_columns, 6, solver)
        build_s, solution = _timed(problem)
        print(_row(f"{solver.value} random 6 classes", problem, build_s, solution), flush=True)
        assert solution.status is not Status.INFEASIBLE or solution.explanation
        assert check_solution(problem, solution) == []
        # HiGHS stops at its time limit. CBC 2.10 checks it only once branching starts, and
        # its root work grows faster than the size: at 165k variables its LP alone took 31 s
        # and root processing ran past 4 minutes under a 60 s limit. So CBC skips a size 10×
        # up once one solve takes more than a tenth of the limit.
        if solver is SolverName.CBC and solution.wall_s > TIME_LIMIT_S / 10:
            print(f"cbc: {solution.wall_s:.0f} s at this size; larger sizes skipped")
            break


def test_solve_speed_cli_sized():
    """About 2k columns and 5 classes, the size the CLI solves."""
    print(f"\n{HEADER}")
    for solver in (SolverName.CBC, SolverName.HIGHS):
        for label, problem in (
            ("random 5 classes", random_problem(2_000, 5, solver, seed=1)),
            ("catalog-shaped 5 classes", catalog_shaped_problem(40, 5, solver, seed=1)),
        ):
            build_s, solution = _timed(problem)
            print(_row(f"{solver.value} {label}", problem, build_s, solution), flush=True)
            assert solution.status is Status.OPTIMAL
