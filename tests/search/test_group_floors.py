"""The homogeneous baselines order their groups by a bound computed in one pass
(``fleet.prune.group_floors``): by hand, never above each group's LP relaxation (so no group
that could win is skipped), and equal to it where nothing but the cover and load rows binds."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import optimizer.search.ilp as ilp
from optimizer.catalog.problem_spec import ObjectiveKind
from optimizer.fleet.columns import IlpProblem, Limits, Objective
from optimizer.fleet.prune import group_floors
from tests.search.problems import COST, make_classes, make_columns, random_problem

SEEDS = range(150)


def test_by_hand():
    """Two classes at 2 and 1 req/s; group "a" has an aggregated column (4 and 2 req/s per
    instance, 3 $/h), group "b" a prefill column (8 req/s for both, 1 $/h) and a decode one
    (2 req/s for both, 2 $/h), at a utilization cap of 0.5."""
    columns = make_columns(
        [[4.0, 2.0], [8.0, 8.0], [2.0, 2.0]],
        phases=["aggregated", "prefill", "decode"],
        cost_usd_per_hour=[3.0, 1.0, 2.0],
        group=["a", "b", "b"],
    )
    problem = IlpProblem(classes=make_classes([2.0, 1.0]), columns=columns, objective=COST,
                         pools=(), limits=Limits(), max_utilization=0.5)  # fmt: skip
    # a: class 0 needs 2/4 instance at 3 $/h / 0.5 = 3 $/h, class 1 1/2 instance = 3 $/h
    # b: class 0 (2/8 · 1 + 2/2 · 2) / 0.5 = 4.5 $/h, class 1 (1/8 · 1 + 1/2 · 2) / 0.5 = 2.25
    assert group_floors(problem) == pytest.approx({"a": 6.0, "b": 6.75})


def _relaxations(problem: IlpProblem) -> dict[str, float | None]:
    """Each group's LP relaxation of the full model (None: infeasible or not solved)."""
    groups = np.asarray(problem.columns.group, dtype=object)
    out = {}
    for group in dict.fromkeys(problem.columns.group):
        sub = replace(problem, columns=problem.columns.subset(groups == group))
        model = ilp._build(sub, one_group=False, elastic=False)
        out[group] = ilp._relaxation_bound(model, sub.solver, False)
    return out


def _plain(problem: IlpProblem) -> IlpProblem:
    """``problem`` without limits, whole servers or spares: where it has no pools either,
    nothing but the cover and load rows is left to bind."""
    return replace(problem, limits=Limits(), purchase_units=(), spare_instances=0)


@pytest.mark.parametrize("seed", SEEDS)
def test_never_above_the_relaxation_and_equal_where_only_cover_and_load_bind(seed):
    problem, _ = random_problem(seed)
    for case in (problem, _plain(problem)):
        floors = group_floors(case)
        if floors is None:
            assert case.objective.energy_weight_per_w > 0  # a class drawing less than idle
            return
        for group, lp in _relaxations(case).items():
            if lp is None:
                continue  # the relaxation is infeasible: any bound is
            assert floors[group] <= lp + 1e-7 * max(1.0, abs(lp)), group
            if case is not problem and not case.pools:
                assert floors[group] == pytest.approx(lp, rel=1e-7, abs=1e-9), group


def test_the_comparison_reaches_plain_problems_and_every_objective():
    plain = weighted = energy = 0
    for seed in SEEDS:
        problem, _ = random_problem(seed)
        plain += not problem.pools and group_floors(problem) is not None
        weighted += problem.objective.kind is ObjectiveKind.WEIGHTED
        energy += problem.objective.usd_weight == 0
    assert min(plain, weighted, energy) >= 30, (plain, weighted, energy)


def test_no_bound_where_a_term_can_be_negative():
    columns = make_columns([[1.0]], idle_w=[100.0], busy_w=[150.0])
    credit = Objective(ObjectiveKind.WEIGHTED, 1.0, -1e-3, "usd_per_hour")
    problem = IlpProblem(classes=make_classes([1.0]), columns=columns, objective=credit,
                         pools=(), limits=Limits())  # fmt: skip
    assert group_floors(problem) is None
