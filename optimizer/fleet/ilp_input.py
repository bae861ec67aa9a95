"""A problem file's objective, limits and solver settings, with a fleet's columns, as the ILP's
input (docs/model.md §9, docs/solver.md)."""

from __future__ import annotations

from optimizer.catalog.economics import Economics
from optimizer.catalog.problem_spec import ObjectiveKind, ProblemSpec
from optimizer.catalog.units import KILO, WH_PER_KWH
from optimizer.fleet.candidates import Fleet
from optimizer.fleet.columns import IlpProblem, Limits, Objective, SolverSettings
from optimizer.fleet.pricing import energy_usd_per_wh

PURCHASES = Objective(ObjectiveKind.COST, 0.0, 0.0, "purchases", purchase_weight=1.0)
"""The last objective of every problem: among fleets equal in the ones before, the fewest
devices and tier units."""

OBJECTIVE_UNITS = {
    ObjectiveKind.COST: "usd_per_hour",
    ObjectiveKind.ENERGY: "facility_kwh_per_hour",
    ObjectiveKind.WEIGHTED: "usd_per_hour",
}


def objectives(spec: ProblemSpec, economics: Economics) -> tuple[Objective, ...]:
    """The objectives in lexicographic order. Cost: $/h including energy at electricity × PUE
    (owned); energy: facility kWh per hour (average IT power × PUE), then cost; weighted: $/h
    plus facility kWh valued at the problem's weight; each then the fewest purchases."""
    kind = spec.objective.kind
    usd_per_wh = energy_usd_per_wh(economics, spec.objective.pricing)
    facility_kwh_per_wh = economics.pue / WH_PER_KWH
    cost = Objective(ObjectiveKind.COST, 1.0, usd_per_wh, OBJECTIVE_UNITS[ObjectiveKind.COST])
    if kind is ObjectiveKind.COST:
        return cost, PURCHASES
    if kind is ObjectiveKind.ENERGY:
        return Objective(kind, 0.0, facility_kwh_per_wh, OBJECTIVE_UNITS[kind]), cost, PURCHASES
    weight = spec.objective.energy_weight_usd_per_kwh * facility_kwh_per_wh
    return Objective(kind, 1.0, usd_per_wh + weight, OBJECTIVE_UNITS[kind]), PURCHASES


def limits(spec: ProblemSpec) -> Limits:
    c = spec.constraints
    return Limits(
        power_w=c.power_budget_kw * KILO if c.power_budget_kw is not None else None,
        racks=c.racks,
        rack_power_w=c.rack_power_kw * KILO if c.rack_power_kw is not None else None,
        devices=dict(c.devices),
        budget_usd_per_hour=c.budget_usd_per_hour,
    )


MODEL_RATED_MAX_UTILIZATION = 0.8
"""Headroom on model-rated capacity: bursts beyond Poisson, rating error, rolling restarts."""


def max_utilization(spec: ProblemSpec) -> float:
    """The problem's ``max_utilization``, else 1.0 for measured capabilities (the limit the
    user measured) and 0.8 for model-rated ones."""
    given = spec.constraints.max_utilization
    if given is not None:
        return given
    return 1.0 if spec.measured is not None else MODEL_RATED_MAX_UTILIZATION


def ilp_problem(spec: ProblemSpec, economics: Economics, fleet: Fleet) -> IlpProblem:
    s = spec.solver
    ranked = objectives(spec, economics)
    return IlpProblem(
        classes=fleet.classes,
        columns=fleet.table.columns,
        objective=ranked[0],
        then=ranked[1:],
        max_utilization=max_utilization(spec),
        spare_instances=spec.constraints.spare_instances,
        purchase_units=fleet.purchase_units,
        pools=fleet.pools,
        limits=limits(spec),
        energy_usd_per_wh=energy_usd_per_wh(economics, spec.objective.pricing),
        whole_class=s.assignment == "whole-class",
        slice_factor=s.slice_factor,
        solver=SolverSettings(s.name, s.time_limit_s, s.gap, s.seed),
    )
