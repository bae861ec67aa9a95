"""Drop candidate columns no optimal fleet needs: those that can serve nothing, and those
another column makes redundant (docs/solver.md, Formulation). Pruning never changes the
optimum among fleets within :data:`MAX_INSTANCES`."""

from __future__ import annotations

import numpy as np

from optimizer.fleet.columns import IlpProblem, Objective

MAX_INSTANCES = 1e5
"""The most instances of one column a class may need to be carried on it alone: more than the
largest datacenters hold, and counts far above it are beyond the solvers' integrality
tolerances (at 10⁹ instances CBC stopped a billion instances short of an optimum; at 10⁶ HiGHS
proved a bound above a fleet of 999,998)."""


def usable_pairs(problem: IlpProblem) -> np.ndarray:
    """[i, k] bool: column i can take a share of class k.

    It must be capable (μ_ik > 0), within reach (λ_k / μ_ik ≤ :data:`MAX_INSTANCES`) and
    serve a phase; a one-phase column without transfer bandwidth cannot take a class that
    hands off KV.
    """
    columns = problem.columns
    one_phase = columns.prefill != columns.decode
    serves = columns.prefill | columns.decode
    no_link = one_phase & (columns.transfer_bytes_per_s <= 0)
    blocked = no_link[:, None] & (problem.classes.kv_transfer_bytes > 0)[None, :]
    return within_reach(problem) & serves[:, None] & ~blocked


def within_reach(problem: IlpProblem) -> np.ndarray:
    """[i, k] bool: column i is capable of class k and at most :data:`MAX_INSTANCES` of its
    instances carry the whole class."""
    capability = problem.columns.capability
    rate = problem.classes.requests_per_s[None, :]
    return (capability > 0) & (rate <= MAX_INSTANCES * capability)


def dominated_columns(problem: IlpProblem) -> np.ndarray:
    """[i] bool: columns another column makes redundant, to drop before solving.

    Column b is dominated by column a of the same phases and group, on b's tier or on none,
    when a is no worse in anything: cost, idle power, busy power (its peak, and serving each
    class b serves), devices, pool GB and traffic
    (per instance and per request), the host-tier units its servers hold for its own GB (more
    is better; a column on no pool needs none), hand-off bandwidth and capability for every
    class. Swapping each
    instance of b for one of a then keeps every constraint and cannot raise the objective:
    a's work on each class x_k ≤ b's y_k, Σ_k y_k ≤ n, so its power
    n·idle_a + Σ_k (busy_ak − idle_a)·x_k ≤ idle_a·(n − Σ_k y_k) + Σ_k busy_ak·y_k ≤ b's, given
    busy_ak ≥ idle_a on the classes a serves (columns without it are kept). Of
    identical columns the first is kept; columns that serve nothing are left to the caller.
    """
    columns = problem.columns
    weights = (problem.objective.usd_weight, problem.objective.energy_weight_per_w)
    out = np.zeros(len(columns), dtype=bool)
    if min(*weights, problem.energy_usd_per_wh) < 0:
        return out
    usable = usable_pairs(problem)
    serving_w = np.where(usable, columns.class_busy_w, np.inf)  # [i, k] on the classes it serves
    bandwidth = np.where(columns.prefill == columns.decode, 0.0, columns.transfer_bytes_per_s)
    limited = {pool.name for pool in problem.pools if pool.slot_limited}
    hosted = np.array(  # a host tier's slots bound the column's own GB; no tier, no bound
        [
            h if t in limited else np.finfo(float).max
            for t, h in zip(columns.tier, columns.tier_units_hosted, strict=True)
        ]
    )
    lower_is_better = np.column_stack(
        [
            columns.cost_usd_per_hour,
            columns.idle_w,
            columns.busy_w,
            serving_w,  # a class b cannot serve: no bound
            columns.devices,
            columns.tier_gb,
            -bandwidth,
            -np.where(usable, columns.capability, 0.0),
            columns.tier_gb_per_request_rate,
            columns.tier_bytes_per_s,
            columns.tier_bytes_per_request,
            -hosted,
        ]
    )
    keys = zip(columns.prefill, columns.decode, columns.group, strict=True)
    buckets: dict[tuple, list[int]] = {}
    candidates = usable.any(axis=1) & (serving_w >= columns.idle_w[:, None]).all(axis=1)
    for i, key in enumerate(keys):
        if candidates[i]:
            buckets.setdefault(key, []).append(i)
    for members in buckets.values():
        if len(members) < 2:
            continue
        x = lower_is_better[members]
        no_worse = np.ones((len(members), len(members)), dtype=bool)  # [a, b]: a ≤ b in all
        for values in x.T:
            no_worse &= values[:, None] <= values[None, :]
        tiers = [columns.tier[i] for i in members]  # a column without a tier draws on no pool
        no_worse &= np.array([[a is None or a == b for b in tiers] for a in tiers])
        first = np.arange(len(members))
        beats = no_worse & (~no_worse.T | (first[:, None] < first[None, :]))
        np.fill_diagonal(beats, False)
        out[members] = beats.any(axis=0)
    return out


