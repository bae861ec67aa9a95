"""A fleet's totals and an independent re-check of a solution against every ILP constraint.

:func:`fleet_totals` is the one place the sums of the formulation (columns.py) are computed;
solvers report objectives with it and reports read costs and power from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from optimizer.fleet.columns import IlpProblem, IlpSolution, Status, idle_devices


@dataclass(frozen=True, slots=True)
class Totals:
    """Sums over a fleet, in the formulation's units.

    ``load`` [i] is the work on column i in instances (Σ_k s_ik λ_k / μ_ik; shares where
    μ_ik = 0 count for nothing here, :func:`check_solution` reports them). ``handoff_bytes_per_s``
    [i] is the KV a one-phase column sends or receives (0 for aggregated columns).
    """

    fixed_usd_per_hour: float  # Σ n_i cost_i, and the idle devices of whole purchase units
    pool_usd_per_hour: float  # Σ u_t cost_t
    energy_usd_per_hour: float  # energy_usd_per_wh · E
    cost_usd_per_hour: float  # C, the sum of the three
    average_it_power_w: float  # E
    peak_it_power_w: float  # Σ n_i busy_w_i, and the idle devices of whole purchase units
    load: np.ndarray  # [i]
    handoff_bytes_per_s: np.ndarray  # [i]
    devices: dict[str, float]  # per availability group
    pool_gb: dict[str, float]  # pool GB the fleet holds, per pool
    pool_bytes_per_s: dict[str, float]  # traffic the fleet draws from each pool
    pool_devices: dict[str, float]  # devices attached to each pool
    units_bought: dict[str, tuple[int, int]]  # purchase unit name: (units, idle devices)
    column_gb: np.ndarray  # [i] pool GB each column holds
    objective: float


def fleet_totals(
    problem: IlpProblem,
    instances: np.ndarray,
    share: np.ndarray,
    pool_units: Mapping[str, int],
) -> Totals:
    """Costs, power, loads and pool use of a fleet.

    Args:
        problem: the ILP the fleet answers.
        instances: [i] instances per column.
        share: [i, k] share of class k's requests on column i, in [0, 1].
        pool_units: units bought per tier pool name; a missing pool has 0.

    Returns:
        The :class:`Totals`, objective = usd_weight · (C − energy_usd_per_wh · E) +
        energy_weight_per_w · E.
    """
    columns, classes = problem.columns, problem.classes
    n = np.asarray(instances, dtype=float)
    s = np.asarray(share, dtype=float)
    rate = s * classes.requests_per_s  # [i, k] requests/s each column takes
    capable = columns.capability > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        work = np.where(capable, rate / columns.capability, 0.0)
    load = work.sum(axis=1)
    one_phase = columns.prefill != columns.decode
    handoff = np.where(one_phase, rate @ classes.kv_transfer_bytes, 0.0)

    spare_usd, spare_w, bought = idle_devices(problem, n)
    busy_extra = (columns.busy_extra_w * work).sum()
    energy_w = float(n @ columns.idle_w + busy_extra + spare_w)
    fixed = float(n @ columns.cost_usd_per_hour + spare_usd)
    pool_cost = sum(
        pool.cost_usd_per_hour_per_unit * pool_units.get(pool.name, 0) for pool in problem.pools
    )
    energy_usd = problem.energy_usd_per_wh * energy_w

    devices: dict[str, float] = {}
    for group, count in zip(columns.group, n * columns.devices, strict=True):
        devices[group] = devices.get(group, 0.0) + float(count)
    per_column = {
        "gb": n * columns.tier_gb + (rate * columns.tier_gb_per_request_rate).sum(axis=1),
        "bytes_per_s": n * columns.tier_bytes_per_s
        + (rate * columns.tier_bytes_per_request).sum(axis=1),
        "devices": n * columns.devices,
        "slots": n
        * np.where(np.isfinite(columns.tier_units_hosted), columns.tier_units_hosted, 0),
    }
    pool = {what: {p.name: 0.0 for p in problem.pools} for what in per_column}
    for i, tier in enumerate(columns.tier):
        if tier is not None:
            for what, values in per_column.items():
                pool[what][tier] = pool[what].get(tier, 0.0) + float(values[i])

    objective = problem.objective
    return Totals(
        fixed_usd_per_hour=fixed,
        pool_usd_per_hour=float(pool_cost),
        energy_usd_per_hour=energy_usd,
        cost_usd_per_hour=fixed + pool_cost + energy_usd,
        average_it_power_w=energy_w,
        peak_it_power_w=float(n @ columns.busy_w + spare_w),
        load=load,
        handoff_bytes_per_s=handoff,
        devices=devices,
        pool_gb=pool["gb"],
        pool_bytes_per_s=pool["bytes_per_s"],
        pool_devices=pool["devices"],
        units_bought={k: (int(u), int(round(float(i)))) for k, (u, i) in bought.items()},
        column_gb=per_column["gb"],
        objective=objective.usd_weight * (fixed + pool_cost)
        + objective.energy_weight_per_w * energy_w
        + objective.peak_weight_per_w * float(n @ columns.busy_w + spare_w),
    )


ROUND_ABS, ROUND_REL = 1e-6, 1e-9
"""A need within max(10⁻⁶, 10⁻⁹ of itself) above a whole number is that number: the solvers'
feasibility slack, not load. Forgiving 10⁻⁶ of it relatively, a load of 400.00004 instances came
out as 400 instances while both solvers proved 401 the least; forgiving only 10⁻⁷ absolutely, a
CBC fleet whose 30 decode instances carried 30.0000002 instances' load (its row tolerance) got a
31st, 2.8 % above the optimum both solvers then agree on (Qwen3-Coder-480B, 512k-token coding
agent, CXL at 1 $/GB: 127.04 $/h)."""


def needed_purchases(
    problem: IlpProblem, totals: Totals, share: np.ndarray, rel_tol: float = 1e-6
) -> tuple[np.ndarray, dict[str, int]]:
    """([i] instances, units per pool) a fleet with these shares needs at the least: enough
    instances for each column's load at the problem's utilization cap and its hand-off (one for
    any share it takes) and for its host-tier GB in its own servers' slots, plus the spares of
    a column in use; enough units for each pool's GB, traffic and attached devices. Anything
    bought beyond carries nothing."""
    columns = problem.columns
    whole = lambda x: np.ceil(np.asarray(x) - np.maximum(ROUND_ABS, ROUND_REL * np.abs(x)))  # noqa: E731
    used = (share > rel_tol).any(axis=1)
    carried = whole(totals.load / problem.max_utilization) + problem.spare_instances * used
    needed = np.maximum(carried, used)
    one_phase = columns.prefill != columns.decode
    finite = (
        one_phase & np.isfinite(columns.transfer_bytes_per_s) & (columns.transfer_bytes_per_s > 0)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        needed = np.maximum(
            needed,
            np.where(finite, whole(totals.handoff_bytes_per_s / columns.transfer_bytes_per_s), 0),
        )
        for pool in problem.pools:
            if pool.slot_limited:
                mine = np.array([t == pool.name for t in columns.tier])
                slots = whole(totals.column_gb / (columns.tier_units_hosted * pool.unit_gb))
                needed = np.maximum(needed, np.where(mine, np.nan_to_num(slots), 0))
    units = {}
    for pool in problem.pools:
        need = totals.pool_gb[pool.name] / pool.unit_gb
        need = max(need, totals.pool_bytes_per_s[pool.name] / pool.unit_bytes_per_s)
        if pool.max_devices_per_unit:
            need = max(need, totals.pool_devices[pool.name] / pool.max_devices_per_unit)
        units[pool.name] = int(whole(need))
    return needed.astype(int), units


def _exceeds(value: float, limit: float, rel_tol: float) -> bool:
    """Whether ``value`` is above ``limit`` by more than the relative tolerance."""
    return value > limit + rel_tol * max(abs(limit), abs(value), 1.0)


def check_solution(
    problem: IlpProblem, solution: IlpSolution, *, one_group: bool = False, rel_tol: float = 1e-6
) -> list[str]:
    """Re-check a solution against every constraint, without any solver.

    Args:
        problem: the ILP that was solved.
        solution: what a solver returned; an infeasible verdict has nothing to check.
        one_group: the solve allowed one availability group only.
        rel_tol: relative slack allowed on every comparison.

    Returns:
        One readable line per violated rule; empty when the solution is valid.
    """
    if solution.status is Status.INFEASIBLE:
        return []
    if solution.instances is None or solution.share is None or solution.objective is None:
        return [f"status {solution.status.value} but no fleet, share or objective"]
    columns, classes = problem.columns, problem.classes
    shape = (len(columns), len(classes))
    if solution.instances.shape != shape[:1] or solution.share.shape != shape:
        return [
            f"shapes: instances {solution.instances.shape}, share {solution.share.shape}; "
            f"expected {shape[:1]} and {shape}"
        ]
    n, s = solution.instances, solution.share
    units = solution.pool_units
    out: list[str] = []
    names = columns.names

    if np.any(n < 0) or np.any(n != np.round(n)):
        out.append(f"instances: must be non-negative integers, got {n.tolist()}")
    if np.any(s < -rel_tol) or np.any(s > 1 + rel_tol):
        out.append("share: outside [0, 1]")
    serves = columns.prefill | columns.decode
    stray = (s > rel_tol) & ((columns.capability <= 0) | ~serves[:, None])
    for i, k in zip(*np.nonzero(stray), strict=True):
        out.append(f"{names[i]}: takes {s[i, k]:.6g} of {classes.names[k]} but cannot serve it")

    for phase, covers in (("prefill", columns.prefill), ("decode", columns.decode)):
        total = s[covers].sum(axis=0)
        for k, value in enumerate(total):
            if abs(value - 1.0) > rel_tol:
                out.append(f"{classes.names[k]}: {phase} shares sum to {value:.6g}, not 1")
    if problem.whole_class:
        slices = s * problem.slice_factor
        if np.any(np.abs(slices - np.round(slices)) > rel_tol * problem.slice_factor):
            out.append(f"whole class: shares are not multiples of 1/{problem.slice_factor}")

    totals = fleet_totals(problem, n, s, units)
    used = (s > rel_tol).any(axis=1)
    carry = problem.max_utilization * (n - problem.spare_instances * used)
    for i in range(len(columns)):
        if _exceeds(totals.load[i], carry[i], rel_tol):
            out.append(
                f"{names[i]}: load {totals.load[i]:.6g} exceeds {carry[i]:.6g} instances "
                f"(of {n[i]:g}, at {problem.max_utilization:.0%} with "
                f"{problem.spare_instances * used[i]} spare)"
            )
        if np.isinf(columns.transfer_bytes_per_s[i]):
            continue  # no hand-off limit
        bandwidth = n[i] * columns.transfer_bytes_per_s[i]
        if _exceeds(totals.handoff_bytes_per_s[i], bandwidth, rel_tol):
            out.append(
                f"{names[i]}: KV hand-off {totals.handoff_bytes_per_s[i]:.6g} B/s exceeds "
                f"{bandwidth:.6g} B/s"
            )

    pools = {pool.name: pool for pool in problem.pools}
    for name in set(units) - set(pools):
        out.append(f"pool_units: {name} is not a pool of the problem")
    for name, gb in totals.pool_gb.items():
        pool = pools.get(name)
        if pool is None:
            out.append(f"tier pool {name}: columns draw from it but the problem has no such pool")
            continue
        bought = units.get(name, 0)
        if bought < 0 or bought != round(bought):
            out.append(f"tier pool {name}: {bought} units is not a non-negative integer")
        # in units, as the instances' load: a need within the tolerance of a unit is rounding
        if _exceeds(gb / pool.unit_gb, bought, rel_tol):
            out.append(f"tier pool {name}: holds {gb:.6g} GB in {bought} units")
        moved = totals.pool_bytes_per_s[name]
        if _exceeds(moved / pool.unit_bytes_per_s, bought, rel_tol):
            out.append(f"tier pool {name}: draws {moved:.6g} B/s from {bought} units of "
                       f"{pool.unit_bytes_per_s:.6g} B/s")  # fmt: skip
        attached = totals.pool_devices[name]
        radix = pool.max_devices_per_unit
        if radix is not None and _exceeds(attached, bought * radix, rel_tol):
            out.append(f"tier pool {name}: {attached:.6g} devices attached to {bought} units "
                       f"of {radix}")  # fmt: skip
        if pool.slot_limited:  # host memory serves the devices of its own server only
            for i in np.flatnonzero([t == name for t in columns.tier]):
                own, slots = (
                    totals.column_gb[i] / pool.unit_gb,
                    n[i] * columns.tier_units_hosted[i],
                )
                if _exceeds(own, slots, rel_tol):
                    out.append(f"{names[i]}: {own:.6g} units of {name}, more than its servers' "
                               f"{slots:.6g} slots")  # fmt: skip
        if pool.max_units is not None and bought > pool.max_units:
            out.append(f"tier pool {name}: {bought} units, more than {pool.max_units} allowed")

    needed, needed_units = needed_purchases(problem, totals, s, rel_tol)
    for i in np.flatnonzero(n > needed):
        out.append(f"{names[i]}: {n[i]:g} instances, {needed[i]} carry its load: unused")
    for name, bought in units.items():
        if name in needed_units and bought > needed_units[name]:
            out.append(f"tier pool {name}: {bought} units, {needed_units[name]} hold its GB, "
                       "traffic and devices: unused")  # fmt: skip

    limits = problem.limits
    if limits.power_w is not None and _exceeds(totals.peak_it_power_w, limits.power_w, rel_tol):
        out.append(f"power: {totals.peak_it_power_w:.6g} W exceeds {limits.power_w:.6g} W")
    if limits.racks is not None and limits.rack_power_w is not None:
        feed_w = limits.racks * limits.rack_power_w
        if _exceeds(totals.peak_it_power_w, feed_w, rel_tol):
            out.append(f"racks: {totals.peak_it_power_w:.6g} W exceeds {feed_w:.6g} W")
    idle_by_group = {unit.group: totals.units_bought[unit.name][1]
                     for unit in problem.purchase_units}  # fmt: skip
    for group, available in limits.devices.items():
        used = totals.devices.get(group, 0.0) + idle_by_group.get(group, 0)
        if _exceeds(used, available, rel_tol):
            out.append(f"{group}: {used:g} devices bought, {available} available")
    budget = limits.budget_usd_per_hour
    if budget is not None and _exceeds(totals.cost_usd_per_hour, budget, rel_tol):
        out.append(f"budget: ${totals.cost_usd_per_hour:.6g}/h exceeds ${budget:.6g}/h")
    if one_group:
        used = {columns.group[i] for i in np.flatnonzero(n > 0)}
        if len(used) > 1:
            out.append(f"one group: the fleet uses {sorted(used)}")

    if abs(totals.objective - solution.objective) > rel_tol * max(abs(totals.objective), 1.0):
        out.append(
            f"objective: reported {solution.objective:.9g}, recomputed {totals.objective:.9g}"
        )
    if solution.bound is not None and _exceeds(solution.bound, solution.objective, rel_tol):
        out.append(f"bound {solution.bound:.9g} above the objective {solution.objective:.9g}")
    if solution.gap is not None and solution.gap < 0:
        out.append(f"gap {solution.gap:.6g} is negative")
    return out
