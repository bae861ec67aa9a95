"""fleet_totals against hand-computed sums, and check_solution against planted violations."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from optimizer.catalog.problem_spec import ObjectiveKind
from optimizer.fleet.columns import IlpProblem, IlpSolution, Limits, Objective, Status, TierPool
from optimizer.search.verify import check_solution, fleet_totals
from tests.search.problems import COST, make_classes, make_columns


def test_fleet_totals_hand_computed():
    # two classes at 3 and 1 req/s; a prefill and a decode column
    problem = IlpProblem(
        classes=make_classes([3.0, 1.0], kv_transfer_bytes=[1e9, 2e9]),
        columns=make_columns(
            [[2.0, 1.0], [6.0, 0.0]],
            phases=["prefill", "decode"],
            cost_usd_per_hour=[3.0, 5.0],
            idle_w=[100.0, 50.0],
            busy_w=[500.0, 250.0],
            devices=[2, 4],
            group=["a", "b"],
            tier=["cxl", None],
            tier_gb=[10.0, 99.0],
            tier_gb_per_request_rate=[[4.0, 8.0], [0.0, 0.0]],
        ),
        objective=Objective(ObjectiveKind.WEIGHTED, 2.0, 0.01, "usd_per_hour"),
        pools=(TierPool("cxl", 100.0, 0.5),),
        energy_usd_per_wh=1e-4,
    )
    instances = np.array([2, 1])
    share = np.array([[1.0, 1.0], [0.5, 0.0]])
    totals = fleet_totals(problem, instances, share, {"cxl": 1})

    # loads: 3/2 + 1/1 = 2.5; 0.5 × 3 / 6 = 0.25 (the decode column cannot serve class 1)
    np.testing.assert_allclose(totals.load, [2.5, 0.25])
    # power: 2 × 100 + 400 × 2.5 = 1200 W and 50 + 200 × 0.25 = 100 W
    assert totals.average_it_power_w == pytest.approx(1300.0)
    assert totals.peak_it_power_w == pytest.approx(2 * 500.0 + 250.0)
    assert totals.fixed_usd_per_hour == pytest.approx(11.0)
    assert totals.pool_usd_per_hour == pytest.approx(0.5)
    assert totals.energy_usd_per_hour == pytest.approx(0.13)
    assert totals.cost_usd_per_hour == pytest.approx(11.63)
    # one-phase hand-off: 3 × 1 GB + 1 × 2 GB; 1.5 req/s × 1 GB
    np.testing.assert_allclose(totals.handoff_bytes_per_s, [5e9, 1.5e9])
    assert totals.devices == {"a": 4.0, "b": 4.0}
    assert totals.pool_gb == {"cxl": pytest.approx(2 * 10.0 + 3 * 4.0 + 1 * 8.0)}
    assert totals.objective == pytest.approx(2.0 * 11.5 + 0.01 * 1300.0)


def valid() -> tuple[IlpProblem, IlpSolution]:
    """Prefill and decode columns with hand-off and a pool, and a fleet meeting every rule."""
    problem = IlpProblem(
        classes=make_classes([2.0, 2.0], kv_transfer_bytes=[1e9, 0.0], names=["chat", "code"]),
        columns=make_columns(
            [[2.0, 1.0], [2.0, 2.0], [2.0, 0.0]],
            phases=["prefill", "decode", "aggregated"],
            cost_usd_per_hour=[1.0, 1.0, 1.0],
            idle_w=[100.0, 100.0, 100.0],
            busy_w=[400.0, 400.0, 400.0],
            devices=[1, 1, 1],
            group=["p", "d", "p"],
            transfer_bytes_per_s=[2e9, 4e9, np.inf],
            tier=["cxl", None, None],
            tier_gb=[40.0, 0.0, 0.0],
            names=["pre", "dec", "agg"],
        ),
        objective=COST,
        pools=(TierPool("cxl", 100.0, 1.0, max_units=2),),
        limits=Limits(power_w=2000.0, devices={"p": 4}, budget_usd_per_hour=10.0),
    )
    instances = np.array([3, 2, 0])
    share = np.array([[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    solution = IlpSolution(
        status=Status.OPTIMAL,
        solver="test",
        wall_s=0.0,
        objective=7.0,  # 5 instances and 2 pool units at $1/h
        bound=7.0,
        gap=0.0,
        instances=instances,
        share=share,
        pool_units={"cxl": 2},
    )
    return problem, solution


def test_check_solution_accepts_a_valid_fleet():
    assert check_solution(*valid()) == []


def broken(change) -> list[str]:
    problem, solution = valid()
    problem, solution = change(problem, solution)
    return check_solution(problem, solution)


def with_share(solution: IlpSolution, i: int, k: int, value: float) -> IlpSolution:
    share = solution.share.copy()
    share[i, k] = value
    return dataclasses.replace(solution, share=share)


def with_instances(solution: IlpSolution, instances: list[int]) -> IlpSolution:
    return dataclasses.replace(solution, instances=np.array(instances))


def with_limits(problem: IlpProblem, **limits) -> IlpProblem:
    return dataclasses.replace(problem, limits=dataclasses.replace(problem.limits, **limits))


PLANTED = {
    # pre's load 2/2 + 2/1 = 3 on 2 instances
    "load": (lambda p, s: (p, with_instances(s, [2, 2, 0])), "pre: load 3 exceeds 2 instances"),
    "coverage": (lambda p, s: (p, with_share(s, 1, 1, 0.5)), "code: decode shares sum to 0.5"),
    "incapable": (
        lambda p, s: (p, with_share(with_share(s, 2, 1, 0.5), 0, 1, 0.5)),
        "agg: takes 0.5 of code but cannot serve it",
    ),
    "range": (lambda p, s: (p, with_share(s, 0, 0, 1.5)), "share: outside [0, 1]"),
    "integer": (lambda p, s: (p, with_instances(s, [3, 1.5, 0])), "instances: must be"),
    # 2 req/s × 1 GB = 2 GB/s leaves pre; dec with one instance receives 4 GB/s at most
    "handoff": (
        lambda p, s: (
            dataclasses.replace(
                p,
                columns=dataclasses.replace(
                    p.columns, transfer_bytes_per_s=np.array([0.5e9, 4e9, np.inf])
                ),
            ),
            s,
        ),
        "pre: KV hand-off 2e+09 B/s exceeds 1.5e+09 B/s",
    ),
    # 3 × 40 GB = 120 GB in 1 unit of 100 GB
    "pool": (
        lambda p, s: (p, dataclasses.replace(s, pool_units={"cxl": 1}, objective=6.0)),
        "tier pool cxl: holds 120 GB in 1 units",
    ),
    "pool_max": (
        lambda p, s: (
            dataclasses.replace(p, pools=(TierPool("cxl", 100.0, 1.0, max_units=1),)),
            s,
        ),
        "tier pool cxl: 2 units, more than 1 allowed",
    ),
    "power": (lambda p, s: (with_limits(p, power_w=1900.0), s), "power: 2000 W exceeds 1900 W"),
    "racks": (
        lambda p, s: (with_limits(p, racks=1, rack_power_w=1500.0), s),
        "racks: 2000 W exceeds 1500 W",
    ),
    "devices": (
        lambda p, s: (with_limits(p, devices={"p": 2}), s),
        "p: 3 devices bought, 2 available",
    ),
    # $5/h of instances, $2/h of pool units, nothing for energy
    "budget": (
        lambda p, s: (with_limits(p, budget_usd_per_hour=6.5), s),
        "budget: $7/h exceeds $6.5/h",
    ),
    "whole_class": (
        lambda p, s: (
            dataclasses.replace(p, whole_class=True, slice_factor=3),
            with_share(with_share(with_share(s, 0, 0, 0.5), 1, 0, 0.5), 2, 0, 0.5),
        ),
        "whole class: shares are not multiples of 1/3",
    ),
    "objective": (
        lambda p, s: (p, dataclasses.replace(s, objective=6.5, bound=6.5)),
        "objective: reported 6.5, recomputed 7",
    ),
    "bound": (lambda p, s: (p, dataclasses.replace(s, bound=8.0)), "bound 8 above the objective"),
}


@pytest.mark.parametrize("case", PLANTED)
def test_check_solution_catches_planted_violation(case):
    change, message = PLANTED[case]
    problems = broken(change)
    assert any(message in line for line in problems), problems


def test_check_solution_one_group():
    problem, solution = valid()
    assert check_solution(problem, solution) == []
    assert check_solution(problem, solution, one_group=True) == [
        "one group: the fleet uses ['d', 'p']"
    ]


@pytest.mark.parametrize(("tier_gb", "flagged"), [(5e-6, False), (0.1, True)])
def test_pool_need_is_measured_in_units(tier_gb, flagged):
    """A pool holds what its units hold to within the tolerance of a unit, as an instance
    carries its load: 5e-6 GB in 0 units of 100 GB is 5e-8 of a unit, the solvers' feasibility
    slack (HiGHS left one on the web agent's energy optimum, fleet-savings study); 0.1 GB is a
    thousandth of a unit, a load no unit holds."""
    problem, solution = valid()
    columns = dataclasses.replace(problem.columns, tier_gb=np.array([0.0, 0.0, 0.0]))
    problem = dataclasses.replace(problem, columns=columns)
    solution = dataclasses.replace(solution, pool_units={"cxl": 0}, objective=5.0, bound=5.0)
    assert check_solution(problem, solution) == []
    columns = dataclasses.replace(columns, tier_gb=np.array([tier_gb / 3, 0.0, 0.0]))
    lines = check_solution(dataclasses.replace(problem, columns=columns), solution)
    assert any("tier pool cxl: holds" in line for line in lines) is flagged, lines
