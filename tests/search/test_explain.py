"""Why a problem is infeasible, in numbers and units, against hand-computed shortfalls.

Most cases use one aggregated column (700 W, $2/h, 8 devices of group h100-sxm) and two classes
each needing 1.5 instances: any fleet has exactly 3 instances, so each shortfall is exact.
"""

from __future__ import annotations

import pytest

from optimizer.catalog.problem_spec import SolverName
from optimizer.fleet.columns import IlpProblem, Limits, SolverSettings, Status, TierPool
from optimizer.search.exhaustive import solve_exhaustive
from optimizer.search.ilp import solve_ilp
from tests.search.problems import COST, make_classes, make_columns

SOLVERS = [SolverName.CBC, SolverName.HIGHS]


def three_instances(solver: SolverName, *, limits=None, pools=(), **problem) -> IlpProblem:
    columns = make_columns(
        [[2.0, 2.0]],
        cost_usd_per_hour=[2.0],
        idle_w=[100.0],
        busy_w=[700.0],
        devices=[8],
        group=["h100-sxm"],
        tier=["optical-memory-pool"] if pools else None,
        tier_gb=[60.0] if pools else None,
        names=["h100x8"],
    )
    return IlpProblem(
        classes=make_classes([3.0, 3.0], names=["coding-agent", "chat"]),
        columns=columns,
        objective=COST,
        limits=limits or Limits(),
        pools=pools,
        solver=SolverSettings(name=solver),
        **problem,
    )


def explain(problem: IlpProblem) -> tuple[str, ...]:
    solution = solve_ilp(problem)
    assert solution.status is Status.INFEASIBLE
    assert solve_exhaustive(problem).status is Status.INFEASIBLE
    return solution.explanation


@pytest.mark.parametrize("solver", SOLVERS)
def test_explain_power_shortfall(solver):
    # 3 × 700 W = 2.1 kW against 1.5 kW
    lines = explain(three_instances(solver, limits=Limits(power_w=1500.0)))
    assert lines == (
        "power short by 0.6 kW (the fleet that misses the limits least needs 2.1 kW at full "
        "load; the limit is 1.5 kW)",
    )


@pytest.mark.parametrize("solver", SOLVERS)
def test_explain_device_availability(solver):
    # 3 × 8 = 24 devices against 16
    lines = explain(three_instances(solver, limits=Limits(devices={"h100-sxm": 16})))
    assert lines == ("h100-sxm: 8 devices more than the 16 available",)


@pytest.mark.parametrize("solver", SOLVERS)
def test_explain_budget_shortfall_counts_energy(solver):
    # $6/h of instances + (3 × 100 W idle + 600 W × 3 loaded) × $0.10/kWh = $6.21/h vs $5/h
    problem = three_instances(
        solver, limits=Limits(budget_usd_per_hour=5.0), energy_usd_per_wh=1e-4
    )
    assert explain(problem) == (
        "budget short by $1.21/h (the fleet that misses the limits least costs $6.21/h; the "
        "limit is $5.00/h)",
    )


@pytest.mark.parametrize("solver", SOLVERS)
def test_explain_racks(solver):
    # 2.1 kW needs 3 racks of 1 kW
    lines = explain(three_instances(solver, limits=Limits(racks=1, rack_power_w=1000.0)))
    assert lines == ("racks: 2 more than the 1 available (at 1 kW each)",)


@pytest.mark.parametrize("solver", SOLVERS)
def test_explain_pool_units(solver):
    # 3 × 60 GB = 180 GB needs 2 units of 100 GB; 1 allowed
    pool = TierPool("optical-memory-pool", 100.0, 1.0, max_units=1)
    lines = explain(three_instances(solver, pools=(pool,)))
    assert lines == ("tier pool optical-memory-pool: 1 unit more than the 1 allowed",)


def test_explain_names_every_limit_short():
    limits = Limits(power_w=1500.0, devices={"h100-sxm": 16})
    lines = explain(three_instances(SolverName.CBC, limits=limits))
    assert len(lines) == 2
    assert lines[0].startswith("power short by 0.6 kW")
    assert lines[1] == "h100-sxm: 8 devices more than the 16 available"


@pytest.mark.parametrize("solver", SOLVERS)
def test_explain_class_no_column_can_serve(solver):
    problem = IlpProblem(
        classes=make_classes([1.0, 1.0], names=["chat", "coding-agent"]),
        columns=make_columns([[2.0, 2.0], [2.0, 0.0]], phases=["prefill", "decode"]),
        objective=COST,
        solver=SolverSettings(name=solver),
    )
    assert explain(problem) == ("coding-agent: no column can serve its decode",)


def test_explain_one_group_needs_a_group_serving_everything():
    problem = IlpProblem(
        classes=make_classes([1.0, 1.0], names=["chat", "coding-agent"]),
        columns=make_columns([[2.0, 0.0], [0.0, 2.0]], group=["a10g", "a100"]),
        objective=COST,
    )
    assert solve_ilp(problem).status is Status.OPTIMAL  # two groups together can
    solution = solve_ilp(problem, one_group=True)
    assert solution.status is Status.INFEASIBLE
    assert solve_exhaustive(problem, one_group=True).status is Status.INFEASIBLE
    assert solution.explanation == (
        "one group only: no availability group serves every class alone "
        "(a10g lacks coding-agent's prefill; a100 lacks chat's prefill)",
    )


def test_explain_prefers_the_relatively_smaller_shortfall():
    # Two columns: "big" (1 instance, 2.1 kW, 1 device) or "small" (3 instances, 3 × 500 W,
    # 3 devices). Power 1.5 kW and 2 devices of each group: big misses power by 0.6 kW (40 %),
    # small misses devices by 1 (50 %); the elastic solve reports the smaller relative miss.
    problem = IlpProblem(
        classes=make_classes([3.0]),
        columns=make_columns(
            [[3.0], [1.0]],
            cost_usd_per_hour=[1.0, 1.0],
            busy_w=[2100.0, 500.0],
            devices=[1, 1],
            group=["big", "small"],
            names=["big", "small"],
        ),
        objective=COST,
        limits=Limits(power_w=1500.0, devices={"big": 2, "small": 2}),
    )
    assert explain(problem) == (
        "power short by 0.6 kW (the fleet that misses the limits least needs 2.1 kW at full "
        "load; the limit is 1.5 kW)",
    )
