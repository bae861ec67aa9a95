"""Homogeneous fleets solved group by group, and optima started from a known fleet (issue 12's
speed): both must find what brute force finds, on the random problems of test_random_vs_
exhaustive, and the seeds must reach the cases that make them differ from the plain solve."""

from __future__ import annotations

import time

import numpy as np
import pytest

import optimizer.search.ilp as ilp
from optimizer.fleet.columns import Status
from optimizer.search.exhaustive import solve_exhaustive
from optimizer.search.ilp import solve_ilp
from optimizer.search.verify import check_solution
from tests.search.problems import random_problem, with_twin_group

SEEDS = range(120)


def _groups(problem) -> int:
    return len(set(problem.columns.group))


def test_group_by_group_matches_brute_force_and_skips_groups_it_can(monkeypatch):
    """Every seed, alone and with a twin group priced 0.8–1.25 times its own, solved for one
    group: the verdict and optimum of brute force; and among the problems with several groups,
    some have groups skipped (their relaxation has no fleet, or none below a fleet already
    found) and some need more than one group's ILP."""
    solved = []
    inner = ilp.solve_ilp

    def counting(problem, **kwargs):  # the groups' own solves, called from _by_group
        solved.append(problem)
        return inner(problem, **kwargs)

    monkeypatch.setattr(ilp, "solve_ilp", counting)
    skipped = several = 0
    for seed in SEEDS:
        plain, _ = random_problem(seed)
        factor = np.random.default_rng(seed).uniform(0.8, 1.25)
        problem = with_twin_group(plain, factor) if seed % 2 else plain
        solved.clear()
        found = ilp._by_group(problem, False, time.perf_counter())
        reference = solve_exhaustive(problem, one_group=True)
        if reference.status is Status.INFEASIBLE:
            assert found.status is Status.INFEASIBLE and found.explanation, seed
            continue
        assert found.status is Status.OPTIMAL, seed
        assert found.objective == pytest.approx(reference.objective, rel=1e-6, abs=1e-9), seed
        assert check_solution(problem, found, one_group=True) == [], seed
        if _groups(problem) > 1:
            skipped += len(solved) < _groups(problem)
            several += len(solved) > 1
    assert skipped >= 10 and several >= 10, (skipped, several)


def test_a_start_from_a_homogeneous_fleet_changes_no_optimum():
    """The optimum started from the problem's best one-group fleet (a fleet of the same
    problem, as the homogeneous baselines' are) is brute force's optimum, on every seed that
    has such a fleet (52 of 120)."""
    started = 0
    for seed in SEEDS:
        problem, _ = random_problem(seed)
        start = solve_ilp(problem, one_group=True)
        if start.instances is None:
            continue
        started += 1
        found = solve_ilp(problem, begin=start)
        reference = solve_exhaustive(problem)
        assert found.status is Status.OPTIMAL, seed
        assert found.objective == pytest.approx(reference.objective, rel=1e-6, abs=1e-9), seed
        assert found.objective <= start.objective * (1 + 1e-9), seed
        assert check_solution(problem, found) == [], seed
    assert started >= 45, started


def test_a_group_the_time_limit_never_reached_proves_nothing(monkeypatch):
    """An exact twin group must be solved too (its relaxation is no higher than the first
    group's optimum); when the time limit runs out after the first group's ILP, the answer is
    that group's fleet, feasible, without a bound."""
    problem = next(
        with_twin_group(p, 1.0) for p, _ in map(random_problem, SEEDS)
        if solve_exhaustive(p, one_group=True).status is Status.OPTIMAL
    )  # fmt: skip
    inner = ilp.solve_ilp

    def then_out_of_time(sub, **kwargs):
        found = inner(sub, **kwargs)
        monkeypatch.setattr(ilp, "_time_left", lambda settings, start: 0.0)
        return found

    monkeypatch.setattr(ilp, "solve_ilp", then_out_of_time)
    found = ilp._by_group(problem, False, time.perf_counter())
    assert found.status is Status.FEASIBLE
    assert found.bound is None and found.gap is None
    assert check_solution(problem, found, one_group=True) == []
