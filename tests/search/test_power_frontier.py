"""Parts coupled by a power limit alone (search/frontier.py): the knapsack against enumeration,
the sweep against brute force on made-up frontiers (also when the time limit stops it), and the
whole solve by parts against the one whole ILP on seeded problems with binding power limits,
with both solvers, counting that the new path is taken and proves the optimum."""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import replace

import numpy as np
import pytest

from optimizer.catalog.problem_spec import ObjectiveKind, SolverName
from optimizer.fleet.columns import (
    IlpProblem,
    IlpSolution,
    Limits,
    Objective,
    PurchaseUnit,
    SolverSettings,
    Status,
    TierPool,
)
from optimizer.search.frontier import Step, cheapest, floor_options, trace
from optimizer.search.ilp import PROOF_TOL, _whole, solve_ilp
from optimizer.search.parts import class_parts, sharing_allowance
from optimizer.search.verify import check_solution, fleet_totals
from tests.search.problems import COST, ENERGY, make_classes, make_columns

PURCHASES = Objective(ObjectiveKind.COST, 0.0, 0.0, "purchases", purchase_weight=1.0)


def _brute_force(options, limit_w):
    """The least Σ value over every choice of one option per part within the limit."""
    best = None
    for choice in itertools.product(*(range(len(part)) for part in options)):
        value = sum(options[p][j][0] for p, j in enumerate(choice))
        power = sum(options[p][j][1] for p, j in enumerate(choice))
        if power <= limit_w and (best is None or value < best):
            best = value
    return best


@pytest.mark.parametrize("seed", range(200))
def test_cheapest_is_the_brute_force_knapsack(seed):
    rng = np.random.default_rng(seed)
    options = [
        [
            (float(rng.uniform(0, 10)), float(rng.integers(0, 20)))
            for _ in range(rng.integers(1, 5))
        ]
        for _ in range(rng.integers(1, 5))
    ]
    limit_w = float(rng.integers(0, 50))
    found = cheapest(options, limit_w)
    reference = _brute_force(options, limit_w)
    if reference is None:
        assert found is None
        return
    value, chosen = found
    assert value == pytest.approx(reference, abs=1e-12)
    assert sum(options[p][j][0] for p, j in enumerate(chosen)) == pytest.approx(value, abs=1e-12)
    assert sum(options[p][j][1] for p, j in enumerate(chosen)) <= limit_w


def _fleet(value: float) -> IlpSolution:
    return IlpSolution(Status.OPTIMAL, "made-up", 0.0, objective=value, bound=value)


def test_floor_options_by_hand():
    """Solves at caps ∞ and 94 W found fleets of 95 W (0.5) and 80 W (1.0), and the solve at
    79 W none: bound 0.5 from 94 W up, 1.0 on [79, 94] W, nothing below 79 W. A solve the time
    limit stopped (bound -inf) keeps the bound before it, down to 0 W."""
    steps = [Step(math.inf, 0.5, _fleet(0.5), 95.0), Step(94.0, 1.0, _fleet(1.0), 80.0),
             Step(79.0, math.inf, None)]  # fmt: skip
    assert floor_options(steps) == [(0.5, 94.0), (1.0, 79.0)]
    stopped = [*steps[:2], Step(79.0, -math.inf, None)]
    assert floor_options(stopped) == [(0.5, 94.0), (1.0, 79.0), (1.0, 0.0)]


def _made_up(rng) -> list[list[tuple[float, float]]]:
    """Each part's fleets (objective, power): a few, drawn at random, dominated ones too."""
    return [
        [
            (float(rng.uniform(1, 10)), float(rng.uniform(10, 100)))
            for _ in range(rng.integers(1, 6))
        ]
        for _ in range(rng.integers(1, 5))
    ]


def _solver_of(fleets):
    """solve(part, cap): the cheapest of the part's fleets within the cap, as the ILP would."""

    def solve(p: int, cap_w: float) -> Step:
        within = [(v, w) for v, w in fleets[p] if w <= cap_w]
        if not within:
            return Step(cap_w, math.inf, None)
        value, power = min(within)
        return Step(cap_w, value, _fleet(value), power)

    return solve


@pytest.mark.parametrize("seed", range(300))
def test_trace_finds_the_brute_force_optimum(seed):
    """Made-up frontiers: the sweep's incumbent is the optimum and its floor proves it; stopped
    after a round or two by the time limit, its floor is still at most the optimum."""
    rng = np.random.default_rng(seed)
    fleets = _made_up(rng)
    limit_w = float(rng.uniform(10, 60)) * len(fleets)
    optimum = _brute_force(fleets, limit_w)
    solve = _solver_of(fleets)
    first = [solve(p, math.inf) for p in range(len(fleets))]

    def proof(value):
        return value - 1e-9

    traced = trace(first, limit_w, solve, proof, lambda: True, 2)
    if optimum is None:
        assert traced.chosen is None and traced.floor == math.inf
        return
    assert traced.chosen is not None
    assert sum(s.power_w for s in traced.chosen) <= limit_w
    assert sum(s.fleet.objective for s in traced.chosen) == pytest.approx(optimum)
    assert traced.floor == pytest.approx(optimum)

    rounds = iter(range(int(rng.integers(0, 3)), -1, -1))
    stopped = trace(first, limit_w, solve, proof, lambda: next(rounds) > 0, 2)
    assert stopped.floor <= optimum + 1e-9
    if stopped.chosen is not None:
        assert sum(s.fleet.objective for s in stopped.chosen) >= optimum - 1e-9


