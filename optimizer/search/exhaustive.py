"""A brute-force reference for the provisioning ILP on tiny problems, to test ``search.ilp``.

It shares no model code with ``ilp``: split assignments enumerate instance and pool-unit vectors
and solve each one's share LP with SciPy; whole-class assignments enumerate slice placements.
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
from scipy.optimize import linprog

from optimizer.fleet.columns import IlpProblem, IlpSolution, Status, idle_devices

_MAX_CANDIDATES = 2_000_000
_EPS = 1e-9  # float noise allowed when rounding a load up to whole instances


def solve_exhaustive(problem: IlpProblem, *, one_group: bool = False) -> IlpSolution:
    """The exact optimum of a tiny problem (a few columns, classes and instances) by enumeration.

    Args:
        problem: the ILP; its solver settings are ignored.
        one_group: every instance from one availability group.

    Returns:
        OPTIMAL with gap 0, or INFEASIBLE; ``solver`` is "exhaustive".

    Raises:
        ValueError: too many candidates to enumerate.
    """
    start = time.perf_counter()
    search = _whole_class if problem.whole_class else _split
    best = search(problem, one_group)
    wall_s = time.perf_counter() - start
    if best is None:
        return IlpSolution(Status.INFEASIBLE, "exhaustive", wall_s)
    objective, instances, share, units = best
    return IlpSolution(
        status=Status.OPTIMAL,
        solver="exhaustive",
        wall_s=wall_s,
        objective=objective,
        bound=objective,
        gap=0.0,
        instances=instances,
        share=share,
        pool_units=units,
    )


def _pool_of(problem: IlpProblem) -> np.ndarray:
    """[t, i] 1 where column i draws from pool t."""
    tiers = problem.columns.tier
    return np.array([[tier == p.name for tier in tiers] for p in problem.pools], dtype=float)


def _meets_limits(problem: IlpProblem, n: np.ndarray, cost_usd: np.ndarray) -> np.ndarray:
    """[c] candidates n [c, i] within power, racks, devices and (with ``cost_usd`` [c], a lower
    bound on their $/h) the budget."""
    columns, limits = problem.columns, problem.limits
    peak_w = n @ columns.busy_w + idle_devices(problem, n)[1]
    ok = np.ones(len(n), dtype=bool)
    tolerance = 1 + 1e-9
    if limits.power_w is not None:
        ok &= peak_w <= limits.power_w * tolerance
    if limits.racks is not None:
        ok &= peak_w <= limits.racks * limits.rack_power_w * tolerance
    _, _, bought = idle_devices(problem, n)
    idle = {unit.group: bought[unit.name][1] for unit in problem.purchase_units}
    for group, available in limits.devices.items():
        member = np.array([g == group for g in columns.group])
        used = n[:, member] @ columns.devices[member] + idle.get(group, 0.0)
        ok &= used <= available * tolerance
    if limits.budget_usd_per_hour is not None:
        ok &= cost_usd <= limits.budget_usd_per_hour * tolerance
    return ok


def _one_group(problem: IlpProblem, n: np.ndarray) -> np.ndarray:
    """[c] candidates whose instances all come from one availability group."""
    groups = sorted(set(problem.columns.group))
    member = np.array([[g == h for h in problem.columns.group] for g in groups])
    used = (n > 0).astype(int) @ member.T.astype(int)  # [c, groups] columns in use per group
    return (used > 0).sum(axis=1) <= 1


def _split(problem: IlpProblem, one_group: bool):
    """Enumerate instances and pool units; the best shares for each from an LP."""
    columns, classes = problem.columns, problem.classes
    rate = classes.requests_per_s
    serves = columns.prefill | columns.decode
    can = (columns.capability > 0) & serves[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        per_share = np.where(can, rate / columns.capability, 0.0)  # instances at share 1
    for phase in (columns.prefill, columns.decode):
        if not can[phase].any(axis=0).all():
            return None  # a class's phase no column can serve
    one_phase = columns.prefill != columns.decode
    linked = one_phase & (columns.transfer_bytes_per_s > 0)
    finite = np.isfinite(columns.transfer_bytes_per_s)
    kv_rate = rate * classes.kv_transfer_bytes  # bytes/s at share 1
    with np.errstate(divide="ignore", invalid="ignore"):
        link_need = np.where(
            (linked & finite)[:, None] & can, kv_rate / columns.transfer_bytes_per_s[:, None], 0.0
        ).sum(axis=1)
    rho, spare = problem.max_utilization, problem.spare_instances
    most = np.ceil(np.maximum(per_share.sum(axis=1) / rho, link_need) - _EPS).astype(int)
    most = np.maximum(most, 0)
    most = most + spare * (most > 0)

    on_pool = _pool_of(problem)
    parked_gb = np.where(can, rate * columns.tier_gb_per_request_rate, 0.0)  # GB at share 1
    moved = np.where(can, rate * columns.tier_bytes_per_request, 0.0)  # B/s at share 1
    pool_most = []
    for t, pool in enumerate(problem.pools):
        gb = on_pool[t] @ (most * columns.tier_gb + parked_gb.sum(axis=1))
        traffic = on_pool[t] @ (most * columns.tier_bytes_per_s + moved.sum(axis=1))
        attached = on_pool[t] @ (most * columns.devices)
        top = math.ceil(
            max(
                gb / pool.unit_gb,
                traffic / pool.unit_bytes_per_s,
                attached / (pool.max_devices_per_unit or math.inf),
            )
            - _EPS
        )
        pool_most.append(top if pool.max_units is None else min(top, pool.max_units))

    ranges = [range(m + 1) for m in most] + [range(m + 1) for m in pool_most]
    n_candidates = math.prod(len(r) for r in ranges)
    if n_candidates > _MAX_CANDIDATES:
        raise ValueError(f"exhaustive: {n_candidates} candidates, more than {_MAX_CANDIDATES}")
    grid = np.array(list(itertools.product(*ranges)), dtype=float).reshape(-1, len(ranges))
    n, units = grid[:, : len(columns)], grid[:, len(columns) :]

    pool_cost = np.array([p.cost_usd_per_hour_per_unit for p in problem.pools])
    spare_usd, spare_w, _ = idle_devices(problem, n)
    fixed_usd = n @ columns.cost_usd_per_hour + units @ pool_cost + spare_usd
    idle_w = n @ columns.idle_w + spare_w  # [c] instances' idle and whole units' idle devices
    energy_per_share = columns.busy_extra_w * per_share  # W at share 1
    least_extra_w = np.minimum(energy_per_share, 0).sum(axis=1)  # if busy < idle
    least_w = idle_w + least_extra_w.sum()
    least_cost = fixed_usd + problem.energy_usd_per_wh * least_w
    weights = problem.objective
    least_objective = weights.usd_weight * fixed_usd + weights.energy_weight_per_w * least_w

    ok = _meets_limits(problem, n, least_cost)
    if len(problem.pools):
        ok &= _pool_limits(problem, on_pool, n, units)
    if one_group:
        ok &= _one_group(problem, n)

    pairs = np.argwhere(can)
    best = None
    for c in np.flatnonzero(ok)[np.argsort(least_objective[ok], kind="stable")]:
        if best is not None and least_objective[c] >= best[0] - 1e-12 * max(1, abs(best[0])):
            break
        found = _best_shares(problem, pairs, per_share, on_pool, n[c], units[c], fixed_usd[c],
                             idle_w[c])  # fmt: skip
        if found is None:
            continue
        extra_w, share = found
        energy_w = idle_w[c] + extra_w
        objective = weights.usd_weight * fixed_usd[c] + weights.energy_weight_per_w * energy_w
        if best is None or objective < best[0]:
            units_of = {p.name: int(units[c, t]) for t, p in enumerate(problem.pools)}
            best = (float(objective), n[c].astype(int), share, units_of)
    return best


def _pool_limits(problem: IlpProblem, on_pool, n, units) -> np.ndarray:
    """[candidate] bool: every pool's units hold its instances' GB and traffic and attach
    their devices within a unit's radix, and a host tier's instances fit their GB in their own
    servers' slots (the shares' parked GB and traffic come later)."""
    columns = problem.columns
    ok = np.ones(len(n), dtype=bool)
    for t, pool in enumerate(problem.pools):
        mine = on_pool[t]
        have = units[:, t] * (1 + 1e-9)
        ok &= n @ (mine * columns.tier_gb) <= have * pool.unit_gb
        if np.isfinite(pool.unit_bytes_per_s):
            ok &= n @ (mine * columns.tier_bytes_per_s) <= have * pool.unit_bytes_per_s
        if pool.max_devices_per_unit is not None:
            ok &= n @ (mine * columns.devices) <= have * pool.max_devices_per_unit
        if pool.slot_limited:  # each column's own GB in its own servers' slots
            mine = mine > 0
            own = n[:, mine] * columns.tier_gb[mine] / pool.unit_gb
            slots = n[:, mine] * columns.tier_units_hosted[mine]
            ok &= np.all(own <= slots * (1 + 1e-9), axis=1)
    return ok


def _best_shares(problem, pairs, per_share, on_pool, n, units, fixed_usd, idle_w):
    """(extra W above idle, shares [i, k]) minimizing the objective for fixed n and units, or
    None when no shares fit."""
    columns, classes = problem.columns, problem.classes
    if len(pairs) == 0:  # no classes: nothing to place
        return 0.0, np.zeros(per_share.shape)
    i, k = pairs[:, 0], pairs[:, 1]
    rate = classes.requests_per_s[k]
    extra_w = columns.busy_extra_w[i, k] * per_share[i, k]

    equal_rows = []
    for phase in (columns.prefill, columns.decode):
        for klass in range(len(classes)):
            equal_rows.append(((k == klass) & phase[i]).astype(float))
    upper_rows, upper_rhs = [], []

    def upper(row: np.ndarray, rhs: float) -> None:
        scale = max(np.abs(row).max(initial=0.0), abs(rhs), 1e-300)
        upper_rows.append(row / scale)
        upper_rhs.append(rhs / scale)

    for col in range(len(columns)):
        mine = i == col
        if mine.any():
            carry = problem.max_utilization * max(n[col] - problem.spare_instances, 0.0)
            upper(np.where(mine, per_share[i, k], 0.0), carry)
            bandwidth = columns.transfer_bytes_per_s[col]
            if columns.prefill[col] != columns.decode[col] and np.isfinite(bandwidth):
                sent = np.where(mine, rate * classes.kv_transfer_bytes[k], 0.0)
                if sent.any():
                    upper(sent, n[col] * bandwidth)
    for t, pool in enumerate(problem.pools):
        parked = on_pool[t][i] * rate * columns.tier_gb_per_request_rate[i, k]
        room = units[t] * pool.unit_gb - n @ (on_pool[t] * columns.tier_gb)
        if parked.any():
            upper(parked, room)
        if pool.slot_limited:
            for col in np.flatnonzero(on_pool[t]):
                parked_here = np.where(i == col, parked, 0.0) / pool.unit_gb
                if parked_here.any():
                    spare = n[col] * (
                        columns.tier_units_hosted[col] - columns.tier_gb[col] / pool.unit_gb
                    )
                    upper(parked_here, spare)
        moved = on_pool[t][i] * rate * columns.tier_bytes_per_request[i, k]
        if moved.any() and np.isfinite(pool.unit_bytes_per_s):
            spilled = n @ (on_pool[t] * columns.tier_bytes_per_s)
            upper(moved, units[t] * pool.unit_bytes_per_s - spilled)
    budget = problem.limits.budget_usd_per_hour
    if budget is not None and problem.energy_usd_per_wh > 0:
        room = budget - fixed_usd - problem.energy_usd_per_wh * idle_w
        upper(problem.energy_usd_per_wh * extra_w, room)

    result = linprog(
        problem.objective.energy_weight_per_w * extra_w,
        A_ub=np.array(upper_rows) if upper_rows else None,
        b_ub=np.array(upper_rhs) if upper_rows else None,
        A_eq=np.array(equal_rows),
        b_eq=np.ones(len(equal_rows)),
        bounds=(0.0, 1.0),
        method="highs",
    )
    if result.status != 0:
        return None
    share = np.zeros(per_share.shape)
    share[i, k] = np.clip(result.x, 0.0, 1.0)
    return float(extra_w @ result.x), share


def _slice_options(problem: IlpProblem, klass: int) -> list[tuple[int, ...]]:
    """Ways to serve one slice of a class: one aggregated column, or a prefill-only column with
    a decode-only one."""
    columns = problem.columns
    able = columns.capability[:, klass] > 0
    both = [i for i in range(len(columns)) if able[i] and columns.prefill[i] and columns.decode[i]]
    prefill = [i for i in range(len(columns)) if able[i] and not columns.decode[i]]
    decode = [i for i in range(len(columns)) if able[i] and not columns.prefill[i]]
    prefill = [i for i in prefill if columns.prefill[i]]
    decode = [i for i in decode if columns.decode[i]]
    return [(a,) for a in both] + list(itertools.product(prefill, decode))


def _whole_class(problem: IlpProblem, one_group: bool):
    """Enumerate slice placements (a class's slices are alike, so multisets of options); the
    fewest instances and pool units for each follow."""
    columns, classes = problem.columns, problem.classes
    factor = problem.slice_factor
    per_class = []  # per class: [placements, i] slices on each column
    for klass in range(len(classes)):
        options = _slice_options(problem, klass)
        counts = []
        for chosen in itertools.combinations_with_replacement(options, factor):
            row = np.zeros(len(columns))
            for option in chosen:
                row[list(option)] += 1
            counts.append(row)
        if not counts:
            return None
        per_class.append(np.array(counts))
    n_candidates = math.prod(len(c) for c in per_class)
    if n_candidates > _MAX_CANDIDATES:
        raise ValueError(f"exhaustive: {n_candidates} candidates, more than {_MAX_CANDIDATES}")

    picks = np.array(list(itertools.product(*(range(len(c)) for c in per_class))), dtype=int)
    share = np.stack([per_class[k][picks[:, k]] for k in range(len(classes))], axis=2) / factor
    # share [c, i, k]: candidate c's share of class k on column i

    rate = share * classes.requests_per_s  # [c, i, k]
    with np.errstate(divide="ignore", invalid="ignore"):
        by_class = np.where(columns.capability > 0, rate / columns.capability, 0.0)
    work = by_class.sum(axis=2)
    used = share.sum(axis=2) > 0
    n = np.ceil(work / problem.max_utilization - _EPS) + problem.spare_instances * used
    sent = rate @ classes.kv_transfer_bytes  # [c, i]
    one_phase = columns.prefill != columns.decode
    ok = np.ones(len(picks), dtype=bool)
    for col in np.flatnonzero(one_phase):
        bandwidth = columns.transfer_bytes_per_s[col]
        if not np.isfinite(bandwidth):
            continue
        if bandwidth <= 0:
            ok &= sent[:, col] <= 0
        else:
            n[:, col] = np.maximum(n[:, col], np.ceil(sent[:, col] / bandwidth - _EPS))
    n = np.maximum(n, 0)

    on_pool = _pool_of(problem)
    held_gb = n * columns.tier_gb + (rate * columns.tier_gb_per_request_rate).sum(axis=2)
    moved = n * columns.tier_bytes_per_s + (rate * columns.tier_bytes_per_request).sum(axis=2)
    units = np.zeros((len(picks), len(problem.pools)))
    for t, pool in enumerate(problem.pools):
        need = np.maximum(
            held_gb @ on_pool[t] / pool.unit_gb, moved @ on_pool[t] / pool.unit_bytes_per_s
        )
        if pool.max_devices_per_unit is not None:
            need = np.maximum(need, n @ (on_pool[t] * columns.devices) / pool.max_devices_per_unit)
        units[:, t] = np.maximum(np.ceil(need - _EPS), 0)
        if pool.max_units is not None:
            ok &= units[:, t] <= pool.max_units
        if pool.slot_limited:
            mine = on_pool[t] > 0
            slots = n[:, mine] * columns.tier_units_hosted[mine]
            ok &= np.all(held_gb[:, mine] / pool.unit_gb <= slots * (1 + 1e-9), axis=1)
    if len(problem.pools):
        ok &= _pool_limits(problem, on_pool, n, units)
    pool_cost = np.array([p.cost_usd_per_hour_per_unit for p in problem.pools])
    spare_usd, spare_w, _ = idle_devices(problem, n)
    fixed_usd = n @ columns.cost_usd_per_hour + units @ pool_cost + spare_usd
    busy_extra = (by_class * columns.busy_extra_w).sum(axis=(1, 2))
    energy_w = n @ columns.idle_w + busy_extra + spare_w
    ok &= _meets_limits(problem, n, fixed_usd + problem.energy_usd_per_wh * energy_w)
    if one_group:
        ok &= _one_group(problem, n)
    if not ok.any():
        return None
    weights = problem.objective
    objective = weights.usd_weight * fixed_usd + weights.energy_weight_per_w * energy_w
    best = np.flatnonzero(ok)[np.argmin(objective[ok])]
    units_of = {p.name: int(units[best, t]) for t, p in enumerate(problem.pools)}
    return float(objective[best]), n[best].astype(int), share[best], units_of
