"""The provisioning ILP of columns.py on PuLP (CBC or HiGHS), and why it is infeasible when it is.

Bound and gap are proven ones. HiGHS reports its MIP dual bound. CBC's does not come back
through PuLP: an optimal verdict is reported with the guarantee the run was asked for
(bound = objective − gap_rel · |objective|, so gap = gap_rel, 0 for an exact solve), and a run
stopped by its time limit gets the LP relaxation of the same model as its bound.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, replace

import highspy
import numpy as np
import pulp

from optimizer.catalog.problem_spec import SolverName
from optimizer.errors import SolverError
from optimizer.fleet.columns import IlpProblem, IlpSolution, Objective, SolverSettings, Status
from optimizer.fleet.prune import (
    MAX_INSTANCES,
    beyond,
    dominated_columns,
    group_floors,
    usable_pairs,
)
from optimizer.search.frontier import Step, trace
from optimizer.search.parts import (
    class_parts,
    part_problem,
    shares_whole_units,
    sharing_allowance,
)
from optimizer.search.verify import check_solution, fleet_totals, needed_purchases

_LE = pulp.LpConstraintLE
_EQ = pulp.LpConstraintEQ

# PuLP's (status, sol_status) after a solve → our verdict. CBC writes "Stopped on time -
# objective value …" and HiGHS kTimeLimit with an incumbent as (Optimal, Solution Found); CBC
# "Integer infeasible" comes as (Infeasible, No Solution Found); a run stopped before any
# incumbent as (Not Solved, No Solution Found). Any other pair is not a verdict.
_VERDICTS = {
    (pulp.LpStatusOptimal, pulp.LpSolutionOptimal): Status.OPTIMAL,
    (pulp.LpStatusOptimal, pulp.LpSolutionIntegerFeasible): Status.FEASIBLE,
    (pulp.LpStatusInfeasible, pulp.LpSolutionInfeasible): Status.INFEASIBLE,
    (pulp.LpStatusInfeasible, pulp.LpSolutionNoSolutionFound): Status.INFEASIBLE,
    (pulp.LpStatusNotSolved, pulp.LpSolutionNoSolutionFound): Status.INFEASIBLE,
}

_HIGHS_FEASIBLE_SOLUTION = 2  # HiGHS kSolutionStatusFeasible: it holds a primal solution
_HIGHS_STOPS = {  # HiGHS model statuses of a run stopped by a limit, not by an error
    highspy.HighsModelStatus.kTimeLimit,
    highspy.HighsModelStatus.kIterationLimit,
    highspy.HighsModelStatus.kSolutionLimit,
    highspy.HighsModelStatus.kInterrupt,
}


class InconsistentProof(SolverError):
    """A solver's verdict that cannot hold: a proven bound above the fleet it returned (one of
    the two is wrong), or a fleet outside its variables' bounds. HiGHS 1.16 does the first now
    and then on these models (a fleet 2 % dearer than the optimum proven least, with or without
    a start; CBC and HiGHS cold agree on the optimum), CBC 2.10 the second under "optimal"
    (``_outside_bounds``), so ``solve_ilp`` solves such a problem again with the other solver
    and says so."""


OTHER_SOLVER = {SolverName.HIGHS: SolverName.CBC, SolverName.CBC: SolverName.HIGHS}
"""Which solver takes a problem over when one's proof is inconsistent."""


def verdict(status: int, sol_status: int, solver: str) -> Status:
    """Our status for PuLP's ``prob.status`` and ``prob.sol_status`` after a solve.

    Raises:
        SolverError: the pair is neither a fleet nor an infeasibility verdict (unbounded,
            undefined, a crashed solver), with PuLP's words for both codes.
    """
    found = _VERDICTS.get((status, sol_status))
    if found is None:
        raise SolverError(
            f"{solver}: no verdict (PuLP status {status} {pulp.LpStatus.get(status)!r}, "
            f"solution status {sol_status} {pulp.LpSolution.get(sol_status)!r}); "
            "the model is bounded, so the solver failed: try the other solver"
        )
    return found


@dataclass(frozen=True, slots=True)
class _Model:
    """A built PuLP problem with handles on its variables."""

    prob: pulp.LpProblem
    instances: dict[int, pulp.LpVariable]  # column index → n_i (columns that can serve)
    share_at: tuple[np.ndarray, np.ndarray]  # (i, k) of each share variable
    shares: list[pulp.LpVariable]
    share_scale: float  # share = value × scale (1/slice_factor for whole-class slice counts)
    pools: dict[str, pulp.LpVariable]
    slacks: dict[str, tuple[pulp.LpVariable, float]]  # elastic: "kind:name" → (slack, limit)
    terms_of: Callable[[Objective], list]  # an objective as linear terms of the variables
    servers: dict[str, pulp.LpVariable]  # purchase group → whole units bought, S_g
    used: dict[int, pulp.LpVariable]  # column index → z_i, with spare instances


def _validate(problem: IlpProblem) -> None:
    pools = {pool.name for pool in problem.pools}
    limited = {pool.name for pool in problem.pools if pool.slot_limited}
    columns = problem.columns
    for name, tier, hosted in zip(columns.names, columns.tier, columns.tier_units_hosted,
                                  strict=True):  # fmt: skip
        if tier is not None and tier not in pools:
            raise ValueError(f"column {name}: tier {tier!r} is not among the pools {pools}")
        if tier in limited and not math.isfinite(hosted):
            raise ValueError(f"column {name}: pool {tier!r} is slot-limited, its slots must be "
                             f"finite")  # fmt: skip
    for unit in problem.purchase_units:  # an idle instance must not look cheaper than idle
        members = [i for i, g in enumerate(columns.group) if g == unit.group]  # devices
        for figure, per_device in (("cost_usd_per_hour", unit.usd_per_hour_per_device),
                                   ("idle_w", unit.idle_w_per_device)):  # fmt: skip
            least = min((getattr(columns, figure)[i] / columns.devices[i] for i in members),
                        default=math.inf)  # fmt: skip
            if per_device > least * (1 + 1e-9):
                raise ValueError(f"purchase unit {unit.name}: {figure} per device "
                                 f"{per_device:g} above a member column's {least:g}")  # fmt: skip
    limits = problem.limits
    if (limits.racks is None) != (limits.rack_power_w is None):
        raise ValueError("limits: racks goes with rack_power_w; give both or neither")
    if problem.slice_factor < 1:
        raise ValueError(f"slice_factor: must be ≥ 1, got {problem.slice_factor}")


def instance_bounds(problem: IlpProblem, usable: np.ndarray) -> np.ndarray:
    """[i] the most instances worth buying: enough for every class it can take, in load and
    in KV hand-off bandwidth; more only add cost, power and pool GB."""
    columns, classes = problem.columns, problem.classes
    rate = classes.requests_per_s[None, :]
    bandwidth = columns.transfer_bytes_per_s[:, None]
    one_phase = (columns.prefill != columns.decode)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        work = np.where(usable, rate / columns.capability, 0.0).sum(axis=1)
        sends = usable & one_phase & np.isfinite(bandwidth) & (bandwidth > 0)
        handoff = np.where(sends, rate * classes.kv_transfer_bytes / bandwidth, 0.0).sum(axis=1)
    most = np.ceil(np.maximum(work / problem.max_utilization, handoff)).astype(int)
    return most + problem.spare_instances * (most > 0)


_UNIT_SLACK = 1e-7
"""How far below one whole unit the last pool unit's use may fall (the solvers' feasibility
tolerance is of this order, so a use a hair above a whole number still finds its unit)."""


_NEGLIGIBLE_WORK = 1e-8
"""A class's load on a column below this many instances (at its whole share) is left out of the
column's load row, whose other coefficients may be 10¹³ times larger; a ``runs_on`` row still
makes any share buy an instance, and the re-check, which counts every load, forgives 10⁻⁷ of an
instance (``verify.ROUND_ABS``: ten such loads on one column)."""

_HIDDEN_WORK = 1e-4
"""A column with a load below this many instances gets a ``runs_on`` row (its shares ≤ its
instances × their number, coefficients of 1): within the solvers' tolerances such a load fits in
no instance at all (CBC served two classes of 2·10⁻⁷ and 4·10⁻⁷ instances on none, then failed
its own preprocessing)."""

_NEGLIGIBLE_OF_LIMIT = 1e-9  # of a limit's right-hand side: below every tolerance (_constraint)
_PROOF_SLACK = 1e-9  # relative: a column is cut for breaking a limit only beyond float noise

_TINY, _LARGE = 1e-7, 1e9
"""A row with a coefficient below ``_TINY`` is scaled up, its largest kept below ``_LARGE``."""


def _constraint(prob: pulp.LpProblem, terms: list, sense: int, rhs: float, name: str) -> None:
    """Add ``Σ coefficient · variable (sense) rhs``; a variable listed twice has its
    coefficients summed (an affine expression built from pairs keeps only the last).

    A limit (``≤`` a positive ``rhs``: budget, power, devices, a held objective) is counted in
    units of itself (rhs 1), without the terms that even at their variable's upper bound add
    less than 10⁻⁹ of it (HiGHS's presolve called a fleet of 0.001 $/h infeasible under a
    10¹² $/h budget beside a 10¹² $/h column). A row ``≤ 0`` goes without the terms that at
    their upper bound reach less than 10⁻⁹ of its largest bounded term (a 10⁻⁹ requests/s
    class's GB on a tier beside whole instances' slots: CBC then called the problem with every
    limit relaxed infeasible). Any row left with a coefficient below 10⁻⁷ is scaled up (its
    largest kept ≤ 10⁹): HiGHS drops matrix entries below 10⁻⁹, and a class of 10⁻⁷
    requests/s has load coefficients of that order."""
    summed = _summed(terms)
    if sense == _LE and rhs > 0:
        least = _NEGLIGIBLE_OF_LIMIT * rhs
        summed = [(v, c / rhs) for v, c in summed
                  if v.upBound is None or abs(c) * v.upBound >= least]  # fmt: skip
        rhs = 1.0
    elif sense == _LE and rhs == 0:  # a term short of 10⁻⁹ of the row's largest moves nothing
        reach = [abs(c) * (v.upBound if v.upBound is not None else math.inf) for v, c in summed]
        least = _NEGLIGIBLE_OF_LIMIT * max((r for r in reach if r < math.inf), default=0.0)
        summed = [(v, c) for (v, c), r in zip(summed, reach, strict=True) if r >= least]
    sizes = [abs(c) for _, c in summed if c != 0]
    if sizes and min(sizes) < _TINY:
        factor = max(1.0, min(_TINY * 10 / min(sizes), _LARGE / max(sizes)))
        summed = [(v, c * factor) for v, c in summed]
        rhs = rhs * factor
    expression = pulp.LpAffineExpression(summed)
    prob.addConstraint(pulp.LpConstraint(expression, sense, name, rhs))


def _terms(variables: list, coefficients: list) -> list:
    return [(v, c) for v, c in zip(variables, coefficients, strict=True) if c != 0]