def _models(seed: int) -> IlpProblem:
    """Two to four models of two classes each, four columns per model serving only their own
    model's classes; nothing shared across models (each model's accelerators are its own, one
    of them sometimes bought in servers; a memory pool sometimes, used by one model only), and
    a power limit or racks at 75-105 % of the unconstrained optimum's peak power (binding,
    infeasible, or not binding at all)."""
    rng = np.random.default_rng(seed)
    n_models = int(rng.integers(2, 5))
    n_columns, n_classes = 4 * n_models, 2 * n_models
    capability = np.zeros((n_columns, n_classes))
    for model in range(n_models):
        rows, cols = slice(4 * model, 4 * model + 4), slice(2 * model, 2 * model + 2)
        capability[rows, cols] = np.where(rng.random((4, 2)) < 0.15, 0.0,
                                          rng.uniform(0.4, 3.0, (4, 2)))  # fmt: skip
    idle = rng.uniform(50, 300, n_columns)
    devices = rng.choice([1, 2, 4], n_columns).astype(float)
    cost = rng.uniform(0.5, 4.0, n_columns)
    group = [f"m{i // 4}-g{i % 2}" for i in range(n_columns)]
    tier = [None] * n_columns
    pools = ()
    if rng.random() < 0.3:
        tier = ["mem" if i in (1, 2) else None for i in range(n_columns)]
        pools = (TierPool("mem", 100.0, float(rng.uniform(0.1, 1.0))),)
    units = ()
    if rng.random() < 0.3:
        members = [i for i in range(n_columns) if group[i] == "m0-g0"]
        least = min(cost[i] / devices[i] for i in members)
        units = (PurchaseUnit("server", "m0-g0", int(rng.integers(2, 9)), least * 0.5, 10.0),)
    columns = make_columns(
        capability, cost_usd_per_hour=cost, idle_w=idle,
        busy_w=idle + rng.uniform(100, 900, n_columns), devices=devices, group=group, tier=tier,
        tier_gb=np.where([t is not None for t in tier], rng.uniform(10, 80, n_columns), 0.0),
    )  # fmt: skip
    objective = ENERGY if rng.random() < 0.25 else COST
    problem = IlpProblem(
        classes=make_classes(rng.uniform(0.5, 3.0, n_classes)),
        columns=columns,
        objective=objective,
        pools=pools,
        solver=SolverSettings(name=SolverName.HIGHS if seed % 2 else SolverName.CBC),
        purchase_units=units,
        then=(PURCHASES,) if rng.random() < 0.5 else (),
        spare_instances=int(rng.random() < 0.2),
    )
    free = solve_ilp(problem)
    peak_w = fleet_totals(problem, free.instances, free.share, free.pool_units).peak_it_power_w
    limit_w = peak_w * float(rng.uniform(0.75, 1.05))
    if rng.random() < 0.25:  # racks of a fifth of the peak each
        racks = int(rng.integers(3, 6))
        return replace(problem, limits=Limits(racks=racks, rack_power_w=limit_w / racks))
    return replace(problem, limits=Limits(power_w=limit_w))


SEEDS = range(80)


@pytest.mark.parametrize("seed", SEEDS)
def test_power_frontier_matches_the_whole_ilp(seed):
    problem = _models(seed)
    parts = class_parts(problem)
    assert len(parts) >= 2 and sharing_allowance(problem, parts) == 0
    by_parts = solve_ilp(problem)
    whole = _whole(problem, False, False, time.perf_counter())
    assert by_parts.status is whole.status
    if whole.objective is None:
        return
    # within the solvers' tolerances (PROOF_TOL): CBC's shares leave an energy objective 10⁻⁶ off
    assert by_parts.objective == pytest.approx(whole.objective, rel=PROOF_TOL, abs=1e-9)
    assert check_solution(problem, by_parts) == []
    assert by_parts.bound <= whole.objective * (1 + PROOF_TOL) + 1e-9
    assert by_parts.gap <= 1e-6


def test_power_frontier_path_is_taken(monkeypatch):
    """Most seeds bind their limit and are proven by the frontier alone (no whole ILP), with
    both solvers, some after refining several parts and some with later stages re-solved; the
    infeasible ones go on to the whole ILP, which explains them."""
    import optimizer.search.ilp as ilp

    traced = []
    real = ilp.trace

    def spy(*args):
        found = real(*args)
        traced.append(found)
        return found

    monkeypatch.setattr(ilp, "trace", spy)
    count = dict.fromkeys(["proven cbc", "proven highs", "several solves", "staged", "none"], 0)
    for seed in SEEDS:
        problem = _models(seed)
        before = len(traced)
        found = solve_ilp(problem)
        if len(traced) == before:
            continue
        if traced[-1].chosen is None:
            count["none"] += 1
            continue
        if found.status is Status.OPTIMAL and not found.coupled:
            count[f"proven {problem.solver.name.value}"] += 1
        count["several solves"] += traced[-1].n_solves >= 3
        count["staged"] += bool(problem.then) and any(
            math.isfinite(step.cap_w) for step in traced[-1].chosen
        )
    assert min(count.values()) >= 4, count
