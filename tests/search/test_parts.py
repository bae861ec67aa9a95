"""Solving by parts (search/parts.py): classes of different models separate; what couples them
(shared pools, shared servers, fleet-wide limits) is accounted for exactly. Differential test:
by parts against the one whole ILP on seeded random two-model problems, plus proof that the
seeds reach both the uncoupled and the coupled path."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import numpy as np
import pytest

from optimizer.catalog.problem_spec import SolverName
from optimizer.fleet.columns import IlpProblem, Limits, PurchaseUnit, SolverSettings, TierPool
from optimizer.fleet.ilp_input import PURCHASES
from optimizer.search.ilp import _whole, solve_ilp
from optimizer.search.parts import (
    class_parts,
    part_problem,
    shares_whole_units,
    sharing_allowance,
)
from optimizer.search.verify import check_solution
from tests.search.problems import COST, make_classes, make_columns

SEEDS = range(60)


def _two_models(seed: int) -> IlpProblem:
    """Two models of two classes each, three columns per model (each serves only its own
    model's classes); the models may share a memory pool, an accelerator bought in whole
    servers, and a power limit."""
    rng = np.random.default_rng(seed)
    rates = rng.uniform(0.5, 3.0, 4)
    capability = np.zeros((6, 4))
    for model in (0, 1):
        rows, cols = slice(3 * model, 3 * model + 3), slice(2 * model, 2 * model + 2)
        capability[rows, cols] = rng.uniform(0.4, 3.0, (3, 2))
    cost = rng.uniform(0.5, 3.0, 6)
    devices = rng.choice([1, 2, 4], 6).astype(float)
    shared_group = rng.random() < 0.6
    group = ["gpu" if shared_group and i % 3 == 0 else f"own{i}" for i in range(6)]
    pooled = rng.random() < 0.6
    tier = ["mem" if pooled and i % 3 != 2 else None for i in range(6)]
    idle = rng.uniform(50, 200, 6)
    columns = make_columns(
        capability, cost_usd_per_hour=cost, idle_w=idle, busy_w=idle + rng.uniform(100, 600, 6),
        devices=devices, group=group, tier=tier,
        tier_gb=np.where([t is not None for t in tier], rng.uniform(10, 80, 6), 0.0),
    )  # fmt: skip
    units = ()
    if shared_group and rng.random() < 0.7:
        least = min(cost[i] / devices[i] for i in range(6) if group[i] == "gpu")
        units = (PurchaseUnit("server", "gpu", int(rng.integers(2, 9)), least * 0.5, 10.0),)
    power = float(np.mean(columns.busy_w)) * rng.uniform(2.0, 6.0) if rng.random() < 0.4 else None
    return IlpProblem(
        classes=make_classes(rates),
        columns=columns,
        objective=COST,
        pools=(TierPool("mem", 100.0, rng.uniform(0.1, 1.0)),) if pooled else (),
        limits=Limits(power_w=power),
        solver=SolverSettings(name=SolverName.HIGHS if seed % 2 else SolverName.CBC),
        purchase_units=units,
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_by_parts_matches_the_whole_ilp(seed):
    problem = _two_models(seed)
    by_parts = solve_ilp(problem)
    whole = _whole(problem, False, False, time.perf_counter())
    # models that could share a server are solved as one ILP (search.parts.shares_whole_units)
    assert by_parts.parts == (1 if shares_whole_units(problem, class_parts(problem)) else 2)
    assert by_parts.status is whole.status
    if whole.objective is None:
        return
    assert by_parts.objective == pytest.approx(whole.objective, rel=1e-6, abs=1e-9)
    assert check_solution(problem, by_parts) == []
    assert by_parts.bound <= whole.objective * (1 + 1e-6) + 1e-9


def test_random_two_model_problems_reach_both_paths(monkeypatch):
    """Some seeds are proven by their parts alone, others need the coupled solve, others share
    a server and are solved as one ILP; some share a pool, some bind the power limit, and there
    the parts are priced for power (Lagrangian), some of them into a fleet within the limit."""
    import optimizer.search.ilp as ilp

    count = dict.fromkeys(["uncoupled", "coupled", "one ILP", "pool", "power"], 0)
    priced = []  # per call: whether it found a fleet within the limit
    real = ilp._priced_power

    def spy(*args):
        found = real(*args)
        priced.append(found[2])
        return found

    monkeypatch.setattr(ilp, "_priced_power", spy)
    for seed in SEEDS:
        problem = _two_models(seed)
        found = solve_ilp(problem)
        path = "coupled" if found.coupled else "uncoupled"
        count[path if found.parts > 1 else "one ILP"] += 1
        count["pool"] += bool(problem.pools)
        count["power"] += problem.limits.power_w is not None
    assert min(count.values()) >= 8, count
    assert len(priced) >= 5 and sum(priced) >= 2, priced


@pytest.mark.parametrize(("cores", "raced"), [(2, False), (8, True)])
def test_parts_race_their_stages_only_on_spare_cores(monkeypatch, cores, raced):
    """Parts solve side by side, one per core: where they take every core, no stage of theirs
    races its check (the check would take a core another part is using); with cores to spare,
    some do. (The stages the joined fleet runs afterwards, alone, may race either way.)"""
    import optimizer.search.ilp as ilp

    in_parts = []
    real = ilp._stage_against_check

    def spy(*args, **kwargs):
        in_parts.append(threading.current_thread() is not threading.main_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(ilp, "_stage_against_check", spy)
    monkeypatch.setattr(ilp.os, "cpu_count", lambda: cores)
    split = 0
    for seed in range(1, 40, 2):
        problem = _two_models(seed)
        solver = replace(problem.solver, name=SolverName.HIGHS)
        split += solve_ilp(replace(problem, then=(PURCHASES,), solver=solver)).parts > 1
    assert split >= 5, split
    assert any(in_parts) is raced, in_parts


def test_classes_of_different_models_are_separate_parts():
    """Columns 0-1 serve classes 0 and 2, column 2 serves class 1 alone: parts {0, 2}, {1}."""
    columns = make_columns([[1.0, 0.0, 2.0], [0.0, 0.0, 1.0], [0.0, 3.0, 0.0]])
    problem = IlpProblem(make_classes([1.0, 1.0, 1.0]), columns, COST)
    parts = class_parts(problem)
    assert [p.tolist() for p in parts] == [[0, 2], [1]]
    part, rows = part_problem(problem, parts[0])
    assert rows.tolist() == [0, 1]
    assert part.columns.capability.tolist() == [[1.0, 2.0], [0.0, 1.0]]
    assert part.classes.names == ("class0", "class2")


@pytest.mark.parametrize("seed", range(40))
def test_parts_are_the_connected_components_scipy_finds(seed):
    """Random sparse class graphs (chains, isolated classes, one big component): the parts are
    the connected components of scipy's graph routine, in order of their first class."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    rng = np.random.default_rng(seed)
    n_columns, n_classes = int(rng.integers(1, 12)), int(rng.integers(1, 16))
    serves = rng.random((n_columns, n_classes)) < rng.uniform(0.05, 0.4)
    problem = IlpProblem(make_classes([1.0] * n_classes),
                         make_columns(np.where(serves, 1.0, 0.0)), COST)  # fmt: skip
    usable = serves.astype(np.int64)
    count, label = connected_components(csr_matrix(usable.T @ usable), directed=False)
    reference = sorted((np.flatnonzero(label == c).tolist() for c in range(count)),
                       key=lambda part: part[0])  # fmt: skip
    assert [p.tolist() for p in class_parts(problem)] == reference


def test_sharing_allowance_by_hand():
    """Both parts have columns on pool "mem" ($0.5/h a unit) and on group "gpu" (servers of 8
    at $1/h per device): the whole may save one unit of each, 0.5 + 8 × 1 = 8.5 $/h, over the
    sum of its parts. A third part on neither adds nothing."""
    columns = make_columns(
        np.diag([1.0, 1.0, 1.0]), cost_usd_per_hour=[2.0, 2.0, 2.0], group=["gpu", "gpu", "x"],
        tier=["mem", "mem", None], tier_gb=[10.0, 10.0, 0.0],
    )  # fmt: skip
    problem = IlpProblem(
        make_classes([1.0, 1.0, 1.0]), columns, COST, pools=(TierPool("mem", 100.0, 0.5),),
        purchase_units=(PurchaseUnit("server", "gpu", 8, 1.0, 0.0),),
    )  # fmt: skip
    parts = class_parts(problem)
    assert len(parts) == 3
    assert sharing_allowance(problem, parts) == pytest.approx(0.5 + 8 * 1.0)