def _pool_needs(pool, on_pool, columns, n, per_column, held_gb, moved) -> dict[str, list]:
    """The pool's needs in units, as linear terms: ``gb`` (capacity held), ``traffic`` (spill
    and park traffic over one unit's bandwidth) and ``attach`` (devices over a pooled unit's
    radix). A need no column has is left out, and so is traffic where every coefficient is at
    most the GB one beside it (the GB row then bounds it)."""
    needs: dict[str, dict] = {"gb": {}, "traffic": {}, "attach": {}}
    for i in on_pool:
        needs["gb"].update(per_column(i, held_gb, pool.unit_gb))
        needs["gb"][n[i]] = columns.tier_gb[i] / pool.unit_gb
        if math.isfinite(pool.unit_bytes_per_s):
            needs["traffic"].update(per_column(i, moved, pool.unit_bytes_per_s))
            needs["traffic"][n[i]] = columns.tier_bytes_per_s[i] / pool.unit_bytes_per_s
        if pool.max_devices_per_unit:
            needs["attach"][n[i]] = columns.devices[i] / pool.max_devices_per_unit
    gb = needs["gb"]
    if all(c <= gb.get(v, 0.0) * (1 + 1e-12) for v, c in needs["traffic"].items()):
        needs["traffic"] = {}
    return {
        what: [(v, c) for v, c in terms.items() if c != 0]
        for what, terms in needs.items()
        if any(terms.values())
    }


def _fixed_usd_per_hour(problem: IlpProblem) -> np.ndarray:
    """[i] what one instance costs an hour whatever it serves: its price and its idle energy."""
    return problem.columns.cost_usd_per_hour + problem.energy_usd_per_wh * problem.columns.idle_w


def _one_breaks_a_limit(problem: IlpProblem) -> np.ndarray:
    """[i] bool: one instance of column i alone costs more than the budget or draws more than
    the power limit at full load. Every term of those rows is a purchase's cost or power (the
    idle devices of whole systems add to them), so such a column is bought 0 times in any
    fleet; left in, its coefficient can be 10¹⁸ budgets (a 10¹² $/h instance under a 10⁻⁶ $/h
    budget), beyond what the solvers represent."""
    columns, limits = problem.columns, problem.limits
    out = np.zeros(len(columns), dtype=bool)
    slack = 1.0 + _PROOF_SLACK
    if limits.budget_usd_per_hour is not None:
        out |= _fixed_usd_per_hour(problem) > limits.budget_usd_per_hour * slack
    if limits.power_w is not None:
        out |= columns.busy_w > limits.power_w * slack
    return out


def _build(problem: IlpProblem, *, one_group: bool, elastic: bool) -> _Model:
    """The PuLP model; ``elastic`` adds a slack to every limit and minimizes Σ slack/limit."""
    columns, classes, limits = problem.columns, problem.classes, problem.limits
    usable = usable_pairs(problem) & ~dominated_columns(problem)[:, None]
    if not elastic:  # the elastic model measures how far such an instance overshoots
        usable &= ~_one_breaks_a_limit(problem)[:, None]
    bounds = instance_bounds(problem, usable)
    prob = pulp.LpProblem("fleet", pulp.LpMinimize)
    active = np.flatnonzero(usable.any(axis=1))
    index = active.tolist()
    n = {i: prob.add_variable(f"n_{i}", 0, int(bounds[i]), pulp.LpInteger) for i in index}

    ii, kk = np.nonzero(usable)
    if problem.whole_class:  # slices of a class are alike, so count them: m_ik ∈ 0..f
        factor = problem.slice_factor
        shares = [
            prob.add_variable(f"m_{i}_{k}", 0, factor, pulp.LpInteger)
            for i, k in zip(ii.tolist(), kk.tolist(), strict=True)
        ]
        scale, covered = 1.0 / factor, float(factor)
    else:
        shares = [
            prob.add_variable(f"s_{i}_{k}", 0, 1)
            for i, k in zip(ii.tolist(), kk.tolist(), strict=True)
        ]
        scale, covered = 1.0, 1.0
    rate = classes.requests_per_s[kk]
    work = rate / columns.capability[ii, kk] * scale  # instances per unit of share variable
    starts = np.searchsorted(ii, np.arange(len(columns) + 1)).tolist()

    def per_column(i: int, coefficients: np.ndarray, divisor: float = 1.0) -> list:
        """Column i's share terms, coefficients [share variable] / divisor."""
        a, b = starts[i], starts[i + 1]
        return _terms(shares[a:b], (coefficients[a:b] / divisor).tolist())

    ones = np.ones(len(shares))

    def only_with(i: int, variable, name: str) -> None:
        """Column i takes shares only where ``variable`` is at least 1: Σ shares ≤ their most
        · variable, every coefficient of order 1 whatever the loads."""
        taken = per_column(i, ones)
        if taken:
            _constraint(prob, [*taken, (variable, -covered * len(taken))], _LE, 0.0, name)

    for k, name in enumerate(classes.names):
        for phase, covers in (("prefill", columns.prefill), ("decode", columns.decode)):
            picked = np.flatnonzero((kk == k) & covers[ii]).tolist()
            terms = [(shares[j], 1.0) for j in picked]
            _constraint(prob, terms, _EQ, covered, f"cover_{phase}_{k}_{name}")

    one_phase = columns.prefill != columns.decode
    sent_bytes = rate * classes.kv_transfer_bytes[kk] * scale  # B/s per unit of variable
    spare, rho = problem.spare_instances, problem.max_utilization
    used_by: dict[int, pulp.LpVariable] = {}
    for i in index:
        load = [*per_column(i, np.where(work < _NEGLIGIBLE_WORK, 0.0, work)), (n[i], -rho)]
        if (work[starts[i] : starts[i + 1]] < _HIDDEN_WORK).any():  # a share still needs
            only_with(i, n[i], f"runs_on_{i}")  # an instance to run on
        if spare:  # z_i: the column takes a share, so it holds its spares too
            used = used_by[i] = prob.add_variable(f"z_{i}", 0, 1, pulp.LpInteger)
            only_with(i, used, f"used_{i}")
            load.append((used, rho * spare))
        _constraint(prob, load, _LE, 0.0, f"load_{i}")
        bandwidth = columns.transfer_bytes_per_s[i]
        if one_phase[i] and 0 < bandwidth < math.inf:  # bandwidth 0: only kv = 0 is usable
            sent = per_column(i, sent_bytes, bandwidth)  # in instances' bandwidth
            if sent:
                _constraint(prob, [*sent, (n[i], -1.0)], _LE, 0.0, f"handoff_{i}")

    slacks: dict[str, tuple[pulp.LpVariable, float]] = {}

    def slack(key: str, limit: float, *, integer: bool) -> list:
        """[(slack, -1)] for a limit row of the elastic model, [] otherwise."""
        if not elastic:
            return []
        category = pulp.LpInteger if integer else pulp.LpContinuous
        variable = prob.add_variable(f"slack_{len(slacks)}", 0, None, category)
        slacks[key] = (variable, limit)
        return [(variable, -1.0)]

    pools: dict[str, pulp.LpVariable] = {}
    held_gb = rate * columns.tier_gb_per_request_rate[ii, kk] * scale
    moved = rate * columns.tier_bytes_per_request[ii, kk] * scale  # B/s per unit of variable
    reachable = np.where(usable, classes.requests_per_s, 0.0)
    most_gb = bounds * columns.tier_gb + (reachable * columns.tier_gb_per_request_rate).sum(axis=1)
    most_moved = bounds * columns.tier_bytes_per_s + (
        reachable * columns.tier_bytes_per_request
    ).sum(axis=1)
    for t, pool in enumerate(problem.pools):
        on_pool = [i for i in index if columns.tier[i] == pool.name]
        needs = _pool_needs(pool, on_pool, columns, n, per_column, held_gb, moved)
        most = math.ceil(
            max(
                sum(most_gb[i] for i in on_pool) / pool.unit_gb,
                sum(most_moved[i] for i in on_pool) / pool.unit_bytes_per_s,
                sum(bounds[i] * columns.devices[i] for i in on_pool)
                / (pool.max_devices_per_unit or math.inf),
            )
        )
        if pool.max_units is not None and not elastic:
            most = min(most, pool.max_units)
        units = prob.add_variable(f"u_{t}", 0, most, pulp.LpInteger)
        pools[pool.name] = units
        for what, terms in needs.items():
            _constraint(prob, [*terms, (units, -1.0)], _LE, 0.0, f"pool_{t}_{pool.name}_{what}")
        if needs:
            # and no unit beyond the last one some need uses (their sum bounds the largest):
            # no optimal fleet needs one, and the first objective (energy) cannot tell
            used = [(v, -c) for terms in needs.values() for v, c in terms]
            _constraint(prob, [(units, 1.0), *used], _LE, 1.0 - _UNIT_SLACK,
                        f"pool_{t}_{pool.name}_used")  # fmt: skip
        else:
            _constraint(prob, [(units, 1.0)], _LE, 0.0, f"pool_{t}_{pool.name}_unused")
        if pool.slot_limited:  # host memory serves the devices of its own server only
            for i in on_pool:
                parked = per_column(i, held_gb, pool.unit_gb)
                spare = columns.tier_units_hosted[i] - columns.tier_gb[i] / pool.unit_gb
                if parked or spare < 0:  # a spill column within its slots needs no row
                    _constraint(prob, [*parked, (n[i], -spare)], _LE, 0.0, f"slots_{i}")
        if pool.max_units is not None and elastic:
            extra = slack(f"pool:{pool.name}", pool.max_units, integer=True)
            _constraint(prob, [(units, 1.0), *extra], _LE, pool.max_units, f"pool_units_{t}")

    nvars = [n[i] for i in index]
    busy = columns.busy_w[active]

    def spare_devices(per_device: dict) -> list:
        """Terms of Σ_g c_g · (m_g·S_g − Σ_{i in g} devices_i·n_i): the devices whole units add,
        at ``per_device[g]`` each."""
        terms = []
        for unit, units in servers:
            c = per_device[unit.name]
            if c:
                terms.append((units, c * unit.devices))
                terms += [(n[i], -c * columns.devices[i]) for i in index
                          if columns.group[i] == unit.group]  # fmt: skip
        return terms

    servers = []  # (unit, S_g): whole servers or racks bought per group
    for u, unit in enumerate(problem.purchase_units):
        members = [i for i in index if columns.group[i] == unit.group]
        if not members or unit.devices <= 1:
            continue
        most = math.ceil(sum(bounds[i] * columns.devices[i] for i in members) / unit.devices)
        units = prob.add_variable(f"S_{u}", 0, most, pulp.LpInteger)
        servers.append((unit, units))
        terms = [(n[i], float(columns.devices[i])) for i in members]
        _constraint(prob, [*terms, (units, -float(unit.devices))], _LE, 0.0, f"servers_{u}")
    idle_spare = spare_devices({un.name: un.idle_w_per_device for un, _ in servers})
    if limits.power_w is not None:
        terms = [*_terms(nvars, busy.tolist()), *idle_spare]
        terms += slack("power", limits.power_w, integer=False)
        _constraint(prob, terms, _LE, limits.power_w, "power")
    if limits.racks is not None and limits.rack_power_w is not None:
        extra = [
            (v, c * limits.rack_power_w) for v, c in slack("racks", limits.racks, integer=True)
        ]
        terms = [*_terms(nvars, busy.tolist()), *idle_spare, *extra]
        _constraint(prob, terms, _LE, limits.racks * limits.rack_power_w, "racks")
    in_group: dict[str, list[int]] = {}
    for i in index:
        in_group.setdefault(columns.group[i], []).append(i)
    bought = {unit.group: (unit, units) for unit, units in servers}
    for g, (group, available) in enumerate(limits.devices.items()):
        members = in_group.get(group, [])
        if members:  # devices bought: whole systems' worth where they come in systems
            if group in bought:
                unit, units = bought[group]
                terms = [(units, float(unit.devices))]
            else:
                terms = [(n[i], float(columns.devices[i])) for i in members]
            terms += slack(f"devices:{group}", available, integer=False)
            _constraint(prob, terms, _LE, available, f"devices_{g}_{group}")

    energy_per_share = columns.busy_extra_w[ii, kk] * work  # W per unit of variable
    pool_cost = [(pools[p.name], p.cost_usd_per_hour_per_unit) for p in problem.pools]
    pool_cost = [(u, c) for u, c in pool_cost if c != 0]
    if limits.budget_usd_per_hour is not None:
        e = problem.energy_usd_per_wh
        terms = _terms(nvars, _fixed_usd_per_hour(problem)[active].tolist())
        terms += _terms(shares, (e * energy_per_share).tolist()) + pool_cost
        terms += spare_devices(
            {un.name: un.usd_per_hour_per_device + e * un.idle_w_per_device for un, _ in servers}
        )
        terms += slack("budget", limits.budget_usd_per_hour, integer=False)
        _constraint(prob, terms, _LE, limits.budget_usd_per_hour, "budget")

    if one_group:
        chosen = {
            g: prob.add_variable(f"y_{j}", 0, 1, pulp.LpInteger) for j, g in enumerate(in_group)
        }
        _constraint(prob, [(y, 1.0) for y in chosen.values()], _LE, 1.0, "one_group")
        for i in index:
            y = chosen[columns.group[i]]
            _constraint(prob, [(n[i], 1.0), (y, -float(bounds[i]))], _LE, 0.0, f"group_{i}")
            # shares too, with coefficients of 1: the big-M row above lets a tolerance's
            # worth of y carry instances, and with them loads, into a group not chosen
            only_with(i, y, f"share_group_{i}")

    def terms_of(weights: Objective) -> list:
        usd, per_w, buy = weights.usd_weight, weights.energy_weight_per_w, weights.purchase_weight
        peak = weights.peak_weight_per_w
        per_instance = usd * columns.cost_usd_per_hour + per_w * columns.idle_w
        per_instance = per_instance + peak * columns.busy_w + buy * columns.devices
        terms = _terms(nvars, per_instance[active].tolist())
        terms += _terms(shares, (per_w * energy_per_share).tolist())
        terms += [(u, usd * c) for u, c in pool_cost if usd != 0]
        terms += spare_devices(
            {un.name: usd * un.usd_per_hour_per_device + (per_w + peak) * un.idle_w_per_device
             + buy for un, _ in servers}
        )  # fmt: skip
        return terms + [(u, buy) for u in pools.values() if buy != 0]

    if elastic:  # relative slacks: a limit of 0 counts its slack in its own unit
        objective = [(v, 1.0 / limit if limit > 0 else 1.0) for v, limit in slacks.values()]
    else:
        objective = terms_of(problem.objective)
    prob.setObjective(pulp.LpAffineExpression(_summed(objective)))
    servers_of = {unit.group: units for unit, units in servers}
    return _Model(prob, n, (ii, kk), shares, scale, pools, slacks, terms_of, servers_of, used_by)


