"""The tie-break stages run without the columns no fleet they may keep can use
(``fleet.prune.beyond``, ``search.ilp._staged``): the rule by hand, and the fleet the same as
the stages leave it on every column, on random problems given a dear rack-scale twin of each
column (as the catalog's NVL72 systems are beside its 8-GPU servers)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pulp
import pytest

import optimizer.search.ilp as ilp
from optimizer.catalog.problem_spec import ObjectiveKind, SolverName
from optimizer.fleet.columns import IlpProblem, Limits, Objective, PurchaseUnit
from optimizer.fleet.ilp_input import PURCHASES
from optimizer.fleet.prune import beyond
from optimizer.search.ilp import solve_ilp
from optimizer.search.verify import check_solution, fleet_totals
from tests.search.problems import (
    COST,
    ENERGY,
    make_classes,
    make_columns,
    random_problem,
    with_twin_group,
)

SEEDS = range(120)


def _hand_problem(cost_usd_per_hour, purchase_units=()) -> IlpProblem:
    columns = make_columns(
        [[1.0], [1.0], [1.0]],
        cost_usd_per_hour=cost_usd_per_hour,
        idle_w=[100.0, 300.0, 200.0],
        busy_w=[150.0, 400.0, 250.0],
        devices=[1, 2, 4],
        group=["a", "a", "rack"],
    )
    return IlpProblem(
        classes=make_classes([1.0]),
        columns=columns,
        objective=COST,
        pools=(),
        limits=Limits(),
        purchase_units=purchase_units,
    )


def test_one_instance_and_the_spares_of_its_server_by_hand():
    rack = PurchaseUnit("nvl8", "rack", devices=8, usd_per_hour_per_device=0.5,
                        idle_w_per_device=20.0)  # fmt: skip
    problem = _hand_problem([1.0, 5.0, 2.0], (rack,))
    # cost: col0 1 $/h; col1 5 $/h; col2 2 $/h + its 8-device server's 4 spares at 0.5 = 4 $/h
    # (it pays at least its devices at the server's rate, 2 >= 0.5 * 4, so the rule applies)
    assert beyond(problem, COST, 4.0).tolist() == [False, True, False]
    assert beyond(problem, COST, 3.9).tolist() == [False, True, True]
    # energy: col0 100 W; col1 300 W; col2 200 W + 4 spares at 20 W = 280 W (200 >= 20 * 4)
    assert beyond(problem, ENERGY, 250.0).tolist() == [False, True, True]
    assert beyond(problem, ENERGY, 300.0).tolist() == [False, False, False]
    # purchases count devices, and the server's 8 for col2
    assert beyond(problem, PURCHASES, 3.0).tolist() == [False, False, True]


def test_spares_count_only_where_every_instance_pays_for_its_devices():
    """An instance cheaper than its devices at the server's rate (1 < 0.5 · 4) could share a
    server with others and leave no spare: its bound is its own price alone."""
    rack = PurchaseUnit("nvl8", "rack", devices=8, usd_per_hour_per_device=0.5,
                        idle_w_per_device=20.0)  # fmt: skip
    problem = _hand_problem([1.0, 5.0, 1.0], (rack,))
    assert beyond(problem, COST, 1.5).tolist() == [False, True, False]


def test_nothing_is_ruled_out_where_a_term_can_be_negative():
    problem = _hand_problem([1.0, 5.0, 2.0])
    credit = Objective(ObjectiveKind.WEIGHTED, 1.0, -1e-3, "usd_per_hour")
    assert not beyond(problem, credit, 0.0).any()
    drawn = np.array([[50.0], [400.0], [250.0]])  # col0 busy below its idle: negative energy
    below_idle = replace(problem, columns=replace(problem.columns, class_busy_w=drawn))
    assert not beyond(below_idle, ENERGY, 0.0).any()
    assert beyond(below_idle, COST, 4.0).tolist() == [False, True, False]


def _with_racks(problem: IlpProblem, rng: np.random.Generator) -> IlpProblem:
    """``problem`` with a twin of each column in a rack group of its own, bought in whole
    72-device racks: the same capability and power, dearer per instance by a random factor,
    and the rack's spare devices at the cheapest member's rate."""
    columns = problem.columns
    racked = with_twin_group(problem, rng.uniform(1.0, 30.0, len(columns)), "rack").columns
    units = []
    for g in sorted(set(columns.group)):
        member = np.array(racked.group) == f"{g}-rack"
        per_device = racked.cost_usd_per_hour[member] / racked.devices[member]
        idle_per_device = racked.idle_w[member] / racked.devices[member]
        units.append(PurchaseUnit(f"rack-{g}", f"{g}-rack", 72, per_device.min(),
                                  idle_per_device.min()))  # fmt: skip
    return replace(problem, columns=racked, purchase_units=problem.purchase_units + tuple(units))


def _lexicographic(seed: int) -> tuple[IlpProblem, bool]:
    """A random HiGHS problem with racks, least energy, then cost, then purchases; every other
    seed also with a twin of each column, alike but for its price, so that fleets tie on energy
    and the cost stage moves to columns the incumbent does not use."""
    problem, one_group = random_problem(seed)
    rng = np.random.default_rng(seed)
    if seed % 2 == 0 and len(problem.columns) <= 3:
        problem = with_twin_group(problem, rng.uniform(0.5, 1.5))
    problem = _with_racks(problem, rng)
    cost = Objective(ObjectiveKind.COST, 1.0, problem.energy_usd_per_wh, "usd_per_hour")
    solver = replace(problem.solver, name=SolverName.HIGHS)
    return replace(problem, objective=ENERGY, then=(cost, PURCHASES), solver=solver), one_group


@pytest.mark.parametrize("seed", SEEDS)
def test_the_stages_keep_the_fleet_they_find_on_every_column(seed, monkeypatch):
    """Each problem solved twice, the stages on every column and without the ones ruled out:
    the same instances, units and objectives, from the same start (the incumbent carried over
    as it is: the first objective's value where the stages begin is the same)."""
    problem, one_group = _lexicographic(seed)
    begins: list[float] = []
    then = ilp._then

    def recorded(model, *args, **kwargs):
        begins.append(float(pulp.value(model.prob.objective) or 0.0))
        return then(model, *args, **kwargs)

    monkeypatch.setattr(ilp, "_then", recorded)
    pruned = solve_ilp(problem, one_group=one_group)
    monkeypatch.setattr(ilp, "_of_use_to_stages", lambda *a: None)
    whole = solve_ilp(problem, one_group=one_group)
    assert pruned.status is whole.status
    if whole.instances is None:
        return
    assert check_solution(problem, pruned, one_group=one_group) == []
    assert pruned.instances.tolist() == whole.instances.tolist()
    assert pruned.pool_units == whole.pool_units
    for weights in (problem.objective, *problem.then):
        priced = replace(problem, objective=weights)
        values = [fleet_totals(priced, x.instances, x.share, x.pool_units).objective
                  for x in (whole, pruned)]  # fmt: skip
        assert values[1] == pytest.approx(values[0], rel=1e-6, abs=1e-6), weights.units
    assert begins[: len(begins) // 2] == pytest.approx(begins[len(begins) // 2 :], rel=1e-12)


def test_a_third_or_more_of_these_stages_run_without_the_racks(monkeypatch):
    """The comparison above tests the rule: in a third of its problems or more the stages leave
    columns out (the racks, dearer than the fleet); the others are infeasible, homogeneous, or
    their racks cheap enough to be of use."""
    keep = ilp._of_use_to_stages
    kept: list = []
    monkeypatch.setattr(ilp, "_of_use_to_stages", lambda *a: kept.append(keep(*a)) or kept[-1])
    left_out = 0
    for seed in SEEDS:
        problem, one_group = _lexicographic(seed)
        kept.clear()
        solve_ilp(problem, one_group=one_group)
        left_out += any(k is not None for k in kept)
    assert len(SEEDS) // 3 <= left_out < len(SEEDS), left_out
