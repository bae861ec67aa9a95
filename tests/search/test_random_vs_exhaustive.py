"""The ILP against brute force on 200 seeded random tiny problems (tests/search/problems.py):
same verdict, same optimum, and every ILP fleet passes the independent re-check."""

from __future__ import annotations

import pytest

from optimizer.fleet.columns import Status
from optimizer.search.exhaustive import solve_exhaustive
from optimizer.search.ilp import solve_ilp
from optimizer.search.verify import check_solution
from tests.search.problems import random_problem

SEEDS = range(200)


@pytest.mark.parametrize("seed", SEEDS)
def test_solve_ilp_matches_exhaustive_on_random_problem(seed):
    problem, one_group = random_problem(seed)
    found = solve_ilp(problem, one_group=one_group)
    reference = solve_exhaustive(problem, one_group=one_group)

    assert found.status is reference.status
    if reference.status is Status.INFEASIBLE:
        assert found.explanation
        return
    assert found.status is Status.OPTIMAL
    assert found.objective == pytest.approx(reference.objective, rel=1e-6, abs=1e-9)
    assert found.gap == pytest.approx(0.0, abs=1e-9)
    assert check_solution(problem, found, one_group=one_group) == []
    assert check_solution(problem, reference, one_group=one_group) == []


def test_random_problems_cover_the_formulation():
    """The seeds reach every feature, and both verdicts, often enough to mean something."""
    count = dict.fromkeys(
        ["feasible", "infeasible", "whole_class", "one_group", "pools", "handoff", "highs",
         "budget", "power", "devices", "one_phase", "energy_price", "pool_traffic",
         "pool_radix", "pool_slots", "headroom", "spare", "servers"],
        0,
    )  # fmt: skip
    for seed in SEEDS:
        problem, one_group = random_problem(seed)
        verdict = solve_exhaustive(problem, one_group=one_group).status
        columns, limits = problem.columns, problem.limits
        one_phase = columns.prefill != columns.decode
        count["feasible" if verdict is Status.OPTIMAL else "infeasible"] += 1
        count["whole_class"] += problem.whole_class
        count["one_group"] += one_group
        count["pools"] += bool(problem.pools)
        count["handoff"] += bool(
            (one_phase & (columns.transfer_bytes_per_s < float("inf"))).any()
            and problem.classes.kv_transfer_bytes.any()
        )
        count["highs"] += problem.solver.name.value == "highs"
        count["budget"] += limits.budget_usd_per_hour is not None
        count["power"] += limits.power_w is not None
        count["devices"] += bool(limits.devices)
        count["one_phase"] += bool(one_phase.any())
        count["energy_price"] += problem.energy_usd_per_wh > 0
        finite_bw = [p.name for p in problem.pools if p.unit_bytes_per_s < float("inf")]
        count["pool_traffic"] += any(
            t in finite_bw
            and (columns.tier_bytes_per_s[i] > 0 or columns.tier_bytes_per_request[i].any())
            for i, t in enumerate(columns.tier)
        )
        count["pool_radix"] += any(p.max_devices_per_unit for p in problem.pools)
        count["pool_slots"] += any(p.slot_limited for p in problem.pools)
        count["headroom"] += problem.max_utilization < 1.0
        count["spare"] += problem.spare_instances > 0
        count["servers"] += bool(problem.purchase_units)
    assert min(count.values()) >= 20, count