class _SilentHighs(highspy.Highs):
    """highspy's Highs, silent from birth: its constructor registers callbacks, and HiGHS prints
    its banner on the C stdout at the first call made while output_flag is on."""

    stop_asked = False

    def enableCallbacks(self) -> None:
        self.setOptionValue("output_flag", False)
        super().enableCallbacks()

    def stoppable(self) -> None:
        """Let :meth:`stop` end a MIP solve at HiGHS's next interrupt check. highspy's own
        ``cancelSolve`` only sets a flag that nothing reads unless ``HandleUserInterrupt``
        subscribes a Python callback to every simplex iteration as well; this one is
        subscribed to the MIP's checks alone."""
        self.cbMipInterrupt.subscribe(self._stop_if_asked)

    def stop(self) -> None:
        self.stop_asked = True

    def _stop_if_asked(self, event) -> None:
        if self.stop_asked:
            event.interrupt()


def _log_to_stderr(event) -> None:
    """HiGHS log callback: the line goes to stderr, so stdout carries only the output."""
    sys.stderr.write(event.message)


_PROGRESS_EVERY_S = 10.0
"""A solve that runs longer says where it stands this often (stderr)."""


class _Progress:
    """HiGHS MIP callback: every ``_PROGRESS_EVERY_S`` seconds of a solve, one stderr line with
    its elapsed time, incumbent, proven bound and gap."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.next_s = _PROGRESS_EVERY_S

    def __call__(self, event) -> None:
        out = event.data_out
        if out.running_time < self.next_s:
            return
        self.next_s = out.running_time + _PROGRESS_EVERY_S
        best, bound = out.mip_primal_bound, out.mip_dual_bound
        found = (
            f"best {best:.6g}, gap {out.mip_gap:.2%}" if math.isfinite(best) else "no fleet yet"
        )
        sys.stderr.write(f"solving {self.label}: {out.running_time:.0f} s, {found}, "
                         f"bound {bound:.6g}, {out.mip_node_count} nodes\n")  # fmt: skip
        sys.stderr.flush()


_HIGHS_MIP_FEASIBILITY = 1e-8
"""HiGHS's integrality and row tolerance in MIP solves. At its default (10⁻⁶) HiGHS 1.16 proved
optimal a fleet twice the optimum on an owned problem with whole servers (Llama-3.3-70B coding
agent at 10 requests/s: 5.74 against 2.75 $/h, which CBC, HiGHS without presolve and HiGHS at
10⁻⁸ all find), its proven bound above the true optimum. It must stay below ``_UNIT_SLACK``:
the rows that keep a pool's last unit in use (units ≤ needs + 1 − slack) are then not within
tolerance of allowing an empty unit; at 10⁻⁷ (equal to it) HiGHS proved a bound of 48 for a
fleet of 8.5 on the mixed agentic problem, and with the slack at 10⁻⁵ both cases solve right at
10⁻⁶ and 10⁻⁷ as well."""


_HIGHS_NO_SUB_MIPS = {"mip_heuristic_run_rens": False, "mip_heuristic_run_rins": False}
"""HiGHS's sub-MIP heuristics (RENS, RINS: a smaller MIP around the LP solution, or where it
agrees with the incumbent) are off. Nearly every solve here starts from a fleet (a baseline's,
or the stage before's), is a check that expects no fleet at all, or is a baseline on a few
columns, so they searched for what is already there or cannot exist: the mixed agentic
problem's solves took 5.4 s on one worker with them and 2.4 s without, the same fleet (its
cost stage 1.05 -> 0.80 s, its purchases check 1.10 -> 0.47 s), and the large cold problems
of the scale benchmarks lost little (docs/solver.md). They change the path to the optimum,
never the proof of it."""


class _BulkHiGHS(pulp.HiGHS):
    """PuLP's in-process HiGHS, handed the model in a few array calls: PuLP's own builder makes
    one call per row, column and integer (0.5 s of 0.6 s building a 10k-variable model).
    Silent, or with ``msg`` its log on stderr through a callback, never on stdout; ``warm``
    starts from the variables' current values."""

    warm = False
    progress: str | None = None  # the label of progress lines; None: no progress lines
    running: list | None = None  # where the model is registered for ``_cancel``, if anywhere
    numbered: tuple = ((), ())  # the variables and rows, in the model's order (``_build``)

    def createAndConfigureSolver(self, lp: pulp.LpProblem) -> None:
        highs = _SilentHighs()
        if self.msg:  # log_to_console would print on the C stdout; the callback gets it alone
            highs.cbLogging.subscribe(_log_to_stderr)
            highs.setOptionValue("log_to_console", False)
            highs.setOptionValue("output_flag", True)
        elif self.progress is not None and self.mip:
            highs.cbMipInterrupt.subscribe(_Progress(self.progress))
        options = {
            "mip_rel_gap": self.gapRel,
            "threads": self.threads,
            "mip_feasibility_tolerance": _HIGHS_MIP_FEASIBILITY,
            **_HIGHS_NO_SUB_MIPS,
            **self.optionsDict,
        }
        if self.timeLimit is not None:
            options["time_limit"] = float(self.timeLimit)
        for key, value in options.items():
            if value is not None:
                highs.setOptionValue(key, value)
        if self.running is not None:
            _register(highs, self.running)
        lp.solverModel = highs

    def buildSolverModel(self, lp: pulp.LpProblem) -> None:
        with _BUILDING:
            self._build(lp)

    def findSolutionValues(self, lp: pulp.LpProblem):
        """PuLP's reading, by this model's numbering: PuLP reads values through the
        ``index`` it stores on the variables and rows, which a check's model, built from the
        same objects while this one ran, may have renumbered."""
        with _BUILDING:
            self._number()
            return super().findSolutionValues(lp)

    def _number(self) -> None:
        """The variables' and rows' ``index``: their places in this model."""
        variables, rows = self.numbered
        for index, variable in enumerate(variables):
            variable.index = index
        for index, constraint in enumerate(rows):
            constraint.index = index

    def _build(self, lp: pulp.LpProblem) -> None:
        highs = lp.solverModel
        variables = lp.variables()
        self.numbered = (list(variables), list(lp.constraints()))
        self._number()
        inf = highspy.kHighsInf
        lower = [-inf if v.lowBound is None else v.lowBound for v in variables]
        upper = [inf if v.upBound is None else v.upBound for v in variables]
        highs.addVars(len(variables), np.array(lower, float), np.array(upper, float))
        sign = -1.0 if lp.sense == pulp.LpMaximize else 1.0
        where = np.array([v.index for v in lp.objective], dtype=np.int32)
        costs = sign * np.fromiter(lp.objective.values(), float, len(where))
        highs.changeColsCost(len(where), where, costs)
        if self.mip:
            integer = np.array([v.index for v in variables if v.cat == pulp.LpInteger], np.int32)
            kind = np.full(len(integer), int(highspy.HighsVarType.kInteger), np.uint8)
            highs.changeColsIntegrality(len(integer), integer, kind)
        starts, indices, values, row_lower, row_upper = [], [], [], [], []
        for constraint in self.numbered[1]:
            starts.append(len(indices))
            indices += [v.index for v in constraint.keys()]
            values += constraint.values()
            bound = -constraint.constant
            row_lower.append(bound if constraint.sense != pulp.LpConstraintLE else -inf)
            row_upper.append(bound if constraint.sense != pulp.LpConstraintGE else inf)
        status = highs.addRows(
            len(starts),
            np.array(row_lower, float),
            np.array(row_upper, float),
            len(indices),
            np.array(starts, np.int32),
            np.array(indices, np.int32),
            np.array(values, float),
        )
        if status != highspy.HighsStatus.kOk:
            raise SolverError(
                f"HiGHS refused the model's rows ({status}): coefficients out of range"
            )
        if self.warm:  # the variables' current values: a baseline's fleet, or the previous
            # stage's incumbent. Presolve is off: HiGHS 1.x with presolve and a start solution
            # proved "optimal" a fleet 2.6 % above the optimum (Qwen3-Coder-480B, 512k-token
            # coding agent, DDR5 at 1 $/GB: 132.71 against 129.33 $/h, which HiGHS cold, HiGHS
            # without presolve and CBC's bound agree on; tests/search/test_warm_start.py)
            highs.setOptionValue("presolve", "off")
            start = highspy.HighsSolution()
            start.col_value = [v.varValue or 0.0 for v in variables]
            start.value_valid = True
            highs.setSolution(start)


class _Cbc(pulp.COIN_CMD):
    """PuLP's CBC command with its log (``msg``) on stderr: PuLP lets CBC inherit stdout."""

    def get_pipe(self):
        if self.msg:  # a duplicate of fd 2, since PuLP closes the pipe after the run
            return os.fdopen(os.dup(2), "w")
        return super().get_pipe()