def beyond(problem: IlpProblem, objective: Objective, most: float) -> np.ndarray:
    """[i] bool: columns one instance of which already lifts ``objective`` above ``most``, so
    that no fleet whose ``objective`` stays within ``most`` uses them.

    Safe where every term of the objective is nonnegative: per instance
    one_i = u·cost + w·idle + p·peak + b·devices, per unit of a share w·(busy_k − idle)·work,
    per pool unit u·price + b, per spare device r = u·price + (w + p)·idle + b of a group's
    whole server (the spares, m·S − Σ n·d, are nonnegative by the servers rows). A fleet with
    n_i ≥ 1 then has objective ≥ one_i. Where every member j of i's group has one_j ≥ r·d_j
    (an instance costs at least its devices at the server's rate), the group's terms
    Σ_j one_j·n_j + r·(m·S − Σ_j d_j·n_j) = Σ_j (one_j − r·d_j)·n_j + r·m·S are at least
    one_i − r·d_i + r·m·⌈d_i / m⌉, since S ≥ ⌈d_i / m⌉: the instance's servers' spare devices
    count too. Where some term can be negative (a weight, a price, or a class that draws less
    than idle), nothing is ruled out. The tie-break stages use it (search/ilp.py: _staged): a
    fleet they may keep holds the objectives before, each at its incumbent's value."""
    columns = problem.columns
    if not nonnegative(problem, objective):
        return np.zeros(len(columns), dtype=bool)
    u, w, b, p = (objective.usd_weight, objective.energy_weight_per_w,
                  objective.purchase_weight, objective.peak_weight_per_w)  # fmt: skip
    one = _one_instance(problem, objective)
    group = np.asarray(columns.group)
    for unit in problem.purchase_units:
        member = group == unit.group
        rate = u * unit.usd_per_hour_per_device + (w + p) * unit.idle_w_per_device + b
        if unit.devices <= 1 or not (one[member] >= rate * columns.devices[member]).all():
            continue
        whole = np.ceil(columns.devices / unit.devices) * unit.devices
        one = np.where(member, one + rate * (whole - columns.devices), one)
    return one > most


def _one_instance(problem: IlpProblem, objective: Objective) -> np.ndarray:
    """[i] an instance's own terms of ``objective``: u·cost + w·idle + p·peak + b·devices."""
    columns = problem.columns
    return (
        objective.usd_weight * columns.cost_usd_per_hour
        + objective.energy_weight_per_w * columns.idle_w
        + objective.peak_weight_per_w * columns.busy_w
        + objective.purchase_weight * columns.devices
    )


def nonnegative(problem: IlpProblem, objective: Objective) -> bool:
    """Whether every term of ``objective`` is nonnegative in every fleet of ``problem``: its
    weights, the columns' prices, powers and devices, the pools' and servers' prices and idle
    power, and (where energy counts) every class's draw above idle."""
    columns = problem.columns
    weights = (objective.usd_weight, objective.energy_weight_per_w,
               objective.purchase_weight, objective.peak_weight_per_w)  # fmt: skip
    prices = [pool.cost_usd_per_hour_per_unit for pool in problem.pools]
    spares = [x for unit in problem.purchase_units
              for x in (unit.usd_per_hour_per_device, unit.idle_w_per_device)]  # fmt: skip
    per_column = (columns.cost_usd_per_hour, columns.idle_w, columns.busy_w, columns.devices)
    drawn = np.where(usable_pairs(problem), columns.busy_extra_w, 0.0)
    return (
        min(*weights, *prices, *spares) >= 0
        and min(values.min(initial=0.0) for values in per_column) >= 0
        and (objective.energy_weight_per_w == 0 or drawn.min(initial=0.0) >= 0)
    )


def group_floors(problem: IlpProblem) -> dict[str, float] | None:
    """Per availability group, a lower bound on the first objective of the fleets of that group
    alone (+inf where it cannot serve every class), or None where a term can be negative.

    The bound is the relaxation with the cover and load rows alone: every other row dropped,
    and with every term nonnegative (``nonnegative``) every term beyond the instances' and the
    shares' too. With n_i continuous the load row is tight, n_i = Σ_k w_ik·s_ik / ρ (w_ik =
    λ_k / μ_ik instances per unit of share), so a unit of share s_ik costs c_ik = w_ik·(one_i
    / ρ + e·(busy_ik − idle_i)), one_i an instance's own terms, and the relaxation separates by
    class: each class is covered once per phase, by aggregated shares x and one-phase shares
    1 − x, at x·A_k + (1 − x)·(P_k + D_k), least at x = 0 or 1, with A_k, P_k, D_k the least
    c_ik over the group's aggregated, prefill and decode columns. So the bound is
    Σ_k min(A_k, P_k + D_k): what the LP relaxations of each group's model gave, in one
    vectorized pass instead of one model and one LP per group."""
    objective = problem.objective
    if not nonnegative(problem, objective):
        return None
    columns, classes = problem.columns, problem.classes
    w = objective.energy_weight_per_w
    one = _one_instance(problem, objective)
    usable = usable_pairs(problem)
    with np.errstate(divide="ignore", invalid="ignore"):
        work = np.where(usable, classes.requests_per_s / columns.capability, np.inf)
        cost = work * (one[:, None] / problem.max_utilization + w * columns.busy_extra_w)
    cost = np.where(usable, cost, np.inf)
    both = columns.prefill & columns.decode
    phases = (both, columns.prefill & ~both, columns.decode & ~both)
    groups = np.asarray(columns.group, dtype=object)
    floors = {}
    for group in dict.fromkeys(columns.group):
        mine = groups == group
        least = [np.where((mine & phase)[:, None], cost, np.inf).min(axis=0) for phase in phases]
        floors[group] = float(np.minimum(least[0], least[1] + least[2]).sum())
    return floors
