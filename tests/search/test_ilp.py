"""search.ilp on hand-checkable problems: the Mélange golden case, KV hand-off and pools,
dominated columns, status mapping, time limits, gap and seeds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pulp
import pytest

from optimizer.catalog.problem_spec import SolverName
from optimizer.errors import SolverError
from optimizer.fleet.columns import IlpProblem, SolverSettings, Status, TierPool
from optimizer.fleet.prune import dominated_columns
from optimizer.search.ilp import _solver, solve_ilp, verdict
from optimizer.search.verify import check_solution, fleet_totals
from tests.search.problems import COST, make_classes, make_columns

SOLVERS = [SolverName.CBC, SolverName.HIGHS]


def melange(*, whole_class: bool, slice_factor: int, solver: SolverName) -> IlpProblem:
    """Mélange (arXiv 2404.14527; tyler-griggs/melange-release, melange/config/example.json):
    A10G at $1.01/h and A100-80GB at $3.67/h, 30 req/s over four request-size buckets."""
    columns = make_columns(
        [[2, 1, 5, 2], [20, 20, 40, 20]],  # req/s per instance, buckets [[s, m], [l, xl]]
        cost_usd_per_hour=[1.01, 3.67],
        names=["a10g", "a100-80gb"],
        group=["a10g", "a100-80gb"],
    )
    classes = make_classes(np.array([0.2, 0.1, 0.5, 0.2]) * 30.0)
    return IlpProblem(
        classes=classes,
        columns=columns,
        objective=COST,
        whole_class=whole_class,
        slice_factor=slice_factor,
        solver=SolverSettings(name=solver),
    )


# Hand-checked. One A10G instance-load per bucket is 3 (all four); all of it on A100 is 1.125,
# so the A10G must relieve the A100 of 0.125. Whole buckets: one bucket on A10G (load 3,
# three instances) → $6.70/h. Quarter slices (0.75 A10G-load each): two fit in two A10G
# (load 1.5) and relieve ≥ 0.15 → $5.69/h; one A10G takes one slice, too little. Split: bucket
# l relieves most per A10G-load (0.375 per 3), so exactly 1.0 A10G-load relieves 0.125 and both
# run at full load → $4.68/h.
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize(
    ("whole_class", "slice_factor", "instances", "cost_usd_per_hour", "a10g_load"),
    [
        (True, 1, [3, 1], 6.70, 3.0),
        (True, 4, [2, 1], 5.69, 1.5),
        (False, 1, [1, 1], 4.68, 1.0),
    ],
)
def test_solve_ilp_melange_golden(
    solver, whole_class, slice_factor, instances, cost_usd_per_hour, a10g_load
):
    problem = melange(whole_class=whole_class, slice_factor=slice_factor, solver=solver)
    solution = solve_ilp(problem)

    assert solution.status is Status.OPTIMAL
    assert solution.instances.tolist() == instances
    assert solution.objective == pytest.approx(cost_usd_per_hour, rel=1e-9)
    assert solution.gap == pytest.approx(0.0, abs=1e-9)
    assert check_solution(problem, solution) == []
    totals = fleet_totals(problem, solution.instances, solution.share, solution.pool_units)
    assert totals.cost_usd_per_hour == pytest.approx(cost_usd_per_hour, rel=1e-9)
    assert totals.load[0] == pytest.approx(a10g_load, rel=1e-6)
    if not whole_class:  # the A100 at full load too
        assert totals.load[1] == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize("solver", SOLVERS)
def test_solve_ilp_melange_one_group_buys_a100_only(solver):
    # A10G alone needs 3 + 3 + 3 + 3 = 12 instances ($12.12/h); A100 alone 1.125 → 2 ($7.34/h)
    problem = melange(whole_class=False, slice_factor=1, solver=solver)
    solution = solve_ilp(problem, one_group=True)

    assert solution.instances.tolist() == [0, 2]
    assert solution.objective == pytest.approx(7.34, rel=1e-9)
    assert check_solution(problem, solution, one_group=True) == []


@pytest.mark.parametrize("solver", SOLVERS)
def test_solve_ilp_buys_instances_for_kv_handoff(solver):
    # 10 req/s × 1 GB of KV = 10 GB/s leaves the prefill column: at 4 GB/s per instance it
    # needs ⌈2.5⌉ = 3 instances although one carries the load; decode receives on a fat link.
    problem = IlpProblem(
        classes=make_classes([10.0], kv_transfer_bytes=[1e9]),
        columns=make_columns(
            [[10.0], [10.0]], phases=["prefill", "decode"], transfer_bytes_per_s=[4e9, 1e12]
        ),
        objective=COST,
        solver=SolverSettings(name=solver),
    )
    solution = solve_ilp(problem)

    assert solution.instances.tolist() == [3, 1]
    assert solution.objective == pytest.approx(4.0)
    assert check_solution(problem, solution) == []


@pytest.mark.parametrize("solver", SOLVERS)
def test_solve_ilp_buys_pool_units_for_spill_and_parking(solver):
    # load 3 / 2 → 2 instances holding 2 × 30 GB plus 3 req/s × 20 GB parked = 120 GB:
    # two 100 GB units at $0.50/h each
    problem = IlpProblem(
        classes=make_classes([3.0]),
        columns=make_columns(
            [[2.0]], tier=["cxl"], tier_gb=[30.0], tier_gb_per_request_rate=[[20.0]]
        ),
        objective=COST,
        pools=(TierPool("cxl", unit_gb=100.0, cost_usd_per_hour_per_unit=0.5),),
        solver=SolverSettings(name=solver),
    )
    solution = solve_ilp(problem)

    assert solution.instances.tolist() == [2]
    assert solution.pool_units == {"cxl": 2}
    assert solution.objective == pytest.approx(3.0)
    assert check_solution(problem, solution) == []


def test_solve_ilp_whole_class_shares_are_slice_multiples():
    problem = melange(whole_class=True, slice_factor=4, solver=SolverName.CBC)
    share = solve_ilp(problem).share

    np.testing.assert_allclose(share * 4, np.round(share * 4), atol=1e-12)
    np.testing.assert_allclose(share.sum(axis=0), 1.0)


def test_solve_ilp_rejects_a_tier_without_pool():
    problem = IlpProblem(
        classes=make_classes([1.0]),
        columns=make_columns([[2.0]], tier=["cxl"]),
        objective=COST,
    )
    with pytest.raises(ValueError, match="tier 'cxl'"):
        solve_ilp(problem)


def test_solve_ilp_reports_size_solver_and_time():
    solution = solve_ilp(melange(whole_class=False, slice_factor=1, solver=SolverName.HIGHS))

    assert solution.solver == "highs"
    assert solution.n_variables == 2 + 8  # n per column, a share per (column, bucket)
    assert solution.n_constraints == 4 * 2 + 2  # cover prefill/decode per bucket, load
    assert solution.wall_s > 0


def test_solve_ilp_cbc_gap_reports_the_requested_guarantee():
    problem = melange(whole_class=False, slice_factor=1, solver=SolverName.CBC)
    problem = dataclasses.replace(problem, solver=SolverSettings(SolverName.CBC, gap_rel=0.05))
    solution = solve_ilp(problem)

    assert solution.status is Status.OPTIMAL
    assert solution.gap == pytest.approx(0.05)
    assert solution.bound == pytest.approx(solution.objective * 0.95)


def test_solver_settings_seed_and_threads():
    cbc = _solver(SolverSettings(name=SolverName.CBC, seed=7))
    assert "randomCbcSeed 7" in cbc.options
    assert "threads" not in cbc.optionsDict  # any -threads selects CBC's threaded search
    assert _solver(SolverSettings(name=SolverName.CBC, seed=0)).options == []  # CBC's default
    highs = _solver(SolverSettings(name=SolverName.HIGHS, seed=7), time_limit_s=3.0)
    assert highs.optionsDict["random_seed"] == 7
    assert highs.timeLimit == 3.0


@pytest.mark.parametrize(
    ("status", "sol_status", "expected"),
    [
        (pulp.LpStatusOptimal, pulp.LpSolutionOptimal, Status.OPTIMAL),
        (pulp.LpStatusOptimal, pulp.LpSolutionIntegerFeasible, Status.FEASIBLE),
        (pulp.LpStatusInfeasible, pulp.LpSolutionInfeasible, Status.INFEASIBLE),
        (pulp.LpStatusInfeasible, pulp.LpSolutionNoSolutionFound, Status.INFEASIBLE),
        (pulp.LpStatusNotSolved, pulp.LpSolutionNoSolutionFound, Status.INFEASIBLE),
    ],
)
def test_verdict_maps_pulp_status(status, sol_status, expected):
    assert verdict(status, sol_status, "cbc") is expected


@pytest.mark.parametrize(
    ("status", "sol_status"),
    [
        (pulp.LpStatusUnbounded, pulp.LpSolutionUnbounded),
        (pulp.LpStatusUndefined, pulp.LpSolutionNoSolutionFound),
        (pulp.LpStatusNotSolved, pulp.LpSolutionIntegerFeasible),
    ],
)
def test_verdict_raises_when_no_verdict(status, sol_status):
    with pytest.raises(SolverError, match="no verdict"):
        verdict(status, sol_status, "highs")


def generalized_assignment(solver: SolverName, time_limit_s: float) -> IlpProblem:
    """60 whole classes on 30 column types: a generalized assignment problem that neither solver
    proves optimal in 30 s on this machine (gap 18 % CBC, 4 % HiGHS), so a 1.5 s limit stops it
    with an incumbent on any machine; an incumbent is easy (any column serves any class)."""
    rng = np.random.default_rng(0)
    rates = rng.uniform(1.0, 2.0, 60)
    columns = make_columns(
        rates / rng.uniform(0.15, 0.6, (30, 60)), cost_usd_per_hour=rng.uniform(1.0, 2.0, 30)
    )
    return IlpProblem(
        classes=make_classes(rates),
        columns=columns,
        objective=COST,
        whole_class=True,
        solver=SolverSettings(name=solver, time_limit_s=time_limit_s),
    )


@pytest.mark.parametrize("solver", SOLVERS)
def test_solve_ilp_time_limit_returns_feasible_with_proven_bound(solver):
    problem = generalized_assignment(solver, time_limit_s=1.5)
    solution = solve_ilp(problem)

    assert solution.status is Status.FEASIBLE
    assert 0 < solution.bound <= solution.objective
    assert solution.gap == pytest.approx(
        (solution.objective - solution.bound) / solution.objective
    )
    assert solution.gap > 0
    assert check_solution(problem, solution) == []


def test_solve_ilp_time_limit_without_incumbent_says_so():
    solution = solve_ilp(generalized_assignment(SolverName.CBC, time_limit_s=0.001))

    assert solution.status is Status.INFEASIBLE
    assert "infeasibility is not proven" in solution.explanation[0]


# Column 1 copies column 0, then is made worse in one attribute.
WORSE = {
    "cost_usd_per_hour": [2.0, 3.0],
    "idle_w": [100.0, 150.0],
    "busy_w": [500.0, 600.0],
    "devices": [1.0, 2.0],
    "tier_gb": [10.0, 20.0],
    "transfer_bytes_per_s": [2e9, 1e9],
    "capability": [[4.0, 4.0], [4.0, 3.0]],
    "tier_gb_per_request_rate": [[1.0, 1.0], [1.0, 2.0]],
}


def two_columns(pool=None, **override) -> IlpProblem:
    fields = {
        "capability": [[4.0, 4.0], [4.0, 4.0]],
        "phases": ["prefill", "prefill"],
        "cost_usd_per_hour": [2.0, 2.0],
        "idle_w": [100.0, 100.0],
        "busy_w": [500.0, 500.0],
        "devices": [1.0, 1.0],
        "group": ["acc", "acc"],
        "transfer_bytes_per_s": [2e9, 2e9],
        "tier": ["cxl", "cxl"],
        "tier_gb": [10.0, 10.0],
        "tier_gb_per_request_rate": [[1.0, 1.0], [1.0, 1.0]],
    }
    fields.update(override)
    return IlpProblem(
        classes=make_classes([1.0, 1.0], kv_transfer_bytes=[1e8, 1e8]),
        columns=make_columns(**fields),
        objective=COST,
        pools=(pool or TierPool("cxl", 100.0, 1.0),),
    )


def test_dominated_columns_keeps_the_first_of_identical_columns():
    assert dominated_columns(two_columns()).tolist() == [False, True]


@pytest.mark.parametrize("attribute", WORSE)
def test_dominated_columns_drops_a_column_worse_in_one_thing(attribute):
    assert dominated_columns(two_columns(**{attribute: WORSE[attribute]})).tolist() == [
        False,
        True,
    ]


@pytest.mark.parametrize("attribute", WORSE)
def test_dominated_columns_keeps_a_column_better_in_one_thing(attribute):
    better = WORSE[attribute][::-1]  # column 1 now wins on this attribute alone
    assert dominated_columns(two_columns(**{attribute: better})).tolist() == [True, False]
    worse_elsewhere = "devices" if attribute != "devices" else "cost_usd_per_hour"
    problem = two_columns(**{attribute: better, worse_elsewhere: WORSE[worse_elsewhere]})
    assert not dominated_columns(problem).any()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("group", ["acc", "other"]),
        ("phases", ["prefill", "aggregated"]),
        ("tier", ["cxl", "ddr5"]),
    ],
)
def test_dominated_columns_compares_only_alike_columns(field, value):
    assert not dominated_columns(two_columns(**{field: value})).any()


def test_solve_ilp_highs_error_is_not_a_time_limit(monkeypatch):
    # a HiGHS run that never ran reads in PuLP like a time limit without incumbent
    monkeypatch.setattr("optimizer.search.ilp._BulkHiGHS.callSolver", lambda self, lp: None)
    problem = melange(whole_class=False, slice_factor=1, solver=SolverName.HIGHS)
    with pytest.raises(SolverError, match="highs: stopped with model status kNotset"):
        solve_ilp(problem)


def test_solve_ilp_cbc_failure_raises_solver_error(monkeypatch):
    monkeypatch.setattr(pulp.PULP_CBC_CMD, "pulp_cbc_path", "/nonexistent/cbc")
    problem = melange(whole_class=False, slice_factor=1, solver=SolverName.CBC)
    with pytest.raises(SolverError, match="cbc: .*cannot execute"):
        solve_ilp(problem)


def test_a_column_without_a_tier_may_dominate_one_with_a_tier_but_not_the_reverse():
    # identical numbers: the tier-less column draws on no pool, so it is never worse
    assert dominated_columns(two_columns(tier=[None, "cxl"])).tolist() == [False, True]
    assert dominated_columns(two_columns(tier=["cxl", None])).tolist() == [True, False]


def test_a_column_whose_servers_hold_fewer_slots_does_not_dominate():
    """On a host tier each column's GB must fit its own servers' slots, so fewer slots is
    worse: of two columns alike but for 1 or 2 slots per instance, the one with 1 goes; on a
    tier without slot limits they are identical and the second goes."""
    limited = TierPool("cxl", 100.0, 1.0, slot_limited=True)
    problem = two_columns(pool=limited, tier_units_hosted=[1.0, 2.0])
    assert dominated_columns(problem).tolist() == [True, False]
    problem = two_columns(pool=limited, tier_units_hosted=[2.0, 1.0])
    assert dominated_columns(problem).tolist() == [False, True]
    assert dominated_columns(two_columns(tier_units_hosted=[1.0, 2.0])).tolist() == [False, True]


def test_more_tier_traffic_is_worse():
    assert dominated_columns(two_columns(tier_bytes_per_s=[2e9, 1e9])).tolist() == [True, False]
    park = [[5e9, 5e9], [5e9, 6e9]]  # the second moves more per request of one class
    assert dominated_columns(two_columns(tier_bytes_per_request=park)).tolist() == [False, True]


@pytest.mark.parametrize("first", SOLVERS)
def test_an_inconsistent_proof_is_solved_again_by_the_other_solver(monkeypatch, first):
    """A solver whose bound sits above the fleet it returned (HiGHS now and then), or whose
    solution breaks its variables' bounds (CBC on mixed-agentic-owned's energy objective),
    cannot be trusted: the problem is solved again by the other one, whose fleet is returned
    with a note saying so."""
    from optimizer.search import ilp

    asked = []
    real = ilp._solve_once

    def once(problem, **kw):
        asked.append(problem.solver.name)
        if len(asked) == 1:
            raise ilp.InconsistentProof(f"{first.value} proved a lower bound above its fleet")
        return real(problem, **kw)

    monkeypatch.setattr(ilp, "_solve_once", once)
    other = SolverName.HIGHS if first is SolverName.CBC else SolverName.CBC
    found = solve_ilp(melange(whole_class=False, slice_factor=1, solver=first))
    assert asked == [first, other]
    assert found.solver == other.value
    assert found.fallback.endswith(f"solved again with {other.value}")
    assert found.objective == pytest.approx(4.68, abs=0.005)  # the hand-checked optimum above


def test_a_solution_outside_its_bounds_is_named():
    """CBC returned shares of -833,405 and 833,404 (bounds [0, 1]) under "optimal" on
    mixed-agentic-owned's energy objective; such a value is named, one within the solvers'
    tolerance is not."""
    from optimizer.search.ilp import BOUND_TOL, _outside_bounds

    prob = pulp.LpProblem("bounds", pulp.LpMinimize)
    share = prob.add_variable("s_0_0", 0, 1)
    count = prob.add_variable("n_0", 0, None, pulp.LpInteger)
    prob += share + count
    share.varValue, count.varValue = 1.0 + BOUND_TOL / 2, 3.0
    assert _outside_bounds(prob) is None
    share.varValue = -833405.0
    assert _outside_bounds(prob) == "s_0_0 = -833405 outside [0, 1]"