def _solver(
    settings: SolverSettings,
    *,
    mip: bool = True,
    verbose: bool = False,
    time_limit_s: float | None = None,
    warm: bool = False,
    running: list | None = None,
) -> pulp.LpSolver:
    """The PuLP solver object, single-threaded and seeded; ``verbose``: its log on stderr;
    ``warm``: start from the variables' current values; ``running``: a list a HiGHS model is
    registered in, for ``_cancel``."""
    common = {"mip": mip, "msg": verbose, "timeLimit": time_limit_s}
    if settings.name is SolverName.HIGHS:
        solver = _BulkHiGHS(
            **common, gapRel=settings.gap_rel, threads=1, random_seed=settings.seed
        )
        solver.warm = warm
        solver.progress = settings.label if settings.progress else None
        solver.running = running
        return solver
    # CBC's seed 0 means "from the clock", so 0 keeps CBC's fixed default seed.
    seeds = [f"randomCbcSeed {settings.seed}", f"randomSeed {settings.seed}"]
    # COIN_CMD on PuLP's bundled binary is PULP_CBC_CMD without its PuLP 4 deprecation warning.
    return _Cbc(
        **common,
        gapRel=settings.gap_rel,
        # no -threads: any value selects CBC's threaded branch and bound, which can stall 10 s
        path=pulp.PULP_CBC_CMD.pulp_cbc_path,
        options=seeds if settings.seed > 0 else [],
        warmStart=warm,
    )


_ONE_LOG_AT_A_TIME = threading.Lock()


def _solve(
    prob: pulp.LpProblem,
    settings: SolverSettings,
    *,
    mip: bool,
    verbose: bool,
    time_limit_s: float | None = None,
    warm: bool = False,
    running: list | None = None,
) -> None:
    """``prob.solve`` with the settings' solver. Verbose solves take turns: each log reads
    whole, and none deadlocks on HiGHS's banner, which the first solve to log writes under a
    process-wide std::call_once through the Python callback (so it needs the GIL) while
    another solve waits on that call_once holding the GIL."""
    solver = _solver(settings, mip=mip, verbose=verbose, time_limit_s=time_limit_s, warm=warm,
                     running=running)  # fmt: skip
    with _ONE_LOG_AT_A_TIME if verbose else nullcontext():
        prob.solve(solver)


def _run(
    model: _Model,
    settings: SolverSettings,
    verbose: bool,
    time_limit_s: float | None = None,
    warm: bool = False,
    running: list | None = None,
) -> Status:
    """Solve and return the verdict; the variables then hold the incumbent, if any.
    ``running``: a list the HiGHS model is registered in, for ``_cancel``.

    Raises:
        InconsistentProof: the incumbent leaves a variable outside its bounds."""
    prob, name = model.prob, settings.name.value
    try:
        _solve(prob, settings, mip=True, verbose=verbose, time_limit_s=time_limit_s, warm=warm,
               running=running)  # fmt: skip
    except pulp.PulpSolverError as error:
        raise SolverError(f"{name}: {error}") from error
    status = _read_verdict(prob, settings)
    outside = None if status is Status.INFEASIBLE else _outside_bounds(prob)
    if outside is not None:
        raise InconsistentProof(
            f"{name} returned a fleet with {outside}, so its verdict cannot be trusted"
        )
    return status


def _read_verdict(prob: pulp.LpProblem, settings: SolverSettings) -> Status:
    """The verdict of a finished run, HiGHS's read from its own model status where PuLP's
    pair cannot tell a stop from a solution."""
    name = settings.name.value
    status = verdict(prob.status, prob.sol_status, name)
    if settings.name is not SolverName.HIGHS or status is Status.OPTIMAL:
        return status
    # PuLP reads every HiGHS interrupt as (Optimal, Solution Found), with or without a solution,
    # and load, presolve or solve errors as (Not Solved, No Solution Found), like a time limit.
    raw = prob.solverModel.getModelStatus()
    if prob.status == pulp.LpStatusNotSolved and raw not in _HIGHS_STOPS:
        raise SolverError(f"{name}: stopped with model status {raw.name}, not a verdict")
    if status is Status.FEASIBLE:
        has_solution = prob.solverModel.getInfo().primal_solution_status
        return Status.FEASIBLE if has_solution == _HIGHS_FEASIBLE_SOLUTION else Status.INFEASIBLE
    return status


def _relaxation_bound(model: _Model, settings: SolverSettings, verbose: bool) -> float | None:
    """The LP relaxation's optimum, a proven lower bound (None if it was not solved)."""
    _solve(model.prob, settings, mip=False, verbose=verbose, time_limit_s=settings.time_limit_s)
    solved = (model.prob.status, model.prob.sol_status)
    if solved != (pulp.LpStatusOptimal, pulp.LpSolutionOptimal):
        return None
    return float(pulp.value(model.prob.objective) or 0.0)


_SHARE_NOISE = 1e-7
"""Shares below the solvers' primal feasibility tolerance are rounding noise, not load."""

_UNBOUGHT_SHARE_NOISE = 1e-5
"""Shares on a column with no instance below this are tolerance noise (a tiny class's whole
share is 1, far above it)."""


def _values(model: _Model, problem: IlpProblem) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Rounded instances, shares [i, k] and pool units of the incumbent."""
    columns, n_columns, n_classes = problem.columns, len(problem.columns), len(problem.classes)
    instances = np.zeros(n_columns, dtype=int)
    for i, variable in model.instances.items():
        instances[i] = round(variable.varValue or 0.0)
    raw = np.array([v.varValue or 0.0 for v in model.shares])
    if model.share_scale != 1.0:
        raw = np.round(raw)
    share = np.zeros((n_columns, n_classes))
    share[model.share_at] = np.clip(raw * model.share_scale, 0.0, 1.0)
    share[share < _SHARE_NOISE] = 0.0
    # a share the solver parked on a column it bought none of, within its feasibility
    # tolerance, is noise too: raising that column to an instance would buy hardware (and, for
    # a homogeneous baseline, a second group) for a load of a millionth of a request
    noise = (instances == 0)[:, None] & (share > 0.0) & (share < _UNBOUGHT_SHARE_NOISE)
    _move_noise(share, noise, columns.prefill, columns.decode)
    units = {name: round(u.varValue or 0.0) for name, u in model.pools.items()}
    return instances, share, units


def _move_noise(share: np.ndarray, noise: np.ndarray, prefill, decode) -> None:
    """Each ``noise`` share moved, in place, onto the column that carries most of its class
    among the columns serving the same phases, so that the class stays covered exactly once
    per phase: dropped, CBC's 1.3e-6 of a class on an unbought column left 0.9999987 of it,
    which the re-check refuses (its tolerance is 1e-6). Without such a column it is dropped."""
    for i, k in zip(*np.nonzero(noise), strict=True):
        alike = (prefill == prefill[i]) & (decode == decode[i]) & ~noise[:, k]
        carried = np.where(alike, share[:, k], 0.0)
        j = int(np.argmax(carried))
        if carried[j] > 0.0:
            share[j, k] += share[i, k]
        share[i, k] = 0.0


def _exactly_enough(problem: IlpProblem, instances, share, units):
    """Instances and pool units set to what the shares need (``needed_purchases``): raised
    where the solver's tolerances left a load uncovered (a load below its integrality
    tolerance on zero instances, or one beyond n by more than rounding), lowered where a unit or
    an instance carries nothing. Lowering keeps every constraint: limits only loosen."""
    needed, _ = needed_purchases(problem, fleet_totals(problem, instances, share, units), share)
    _, needed_units = needed_purchases(problem, fleet_totals(problem, needed, share, units), share)
    return needed, {name: needed_units.get(name, 0) for name in units}


def _gap(objective: float, bound: float) -> float:
    return 0.0 if objective == 0 else (objective - bound) / abs(objective)


def solve_ilp(
    problem: IlpProblem,
    *,
    one_group: bool = False,
    verbose: bool = False,
    begin: IlpSolution | None = None,
    explain: bool = True,
) -> IlpSolution:
    """Solve the provisioning ILP (formulation in columns.py).

    Args:
        problem: columns, classes, limits, objective and solver settings.
        one_group: homogeneous fleets only: every instance from one availability group.
        verbose: the solvers' logs on stderr (stdout stays the caller's); silent otherwise.
        begin: a fleet of this problem known beforehand (a baseline's, on the same columns),
            to start from: an incumbent lets the solver fix most columns by reduced cost at
            once (the mixed agentic optimum's first stage: 0.3 s from its homogeneous
            baseline, 3.9 s cold).
        explain: measure which limits an infeasible problem misses (a second solve, with a
            slack on every limit); without it, only a class no column serves is said.

    Returns:
        The verdict with the fleet, objective, proven bound and gap; for an infeasible problem,
        ``explanation`` says which class cannot be served or which limits are short, by how
        much.

    Raises:
        ValueError: a column draws from a pool the problem lacks, or racks lack rack power.
        SolverError: the solver gave neither a fleet nor an infeasibility verdict.
    """
    try:
        return _solve_once(problem, one_group=one_group, verbose=verbose, begin=begin,
                           explain=explain)  # fmt: skip
    except InconsistentProof as why:
        other = OTHER_SOLVER[problem.solver.name]
        again = replace(problem, solver=replace(problem.solver, name=other))
        found = _solve_once(again, one_group=one_group, verbose=verbose, begin=begin,
                            explain=explain)  # fmt: skip
        return replace(found, fallback=f"{why}; solved again with {other.value}")


def _solve_once(problem: IlpProblem, *, one_group: bool, verbose: bool, begin, explain: bool):
    start = time.perf_counter()
    _validate(problem)
    settings = problem.solver
    name = settings.name.value
    uncovered = _uncovered(problem, one_group)
    if uncovered:
        wall_s = time.perf_counter() - start
        return IlpSolution(Status.INFEASIBLE, name, wall_s, explanation=tuple(uncovered))

    if one_group:
        return _by_group(problem, verbose, start)
    parts = class_parts(problem)
    many = len(parts) >= _PARTS_WORTH_SHARING
    if len(parts) > 1 and (many or not shares_whole_units(problem, parts)):
        return _by_parts(problem, parts, verbose, start)
    if begin is not None and begin.instances is None:
        begin = None
    return _whole(problem, False, verbose, start, begin=begin, explain=explain)


def _by_group(problem: IlpProblem, verbose: bool, start: float) -> IlpSolution:
    """The best fleet of one availability group as the best of one ILP per group. A fleet of
    one group uses that group's columns alone, so the least over the groups is the optimum, and
    a group's ILP is small. Groups are solved in the order of their LP relaxations, and a group
    whose relaxation already lies above the best fleet found (beyond what the lexicographic
    stages hold the first objective to) is not solved: none of its fleets can be better. The
    mixed agentic problem's homogeneous disaggregated baseline: 4.0 s as one ILP choosing its
    group by binaries and big-M rows, 1.7 s as 23 ILPs, 0.5 s with the relaxations first.
    The relaxations are bounds of their own (``fleet.prune.group_floors``), in one vectorized
    pass, where every term of the objective is nonnegative; an LP per group otherwise.
    The bound is the least of the groups' bounds (an infeasible group's is +∞); a group the
    time limit cut off leaves none. With no fleet in any group the one-ILP model says why."""
    settings = problem.solver
    columns = problem.columns
    groups = np.asarray(columns.group, dtype=object)
    floors = group_floors(problem)
    ordered = []
    for group in dict.fromkeys(columns.group):
        keep = groups == group
        sub = replace(problem, columns=columns.subset(keep))
        if floors is not None:
            floor = floors[group]
            if floor == math.inf:
                continue  # some class none of its columns can serve
        else:
            relaxed = _build(sub, one_group=False, elastic=False)
            own = replace(settings, time_limit_s=_time_left(settings, start))
            floor = _relaxation_bound(relaxed, own, verbose)
            if floor is None and relaxed.prob.status == pulp.LpStatusInfeasible:
                continue  # not even its relaxation has a fleet
        ordered.append((-math.inf if floor is None else floor, group, keep, sub))
    ordered.sort(key=lambda entry: entry[0])
    found: list[tuple[np.ndarray, IlpSolution]] = []
    bound: float | None = math.inf
    least = math.inf
    for floor, group, keep, sub in ordered:
        if floor > least + _held_slack(least, settings):
            bound = None if bound is None else min(bound, floor)
            continue
        left = _time_left(settings, start)
        if left == 0.0:
            bound = None
            break
        own = replace(settings, time_limit_s=left, label=f"{settings.label}, {group}")
        result = solve_ilp(replace(sub, solver=own), verbose=verbose)
        if result.status is Status.INFEASIBLE:
            if _time_left(settings, start) == 0.0:  # stopped by the limit, not proven
                bound = None
            continue
        found.append((np.flatnonzero(keep), result))
        least = min(least, result.objective)
        if bound is not None:
            bound = None if result.bound is None else min(bound, result.bound)
    if not found:
        return _whole(problem, True, verbose, start)
    rows, best = _first_of(problem, found)
    instances, share = _spread(problem, rows, best.instances, best.share)
    bound = None if bound is None else min(bound, best.objective)
    gap = None if bound is None else _gap(best.objective, bound)
    proven = gap is not None and gap <= settings.gap_rel + _PARTS_TOL
    return replace(
        best,
        status=Status.OPTIMAL if proven else Status.FEASIBLE,
        wall_s=time.perf_counter() - start,
        bound=bound,
        gap=gap,
        instances=instances,
        share=share,
        n_variables=sum(r.n_variables for _, r in found),
        n_constraints=sum(r.n_constraints for _, r in found),
    )


def _held_slack(value: float, settings: SolverSettings) -> float:
    """How far above ``value`` the first objective may lie while later stages run."""
    return _HOLD_REL * max(abs(value), 1.0) + settings.gap_rel * abs(value)


def _first_of(problem: IlpProblem, found: list) -> tuple[np.ndarray, IlpSolution]:
    """The (rows, fleet) that is least on the first objective and, among those within what
    the lexicographic stages hold it to, on each later one in turn."""
    settings = problem.solver
    left = found
    for weights in (problem.objective, *problem.then):
        priced = replace(problem, objective=weights)
        values = [fleet_totals(_on(priced, rows), r.instances, r.share, r.pool_units).objective
                  for rows, r in left]  # fmt: skip
        least = min(values)
        left = [f for f, v in zip(left, values, strict=True)
                if v <= least + _held_slack(least, settings)]  # fmt: skip
    return left[0]


def lifted(found: IlpSolution, rows: np.ndarray, problem: IlpProblem) -> IlpSolution:
    """``found``, a fleet of ``problem`` on the columns ``rows`` alone, on all its columns."""
    instances, share = _spread(problem, rows, found.instances, found.share)
    return replace(found, instances=instances, share=share)


def _spread(problem: IlpProblem, rows: np.ndarray, instances, share):
    """Instances [j] and shares [j, k] of the columns ``rows`` (j: column rows[j]) on all of
    ``problem``'s columns, zero elsewhere."""
    all_instances = np.zeros(len(problem.columns), dtype=int)
    all_share = np.zeros((len(problem.columns), len(problem.classes)))
    all_instances[rows], all_share[rows] = instances, share
    return all_instances, all_share


def _on(problem: IlpProblem, rows: np.ndarray) -> IlpProblem:
    """The problem on the columns ``rows`` alone."""
    keep = np.zeros(len(problem.columns), dtype=bool)
    keep[rows] = True
    return replace(problem, columns=problem.columns.subset(keep))


_PARTS_WORTH_SHARING = 4
"""Parts that could share servers are solved part by part first only when there are this many:
the whole ILP, warm-started from them, then does no worse (16 classes of 4 models: optimal in
118 s against 120 s as one ILP; 64 classes of 16 at a 120 s limit: 15 % gap in 121 s against
76 % in 276 s); with two or three, parts only take the whole ILP's time under a short limit
(docs/solver.md, Parts)."""

_PARTS_TOL = 1e-6
"""The relative gap below which parts that add up to their bound are an optimum: the solvers'
own absolute gap tolerance (HiGHS mip_abs_gap), relative to a fleet of at least 1 $/h."""


def _time_left(settings: SolverSettings, start: float) -> float | None:
    if settings.time_limit_s is None:
        return None
    return max(settings.time_limit_s - (time.perf_counter() - start), 0.0)


def _by_parts(problem: IlpProblem, parts: list, verbose: bool, start: float) -> IlpSolution:
    """Solve each part on its own, side by side (search.parts); their fleets together are the
    whole's optimum when nothing couples them. A power limit they break is priced into the
    parts (``_priced_power``). Otherwise the whole is solved from their best fleet that keeps
    its limits, with the parts' bound less what sharing can save as a proven floor under its
    own."""
    settings = problem.solver
    subs = [part_problem(problem, classes) for classes in parts]
    limits = problem.limits
    coupled = sharing_allowance(problem, parts) > 0 or any(
        (limits.power_w, limits.racks, limits.budget_usd_per_hour, limits.devices)
    )
    until = None  # coupled parts leave the whole ILP half the time
    if coupled and settings.time_limit_s is not None:
        until = start + _PARTS_SHARE_OF_TIME * settings.time_limit_s
    limit_w = _power_limit_w(problem.limits)
    frontier = limit_w is not None and _power_alone_couples(problem, parts)
    combined, floor, found = _solve_parts(
        problem, parts, subs, problem.objective, verbose, start, until, stages=not frontier
    )
    if combined.status is Status.INFEASIBLE:  # a part has no fleet even without the limits
        return combined
    if frontier:  # the later stages run once the parts' power is settled
        combined, floor, keeps_limits = _power_frontier(problem, parts, subs, found, verbose,
                                                        start)  # fmt: skip
    else:
        keeps_limits = not check_solution(problem, combined)
    if not keeps_limits and limit_w is not None and not frontier:
        free = replace(problem, limits=replace(problem.limits, power_w=None, racks=None,
                                               rack_power_w=None))  # fmt: skip
        if not check_solution(free, combined):  # only the power limit is broken
            combined, floor, keeps_limits = _priced_power(
                problem, parts, subs, combined, floor, verbose, (start, until)
            )
    proven = combined.gap is not None and combined.gap <= settings.gap_rel + _PARTS_TOL
    if keeps_limits and (proven or _time_left(settings, start) == 0.0):
        return replace(combined, status=combined.status if proven else Status.FEASIBLE)
    begin = combined if keeps_limits else None
    return _whole(problem, False, verbose, start, begin=begin, floor=floor, parts=len(parts))


def _solve_parts(
    problem, parts, subs, weights: Objective, verbose: bool, start: float, until, *, stages=True
):
    """(the parts' fleets together as one solution of ``problem``, the proven floor under its
    optimum, each part's solution) with each part minimizing ``weights`` until ``until`` (a
    perf_counter time; None: the problem's own limit from ``start``); the later lexicographic
    stages run, with ``stages``, only for the problem's own objective. An infeasible part's
    verdict is the whole's."""
    stages = stages and weights == problem.objective
    cores = os.cpu_count() or 1
    spare = len(subs) < cores  # else every core solves a part: no check runs beside a stage

    def solve_part(j: int) -> IlpSolution:
        part = _part(problem, subs, j, weights, (start, until), stages=stages)
        if not spare:
            solver = replace(part.solver, race_checks=False, checks_beside_first_stage=False)
            part = replace(part, solver=solver)
        return solve_ilp(part, verbose=verbose)

    with ThreadPoolExecutor(min(len(subs), cores)) as pool:
        found = list(pool.map(solve_part, range(len(subs))))
    size = _size_of(found, len(parts))
    failed = next((f for f in found if f.status is Status.INFEASIBLE), None)
    if failed is not None:
        return replace(failed, wall_s=time.perf_counter() - start, **size), None, found
    instances, share, units = _joined(problem, parts, subs, found)
    bounds = [part.bound for part in found]
    priced = replace(problem, objective=weights)
    floor = None if None in bounds else sum(bounds) - sharing_allowance(priced, parts)
    if floor is not None and weights.peak_weight_per_w:  # the price of the limit, given back
        floor -= weights.peak_weight_per_w * _power_limit_w(problem.limits)
    proven = all(f.status is Status.OPTIMAL for f in found)
    status = Status.OPTIMAL if proven else Status.FEASIBLE
    return _fleet(problem, status, instances, share, units, floor, start, size), floor, found


def _part(problem, subs, j: int, weights: Objective, when, *, stages: bool, cap_w=None):
    """Part j's ILP: ``weights`` (then its later stages, with ``stages``), peak power at most
    ``cap_w``, and what is left of the time ``when`` = (start, until) allows."""
    settings = problem.solver
    start, until = when
    left = _time_left(settings, start)
    if until is not None:
        left = until - time.perf_counter()
    limited = replace(settings, time_limit_s=None if left is None else max(left, 1.0),
                      label=f"{settings.label}, part {j + 1} of {len(subs)}")  # fmt: skip
    part = subs[j][0]
    return replace(part, solver=limited, objective=weights, then=part.then if stages else (),
                   limits=replace(part.limits, power_w=cap_w))  # fmt: skip


def _size_of(found: list[IlpSolution], n_parts: int) -> dict:
    return {
        "n_variables": sum(f.n_variables for f in found),
        "n_constraints": sum(f.n_constraints for f in found),
        "parts": n_parts,
    }


def _joined(problem, parts, subs, found: list[IlpSolution]):
    """(instances, shares, pool units) of the parts' fleets ``found`` together."""
    instances = np.zeros(len(problem.columns), dtype=int)
    share = np.zeros((len(problem.columns), len(problem.classes)))
    units = {pool.name: 0 for pool in problem.pools}
    for (_, rows), classes, part in zip(subs, parts, found, strict=True):
        instances[rows] += part.instances
        share[np.ix_(rows, classes)] = part.share
        for name, count in part.pool_units.items():
            units[name] += count
    return instances, share, units


def _power_limit_w(limits) -> float | None:
    """The tightest limit on peak IT power: the budget, or racks × rack power."""
    candidates = [limits.power_w]
    if limits.racks is not None and limits.rack_power_w is not None:
        candidates.append(limits.racks * limits.rack_power_w)
    candidates = [c for c in candidates if c is not None]
    return min(candidates) if candidates else None


_PARTS_SHARE_OF_TIME = 0.5
"""The share of the time limit parts that something couples may take; the rest is the whole
ILP's, should they not prove the optimum."""

_LAGRANGE_ROUNDS = 8
"""Prices of the power limit tried at most, each one solve of every part."""


def _priced_power(problem, parts, subs, first: IlpSolution, floor, verbose: bool, when):
    """(the best fleet found that keeps every limit, else ``first``; the best proven floor;
    whether the fleet keeps them) by Lagrangian relaxation of the power limit: each part also
    pays λ per W of peak power. For any λ ≥ 0 the parts' priced optima less the sharing
    allowance less λ × limit bound the whole's optimum from below (a fleet within the limit
    pays λ·peak ≤ λ·limit); a λ high enough brings the parts' fleets within the limit. λ starts
    at a tenth of the unpriced fleet's objective per W of its peak and doubles until they are,
    then is bisected."""
    settings, weights = problem.solver, problem.objective
    start, until = when  # the solve's start, and when the parts must stop
    totals = fleet_totals(problem, first.instances, first.share, first.pool_units)
    price = 0.1 * abs(first.objective) / max(totals.peak_it_power_w, 1.0)
    best, low, high = None, 0.0, None
    for _ in range(_LAGRANGE_ROUNDS):
        if until is not None and time.perf_counter() >= until:
            break
        priced = replace(weights, peak_weight_per_w=weights.peak_weight_per_w + price)
        fleet, bound, _ = _solve_parts(problem, parts, subs, priced, verbose, start, until)
        if fleet.status is Status.INFEASIBLE:
            break
        if bound is not None:
            floor = bound if floor is None else max(floor, bound)
        if not check_solution(problem, fleet):
            high = price
            if best is None or fleet.objective < best.objective:
                best = fleet
            if floor is not None and _gap(best.objective, min(floor, best.objective)) <= (
                settings.gap_rel + _PARTS_TOL
            ):
                break
        else:
            low = price
        price = 2.0 * price if high is None else (low + high) / 2.0
    found = best or first
    bound = None if floor is None else min(floor, found.objective)
    gap = None if bound is None else _gap(found.objective, bound)
    return replace(found, bound=bound, gap=gap), floor, best is not None


def _power_alone_couples(problem: IlpProblem, parts: list) -> bool:
    """Whether the parts share nothing and only a power limit (a budget, or racks × rack
    power) holds them together: then ``_power_frontier`` solves them exactly."""
    limits = problem.limits
    return (
        limits.budget_usd_per_hour is None
        and not limits.devices
        and sharing_allowance(problem, parts) == 0
    )


def _power_frontier(problem, parts, subs, first: list[IlpSolution], verbose: bool, start):
    """(the cheapest combination of the parts' fleets under falling power caps that keeps the
    limit, else the unconstrained parts together; the proven floor; whether the fleet keeps the
    limit), by search.frontier from the parts' unconstrained optima ``first`` (first objective
    alone): exact when it closes, so it may take the whole time limit. Each part of the chosen
    combination then runs its later stages under the power its fleet uses."""
    settings, weights = problem.solver, problem.objective
    when = (start, None)  # the problem's own time limit
    deadline = None
    if settings.time_limit_s is not None:
        deadline = start + settings.time_limit_s

    def power_w(j: int, fleet: IlpSolution) -> float:
        sub = subs[j][0]
        return fleet_totals(sub, fleet.instances, fleet.share, fleet.pool_units).peak_it_power_w

    def is_time_left() -> bool:
        return deadline is None or time.perf_counter() < deadline

    def solve(j: int, cap_w: float) -> Step:
        part = _part(problem, subs, j, weights, when, stages=False, cap_w=cap_w)
        fleet = solve_ilp(part, verbose=verbose, explain=False)
        if fleet.status is Status.INFEASIBLE:  # proven, unless the time limit stopped it
            return Step(cap_w, math.inf if is_time_left() else -math.inf, None)
        return Step(cap_w, -math.inf if fleet.bound is None else fleet.bound, fleet,
                    power_w(j, fleet))  # fmt: skip

    def proof(value: float) -> float:  # the least floor within the gap of ``value``
        return value - (settings.gap_rel + _PARTS_TOL) * abs(value)

    steps = [Step(math.inf, -math.inf if f.bound is None else f.bound, f, power_w(j, f))
             for j, f in enumerate(first)]  # fmt: skip
    limit_w = _power_limit_w(problem.limits)
    traced = trace(steps, limit_w, solve, proof, is_time_left, os.cpu_count() or 1)
    floor = traced.floor if math.isfinite(traced.floor) else None
    size = _size_of(first, len(parts))
    if traced.chosen is None:
        instances, share, units = _joined(problem, parts, subs, first)
        unlimited = _fleet(problem, Status.FEASIBLE, instances, share, units, None, start, size)
        return unlimited, floor, False

    def staged(j: int) -> IlpSolution:
        step = traced.chosen[j]
        if not problem.then:
            return step.fleet
        part = _part(problem, subs, j, weights, when, stages=True, cap_w=step.power_w)
        return _stages_from(part, step.fleet, verbose)

    with ThreadPoolExecutor(min(len(subs), os.cpu_count() or 1)) as pool:
        fleets = list(pool.map(staged, range(len(subs))))
    instances, share, units = _joined(problem, parts, subs, fleets)
    value = sum(step.fleet.objective for step in traced.chosen)
    status = Status.OPTIMAL if floor is not None and floor >= proof(value) else Status.FEASIBLE
    found = _fleet(problem, status, instances, share, units, floor, start, size)
    return found, floor, not check_solution(problem, found)


def _stages_from(problem: IlpProblem, fleet: IlpSolution, verbose: bool) -> IlpSolution:
    """``problem``'s later stages from ``fleet``, an optimum of its first objective found
    beforehand (its verdict and bound are kept): the first objective is not solved again."""
    start = time.perf_counter()
    model = _build(problem, one_group=False, elastic=False)
    _start_from(model, problem, fleet)
    instances, share, units = _staged(model, problem, verbose, start)
    size = {"n_variables": fleet.n_variables, "n_constraints": fleet.n_constraints}
    return _fleet(problem, fleet.status, instances, share, units, fleet.bound, start, size)


def _whole(
    problem: IlpProblem,
    one_group: bool,
    verbose: bool,
    start: float,
    *,
    begin: IlpSolution | None = None,
    floor: float | None = None,
    parts: int = 1,
    explain: bool = True,
) -> IlpSolution:
    """One ILP for the whole problem, from the fleet ``begin`` when given, with ``floor`` a
    proven lower bound on its first objective known beforehand; an infeasible one says which
    limits fall short with ``explain``."""
    settings = problem.solver
    name = settings.name.value
    model = _build(problem, one_group=one_group, elastic=False)
    size = {
        "n_variables": model.prob.numVariables(),
        "n_constraints": model.prob.numConstraints(),
        "parts": parts,
        "coupled": parts > 1,
    }
    if begin is not None:
        _start_from(model, problem, begin)
    left = _time_left(settings, start)
    if parts > 1 and left is not None:  # after the parts, at least a second to report
        left = max(left, 1.0)
    beside = (
        _ChecksBesideStart(model, problem, verbose, left)
        if begin is not None
        and not verbose
        and _checking(problem)
        and settings.checks_beside_first_stage
        else None
    )
    began = time.perf_counter()
    status = _run(model, settings, verbose, left, warm=begin is not None)
    check_s = max(_CHECK_FLOOR_S, _CHECK_SHARE * (time.perf_counter() - began))
    first = beside.verdicts(began + check_s) if beside is not None else None
    if status is Status.INFEASIBLE:
        if model.prob.status == pulp.LpStatusNotSolved:
            why = (
                f"no fleet found within the {settings.time_limit_s:.3g} s time limit; "
                "infeasibility is not proven (raise solver.time_limit_s)"
            )
            explanation: tuple[str, ...] = (why,)
        elif explain:
            explanation = tuple(_explain_limits(problem, one_group, verbose, start))
        else:
            explanation = ()
        wall_s = time.perf_counter() - start
        return IlpSolution(status, name, wall_s, explanation=explanation, **size)

    bound = _primary_bound(model, problem, status, verbose)
    if floor is not None:
        bound = floor if bound is None else max(bound, floor)
        value = float(pulp.value(model.prob.objective) or 0.0)
        if _gap(value, min(bound, value)) <= settings.gap_rel + _PARTS_TOL:
            status = Status.OPTIMAL  # the floor closes what the solver left open
    instances, share, units = _staged(model, problem, verbose, start, first, check_s)
    # the bound is checked against the solver's own fleet: the re-check then trims a need
    # within ROUND_ABS of a whole number, which may fall below a bound proven exactly (a load
    # of 167.0000005 instances: both solvers prove 168, the re-check keeps 167)
    returned = fleet_totals(problem, instances, share, units).objective
    if bound is not None and bound > returned + PROOF_TOL * max(abs(returned), 1):
        raise InconsistentProof(
            f"{name} proved a lower bound {bound:.6g} above the fleet it returned "
            f"({returned:.6g}), so its verdict cannot be trusted"
        )
    return _fleet(problem, status, instances, share, units, bound, start, size)


def _staged(
    model: _Model,
    problem: IlpProblem,
    verbose: bool,
    start: float,
    first: tuple[bool, bool | None] | None = None,
    check_s: float | None = None,
):
    """The tie-break stages (``_then``) from the incumbent ``model`` holds, and their fleet
    (instances, shares [i, k], pool units). A fleet they may keep holds the first objective and
    costs no more in the second than the incumbent (each stage keeps it unless it finds better,
    and holds what it found), so a column one instance of which exceeds either value is of no
    use to them (``fleet.prune.beyond``): where there are such columns the stages run on a
    model without them, from the same values. On the mixed agentic problem these are its 76
    rack-scale columns (GB200, GB300, B300 and Rubin systems, dearer than the whole fleet): its
    cost stage takes 0.35-0.45 s without them where it took 1.3-1.5 s, its purchases stage 0.2 s
    where it took 0.45 (2026-12-02, docs/solver.md)."""
    keep = _of_use_to_stages(model, problem)
    if keep is None:
        _then(model, problem, verbose, start, first=first, check_s=check_s)
        return _values(model, problem)
    rows = np.flatnonzero(keep)
    sub = _on(problem, rows)
    staged = _build(sub, one_group=False, elastic=False)
    _carry(model, staged, rows)
    _then(staged, sub, verbose, start, first=first, check_s=check_s)
    instances, share, units = _values(staged, sub)
    return (*_spread(problem, rows, instances, share), units)


def _of_use_to_stages(model: _Model, problem: IlpProblem) -> np.ndarray | None:
    """[i] bool: the columns a fleet the tie-break stages may keep can use (and every column
    the incumbent uses), or None when that is all of them, or there are no stages."""
    if not problem.then:
        return None
    settings = problem.solver
    useless = np.zeros(len(problem.columns), dtype=bool)
    for objective in (problem.objective, problem.then[0]):
        terms = pulp.LpAffineExpression(_summed(model.terms_of(objective)))
        value = float(pulp.value(terms) or 0.0)
        useless |= beyond(problem, objective, value + 2 * _held_slack(value, settings))
    for i, variable in model.instances.items():
        if (variable.varValue or 0.0) > 0.0:
            useless[i] = False
    return None if not useless.any() else ~useless


def _carry(model: _Model, onto: _Model, rows: np.ndarray) -> None:
    """``model``'s variable values onto ``onto``, the same problem on the columns ``rows``
    alone (its column j is ``model``'s column rows[j]), as they are: a warm start. A variable
    ``model`` lacks (a column a left-out one dominated there) starts at 0."""

    def value(variable: pulp.LpVariable | None) -> float:
        return 0.0 if variable is None else variable.varValue or 0.0

    shares = dict(zip(zip(*(a.tolist() for a in model.share_at), strict=True), model.shares,
                      strict=True))  # fmt: skip
    for j, k, variable in zip(*(a.tolist() for a in onto.share_at), onto.shares, strict=True):
        variable.varValue = value(shares.get((int(rows[j]), k)))
    for j, variable in onto.instances.items():
        variable.varValue = value(model.instances.get(int(rows[j])))
    for j, variable in onto.used.items():
        variable.varValue = value(model.used.get(int(rows[j])))
    for name, variable in onto.pools.items():
        variable.varValue = value(model.pools.get(name))
    for group, variable in onto.servers.items():
        variable.varValue = value(model.servers.get(group))


def _outside_bounds(prob: pulp.LpProblem) -> str | None:
    """The first variable the solver returned outside its bounds beyond ``BOUND_TOL``, as
    ``name = value outside [low, up]``, else None. CBC 2.10 did so once under "optimal"
    (mixed-agentic-owned's energy objective: shares of -833,405 and 833,404 cancelling in one
    class's cover row), which clipped to [0, 1] made a fleet 8 % above the optimum."""
    for variable in prob.variables():
        value = variable.varValue
        if value is None:
            continue
        low = -math.inf if variable.lowBound is None else variable.lowBound
        up = math.inf if variable.upBound is None else variable.upBound
        slack = BOUND_TOL * max(1.0, abs(value))
        if value < low - slack or value > up + slack:
            return f"{variable.name} = {value:.6g} outside [{low:g}, {up:g}]"
    return None


BOUND_TOL = 1e-6
"""How far outside its bounds a returned value may sit (relative, at least absolute): the
solvers' primal feasibility tolerances are 1e-7."""


PROOF_TOL = 1e-5
"""How far a proven bound may sit above any fleet (relative, ≥ 1 unit of objective): the
solvers' tolerances; beyond it the proof is wrong, since the bound holds for every fleet,
the optimum's and its baselines' alike."""


def _fleet(problem, status, instances, share, units, bound, start, size: dict) -> IlpSolution:
    """The solution: purchases set to exactly what the shares need, the objective recomputed
    from the fleet and the proven bound capped at it."""
    instances, units = _exactly_enough(problem, instances, share, units)
    objective = fleet_totals(problem, instances, share, units).objective
    if bound is not None:
        bound = min(bound, objective)
        proven = problem.solver.gap_rel + PROOF_TOL
        if status is Status.OPTIMAL and _gap(objective, bound) > proven:
            status = Status.FEASIBLE  # the re-check bought more than the solver proved least
    return IlpSolution(
        status=status,
        solver=problem.solver.name.value,
        wall_s=time.perf_counter() - start,
        objective=objective,
        bound=bound,
        gap=None if bound is None else _gap(objective, bound),
        instances=instances,
        share=share,
        pool_units=units,
        **size,
    )


def _start_from(model: _Model, problem: IlpProblem, begin: IlpSolution) -> None:
    """Every variable set to the fleet ``begin`` (0 where it has none), for a warm start."""
    for variable in model.prob.variables():
        variable.varValue = 0.0
    for i, variable in model.instances.items():
        variable.varValue = float(begin.instances[i])
    values = begin.share[model.share_at] / model.share_scale
    if model.share_scale != 1.0:
        values = np.round(values)
    for variable, value in zip(model.shares, values.tolist(), strict=True):
        variable.varValue = value
    for name, variable in model.pools.items():
        variable.varValue = float(begin.pool_units.get(name, 0))
    devices = begin.instances * problem.columns.devices
    for unit in problem.purchase_units:
        if unit.group in model.servers:
            member = np.array([g == unit.group for g in problem.columns.group])
            model.servers[unit.group].varValue = math.ceil(devices[member].sum() / unit.devices
                                                           - 1e-9)  # fmt: skip
    for i, variable in model.used.items():
        variable.varValue = float(begin.share[i].sum() > 0)


def _primary_bound(model: _Model, problem: IlpProblem, status: Status, verbose: bool):
    """A proven lower bound of the first objective, read before later stages change the model;
    the variables keep their incumbent."""
    settings = problem.solver
    if settings.name is SolverName.HIGHS:
        bound = model.prob.solverModel.getInfo().mip_dual_bound
        if math.isfinite(bound):
            return bound
    elif status is Status.OPTIMAL:
        found = float(pulp.value(model.prob.objective) or 0.0)
        return found - settings.gap_rel * abs(found)
    incumbent = _snapshot(model.prob)
    bound = _relaxation_bound(model, settings, verbose)
    _restore(incumbent)
    return bound


def _snapshot(prob: pulp.LpProblem) -> dict:
    """The variables' values, for ``_restore`` after an LP solve overwrote them."""
    return {v: v.varValue for v in prob.variables()}


def _restore(snapshot: dict) -> None:
    for variable, value in snapshot.items():
        variable.varValue = value


_THEN_GAP_REL = 1e-3
"""The relative gap a later objective is solved to: cost within 0.1 % of the least among the
fleets that hold the first objective (the solvers then agree on cost to 0.1 %)."""

_HOLD_REL = 1e-6
"""How far above its optimum an objective may rise while the next one is minimized: the solvers'
own optimality tolerance, so that the next stage cannot trade the first for the second."""


def _checking(problem: IlpProblem) -> bool:
    """Whether tie-break stages are checked before they run (HiGHS proves the skips)."""
    settings = problem.solver
    return (
        bool(problem.then) and settings.skip_proven_stages and (settings.name is SolverName.HIGHS)
    )


def _then(model: _Model, problem: IlpProblem, verbose: bool, start: float,
          first: tuple[bool, bool | None] | None = None,
          check_s: float | None = None) -> None:  # fmt: skip
    """Minimize ``problem.then`` in turn, each with the objectives before it held at their
    value (lexicographic), warm-started from the incumbent and within what is left of the time
    limit. A stage keeps the incumbent unless it lowers its objective by more than the margin
    its check asks of a better fleet (``_margin``), so whether the check or the stage settles
    it, the fleet is the same. A stage that finds no fleet in time keeps the previous one; the
    verdict stays the first objective's. ``first``: the first stage's checks, already run on
    this incumbent (``_ChecksBesideStart``). With a spare core each stage whose check has not
    run races it (``_stage_against_check``); otherwise the check runs first, beside the next
    stage's. ``check_s``: the most seconds a check may take before it gives up and the stage
    runs (``_CHECK_SHARE``; None: the time left).

    Raises:
        InconsistentProof: a check proved that no fleet beats the incumbent by its margin, and
            the stage raced beside it returned one that does."""
    prob, settings = model.prob, problem.solver
    checking = _checking(problem)
    racing = checking and settings.race_checks and not verbose
    held = problem.objective
    known = None  # this stage's check, when it ran beside the stage before's
    for number, then in enumerate(problem.then):
        left = None
        if settings.time_limit_s is not None:
            left = settings.time_limit_s - (time.perf_counter() - start)
            if left <= 0:
                return
        value = float(pulp.value(prob.objective) or 0.0)
        slack = _held_slack(value, settings)
        incumbent = _snapshot(prob)
        if number == 0 and first is not None:
            known = first[0]
        if not known:  # a stage known to be skipped needs no bounds
            _fix_by_reduced_cost(model, settings, value + slack, verbose, left)
            _restore(incumbent)
        _constraint(prob, model.terms_of(held), _LE, value + slack, f"hold_{number}")
        prob.setObjective(pulp.LpAffineExpression(_summed(model.terms_of(then))))
        label = _stage_label(settings, number, then)
        proven = False  # None: unknown, to be raced
        check_left = left if check_s is None else min(check_s, left or check_s)
        if checking:
            if number == 0 and first is not None:
                proven, known = first
            elif known is not None:
                proven, known = known, None
            elif racing:
                proven = None
            else:
                stages = problem.then[number : number + 2]
                proven, known = _checks(model, prob, settings, number, stages, verbose,
                                        check_left)  # fmt: skip
            if proven:
                held = then  # the stage would return the incumbent, or a fleet tied with it
                continue
            known = None  # the next stage's check assumed this one keeps the incumbent
            left = _time_left(settings, start)
            if left == 0.0:
                return
        stage_settings = replace(settings, gap_rel=max(settings.gap_rel, _THEN_GAP_REL),
                                 label=label)  # fmt: skip
        current = float(pulp.value(prob.objective) or 0.0)
        if proven is None:
            check_settings = replace(settings, label=label)
            status, proven = _stage_against_check(model, stage_settings, check_settings,
                                                  verbose, left, current, check_left)  # fmt: skip
        else:
            status = _run(model, stage_settings, verbose, left, warm=True)
        found = None if status is Status.INFEASIBLE else float(pulp.value(prob.objective) or 0.0)
        better = found is not None and found <= current - _margin(prob.objective, current)
        if proven and better:  # a proof that no such fleet exists, beside the fleet itself
            raise InconsistentProof(
                f"{settings.name.value} proved that no fleet beats {current:.6g} in {label}, "
                f"and found one at {found:.6g}, so its verdict cannot be trusted"
            )
        if status is Status.INFEASIBLE and not proven:
            _restore(incumbent)  # nothing found in time: keep the previous stage's fleet
            return
        if not better:  # the fleet its check keeps: the incumbent (a stopped stage holds it)
            _restore(incumbent)
        held = then


def _stage_against_check(model: _Model, settings: SolverSettings, check: SolverSettings,
                         verbose: bool, left, current: float,
                         check_left) -> tuple[Status, bool]:  # fmt: skip
    """Run a tie-break stage with its check (``_cannot_improve``) beside it on a spare core:
    a proof stops the stage, a stage that ends stops the check, a check that fails lets the
    stage run on. Run in turn, the two cost their sum wherever the check fails; on the mixed
    agentic problem the cost stage's check failed in 1.3-2.2 s where the stage itself took
    0.7-1.5 s (both about 0.8 s since HiGHS's sub-MIP heuristics are off). The check has
    ``check_left`` seconds (``_CHECK_SHARE``), the stage ``left``. Returns the stage's status
    and whether the check proved that no fleet beats ``current`` (the incumbent's value) by the
    margin (the stage, stopped, then holds its start: the caller keeps the incumbent)."""
    prob = model.prob
    stage: list = []
    checking: list = []

    def prove() -> bool:
        proven = _cannot_improve(prob, check, verbose, check_left, checking, current)
        if proven:
            _cancel(stage)
        return proven

    with ThreadPoolExecutor(max_workers=1) as beside:
        proof = beside.submit(prove)
        try:
            status = _run(model, settings, verbose, left, warm=True, running=stage)
        finally:
            _cancel(checking)
        proven = proof.result()
    return status, proven


def _stage_label(settings: SolverSettings, number: int, then: Objective) -> str:
    return f"{settings.label}, stage {number + 2} ({then.units})"


def _checks(model: _Model, prob: pulp.LpProblem, settings: SolverSettings, number: int,
            stages: tuple, verbose: bool, left) -> tuple[bool, bool | None]:  # fmt: skip
    """(whether stage ``number``, the first of ``stages``, cannot improve; whether the next
    one cannot, None when unknown): :func:`_pose_checks`, run at once."""
    return _pose_checks(model, prob, settings, number, stages, verbose, left)([])


def _pose_checks(model: _Model, prob: pulp.LpProblem, settings: SolverSettings, number: int,
                 stages: tuple, verbose: bool, left):  # fmt: skip
    """The checks of stage ``number``, the first of ``stages``, and of the next one, posed on
    the incumbent the variables hold now: a function of a list (which collects the HiGHS
    models as they start, for ``_cancel``) that runs them and returns (whether this stage
    cannot improve, whether the next cannot, None when unknown). Posing reads the variables,
    so they may change while the checks run. The next stage's check runs beside this one's,
    with this stage's objective held at the incumbent's value: when this stage cannot improve,
    the incumbent stays and that is the very problem the next check would pose (without its
    reduced-cost bounds, which cut no fleet that holds the objectives), so the two proofs take
    the time of the longer. When this stage can improve, the next check is cancelled, and
    made again after the stage has run."""
    here = replace(settings, label=_stage_label(settings, number, stages[0]))
    value = float(pulp.value(prob.objective) or 0.0)
    if len(stages) == 1 or verbose:  # verbose logs take turns, so the checks would too
        return lambda running: (_cannot_improve(prob, here, verbose, left, running, value), None)
    ahead = prob.copy()
    terms = list(prob.objective.items())
    _constraint(ahead, terms, _LE, value + _held_slack(value, settings), f"hold_{number + 1}")
    ahead.setObjective(pulp.LpAffineExpression(_summed(model.terms_of(stages[1]))))
    next_value = float(pulp.value(ahead.objective) or 0.0)
    next_settings = replace(settings, label=_stage_label(settings, number + 1, stages[1]))

    def run(running: list) -> tuple[bool, bool | None]:
        with ThreadPoolExecutor(max_workers=1) as beside:
            later = beside.submit(_cannot_improve, ahead, next_settings, verbose, left,
                                  running, next_value)  # fmt: skip
            proven = _cannot_improve(prob, here, verbose, left, running, value)
            if not proven:
                _cancel(running)
            return proven, (later.result() if proven else None)

    return run


class _ChecksBesideStart:
    """The first tie-break stage's checks, run beside the first stage on the assumption that
    it keeps its start (a baseline's fleet, often the optimum already): they pose exactly what
    ``_then`` would pose if so, and are cancelled if not. Speculative, so only on cores of
    their own (``SolverSettings.checks_beside_first_stage``; docs/solver.md)."""

    def __init__(self, model: _Model, problem: IlpProblem, verbose: bool, left):
        prob, settings = model.prob, problem.solver
        value = float(pulp.value(prob.objective) or 0.0)
        posed = prob.copy()
        _constraint(posed, model.terms_of(problem.objective), _LE,
                    value + _held_slack(value, settings), "hold_0")  # fmt: skip
        posed.setObjective(pulp.LpAffineExpression(_summed(model.terms_of(problem.then[0]))))
        # every objective the checks are posed on: the first, and the two stages' they check
        self.posed_on = [prob.objective] + [
            pulp.LpAffineExpression(_summed(model.terms_of(then))) for then in problem.then[:2]
        ]
        self.start = self._values()
        checks = _pose_checks(model, posed, settings, 0, problem.then[:2], verbose, left)
        self.running: list = []
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.future = self.pool.submit(checks, self.running)

    def _values(self) -> list[float]:
        return [float(pulp.value(objective) or 0.0) for objective in self.posed_on]

    def verdicts(self, until: float) -> tuple[bool, bool | None] | None:
        """The checks' verdicts if the first stage kept its start (every objective they are
        posed on unchanged), else None (the checks are cancelled); checks still running at
        ``until`` (a perf_counter time, ``_CHECK_SHARE``) are stopped, unproven."""
        kept = self._values() == self.start
        if not kept:
            _cancel(self.running)
        try:
            try:
                found = self.future.result(timeout=max(until - time.perf_counter(), 0.0))
            except TimeoutError:
                _cancel(self.running)
                found = self.future.result()
        finally:
            self.pool.shutdown()
        return found if kept else None


_CHECK_SHARE, _CHECK_FLOOR_S = 2.0, 1.0
"""A check is worth its time while it costs less than the stage it may save, which takes about
what the first stage did: a check gives up after twice the first stage's time (at least a
second) and the stage runs. Either way the fleet is the same (``_then``'s margin rule), so only
the time depends on it. On fleet-savings' long coding agent at 100 requests/s (least energy)
the cost stage's check spent 33 s at its root node proving what the stage settles in 2.2 s."""

_WHOLE_MARGIN = 0.5
"""An objective of whole numbers (purchases: devices and tier units) improves by one at least;
half of one leaves room for the solvers' tolerances."""


def _cannot_improve(
    prob: pulp.LpProblem, settings, verbose: bool, left, running=None, current=None
) -> bool:
    """Whether HiGHS proves that no fleet of ``prob`` (its rows hold the objectives before)
    lowers its objective below the incumbent's value by more than a margin: half a unit for an
    objective of whole numbers, the held objectives' own tolerance (``_HOLD_REL``) otherwise.
    The stage, warm-started from the incumbent, could then return only the incumbent or a fleet
    tied with it within that margin (HiGHS keeps a start until a fleet beats it), so it need not
    run. The check is a feasibility problem without a start, so presolve stays on; on the
    bundled rate sweep it proves in a third of the stage's time (docs/studies.md, Speed). Only
    the verdict is read: the variables keep the incumbent, so two checks may run at once (their
    models are built in turn, under ``_BUILDING``: a build numbers the shared variables). The
    HiGHS model is appended to ``running``, for ``_cancel``; a solver failure is no proof.
    ``current`` is the incumbent's value of the objective (None: read from the variables)."""
    if current is None:
        current = float(pulp.value(prob.objective) or 0.0)
    margin = _margin(prob.objective, current)
    check = prob.copy()  # the same rows and variables, and a row of its own
    check.setObjective(pulp.LpAffineExpression())
    _constraint(check, list(prob.objective.items()), _LE, current - margin, "no_better")
    solver = _solver(settings, mip=True, verbose=verbose, time_limit_s=left)
    try:
        solver.createAndConfigureSolver(check)
        solver.buildSolverModel(check)
        highs = check.solverModel
        if running is not None:
            _register(highs, running)
            if highs.stop_asked:
                return False
        with _ONE_LOG_AT_A_TIME if verbose else nullcontext():
            highs.run()
    except (SolverError, pulp.PulpSolverError):
        return False
    return highs.getModelStatus() == highspy.HighsModelStatus.kInfeasible


def _margin(objective: pulp.LpAffineExpression, current: float) -> float:
    """How much a fleet must lower ``objective`` below ``current`` to count as better: half a
    unit for an objective of whole numbers, the held objectives' tolerance otherwise."""
    whole = all(v.cat == pulp.LpInteger and float(c).is_integer()
                for v, c in objective.items())  # fmt: skip
    return _WHOLE_MARGIN if whole else _HOLD_REL * max(abs(current), 1.0)


_BUILDING = threading.RLock()
"""Held while a model is handed to HiGHS: a build numbers the variables and rows the models
share, so builds take turns (a check's, and a stage's when checks run beside it)."""


_CANCELLED = "cancelled"  # in a list of running checks: the ones yet to start do not run


def _cancel(running: list) -> None:
    """Stop the solves whose HiGHS models ``running`` holds, and mark it so that the ones
    registered later stop at once (``_register``; list operations are atomic, so either this
    sees a model or its registration sees the mark)."""
    running.append(_CANCELLED)
    for highs in list(running):
        if highs is not _CANCELLED:
            highs.stop()


def _register(highs: _SilentHighs, running: list) -> None:
    """Make ``highs`` stoppable by ``_cancel(running)``, and stop it at once if that ran."""
    highs.stoppable()
    running.append(highs)
    if _CANCELLED in running:
        highs.stop()


def _fix_by_reduced_cost(model: _Model, settings, most: float, verbose: bool, left) -> None:
    """Bound the variables that cannot move in any solution whose current objective stays at
    or below ``most`` (reduced-cost fixing): with the LP relaxation's optimum L and a variable
    nonbasic at its lower bound 0 with reduced cost d > 0, every feasible point has objective
    at least L + d·x, so x ≤ (most − L) / d, and an integer x below 1 is 0. Exact, and it
    leaves the next stage only the variables a near-optimal fleet can use."""
    _solve(model.prob, settings, mip=False, verbose=verbose, time_limit_s=left)
    if (model.prob.status, model.prob.sol_status) != (
        pulp.LpStatusOptimal,
        pulp.LpSolutionOptimal,
    ):
        return
    room = most - float(pulp.value(model.prob.objective) or 0.0)
    if room < 0:
        return
    for variable in model.prob.variables():
        reduced = variable.dj
        if reduced is None or not reduced > _REDUCED_COST_EPS or variable.lowBound != 0:
            continue
        if abs(variable.varValue or 0.0) > _REDUCED_COST_EPS:
            continue  # not at its lower bound
        limit = room / reduced
        if variable.cat == pulp.LpInteger:
            limit = math.floor(limit + _REDUCED_COST_EPS)
        if variable.upBound is None or limit < variable.upBound:
            variable.upBound = limit


_REDUCED_COST_EPS = 1e-9


def _summed(terms: list) -> list:
    summed: dict = {}
    for variable, coefficient in terms:
        summed[variable] = summed.get(variable, 0.0) + coefficient
    return list(summed.items())


def _uncovered(problem: IlpProblem, one_group: bool) -> list[str]:
    """Classes whose prefill or decode no column (or, with ``one_group``, no single group)
    can serve."""
    columns = problem.columns
    usable = usable_pairs(problem)
    capable = columns.capability > 0
    phases = (("prefill", columns.prefill), ("decode", columns.decode))
    too_many = f"more than {MAX_INSTANCES:,.0f} instances of any column that can serve it"
    lines = [
        f"{name}: no column can serve its {phase}"
        + (f" within reach: it would need {too_many}" if capable[covers, k].any() else "")
        for k, name in enumerate(problem.classes.names)
        for phase, covers in phases
        if not usable[covers, k].any()
    ]
    if lines or not one_group:
        return lines
    group = np.array(columns.group, dtype=object)
    missing = {}
    for g in dict.fromkeys(columns.group):
        lacks = [
            f"{name}'s {phase}"
            for k, name in enumerate(problem.classes.names)
            for phase, covers in phases
            if not usable[covers & (group == g), k].any()
        ]
        if not lacks:
            return []
        missing[g] = lacks[0]
    listed = "; ".join(f"{g} lacks {lacks}" for g, lacks in missing.items())
    return [f"one group only: no availability group serves every class alone ({listed})"]


def _explain_limits(problem: IlpProblem, one_group: bool, verbose: bool, start: float):
    """The limits the closest fleet misses, from the model with a slack on every limit, solved
    in what is left of the time limit."""
    left = _time_left(problem.solver, start)
    if left == 0.0:
        return ["the problem is infeasible; no time was left to find which limits fall short"]
    model = _build(problem, one_group=one_group, elastic=True)
    try:
        status = _run(model, problem.solver, verbose, left)
    except SolverError as error:  # the verdict stands; only the measure of it is lost
        return [f"the limits cannot all be met; measuring by how much failed ({error})"]
    if status is Status.INFEASIBLE:
        return ["no fleet found even with every limit relaxed (solver time limit?)"]
    who = "the fleet that misses the limits least"
    if status is Status.FEASIBLE:
        who = "the closest fleet found in the time limit"
    limits = problem.limits
    lines = []
    for key, (variable, limit) in model.slacks.items():
        extra = variable.varValue or 0.0
        if extra <= 1e-6 * max(limit, 1.0):
            continue
        kind, _, name = key.partition(":")
        if kind == "power":
            need = limits.power_w + extra
            lines.append(
                f"power short by {_kw(extra)} ({who} needs {_kw(need)} at full load; "
                f"the limit is {_kw(limits.power_w)})"
            )
        elif kind == "racks":
            lines.append(
                f"racks: {extra:.0f} more than the {limits.racks} available "
                f"(at {_kw(limits.rack_power_w)} each)"
            )
        elif kind == "devices":
            lines.append(
                f"{name}: {round(extra, 6):g} devices more than the "
                f"{limits.devices[name]} available"
            )
        elif kind == "budget":
            budget = limits.budget_usd_per_hour
            lines.append(
                f"budget short by {_usd(extra)}/h ({who} costs {_usd(budget + extra)}/h; "
                f"the limit is {_usd(budget)}/h)"
            )
        else:
            units = "unit" if round(extra) == 1 else "units"
            lines.append(f"tier pool {name}: {extra:.0f} {units} more than the {limit} allowed")
    return lines or ["the solver found no fleet, yet none misses a limit (numerical trouble?)"]


def _usd(amount: float) -> str:
    """Dollars to the cent, or to three significant digits below a cent."""
    return f"${amount:,.2f}" if amount >= 0.01 else f"${amount:.3g}"


def _kw(watts: float) -> str:
    """kW to 0.1, or to three significant digits below 10 kW so a small shortfall shows."""
    kw = watts / 1e3
    return f"{kw:,.1f} kW" if abs(kw) >= 10 else f"{kw:.3g} kW"
