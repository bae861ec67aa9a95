"""One provisioning ILP as separate parts: classes that no column links (the classes of
different models) share nothing but fleet-wide purchases and limits (docs/solver.md, Parts).

Each part is a smaller ILP that solves far faster than the whole (the branch and bound of a
whole multiplies its parts' trees). What couples the parts is left out of them: the limits
(power, racks, budget, devices) and the sharing of whole purchases (tier-pool units, servers
and racks of one accelerator), which each part rounds up on its own. So each part is a
relaxation of the whole restricted to its classes, and ``sharing_allowance`` says how much
cheaper than the sum of its parts the whole can be. Pure functions; ``search.ilp`` solves.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from optimizer.fleet.columns import Classes, IlpProblem, Limits
from optimizer.fleet.prune import usable_pairs


def class_parts(problem: IlpProblem) -> list[np.ndarray]:
    """The classes of each part, in order: classes are in one part when a chain of columns that
    can each serve two of them links them (the connected components of the class graph, found
    by a search from each class not yet reached; a few dozen classes need no graph library)."""
    usable = usable_pairs(problem).astype(np.int64)
    linked = (usable.T @ usable) > 0
    part = np.full(len(linked), -1)
    for first in range(len(linked)):
        if part[first] >= 0:
            continue
        part[first], reached = first, [first]
        while reached:
            k = reached.pop()
            new = np.flatnonzero(linked[k] & (part < 0))
            part[new] = first
            reached.extend(new.tolist())
    return [np.flatnonzero(part == first) for first in dict.fromkeys(part.tolist())]


def part_problem(problem: IlpProblem, classes: np.ndarray) -> tuple[IlpProblem, np.ndarray]:
    """(the part's ILP, the whole's indices of its columns): the columns that can serve one of
    ``classes``, the classes themselves, and no coupling limit. Pools keep their own unit
    limits; purchase units are those of the part's accelerators."""
    mine = usable_pairs(problem)[:, classes].any(axis=1)
    rows = np.flatnonzero(mine)
    picked = problem.columns.subset(mine)
    columns = replace(
        picked,
        capability=picked.capability[:, classes],
        tier_gb_per_request_rate=picked.tier_gb_per_request_rate[:, classes],
        tier_bytes_per_request=picked.tier_bytes_per_request[:, classes],
        class_busy_w=picked.class_busy_w[:, classes],
    )
    c = problem.classes
    groups = set(columns.group)
    part = replace(
        problem,
        classes=Classes(
            tuple(c.names[k] for k in classes),
            c.requests_per_s[classes],
            c.kv_transfer_bytes[classes],
        ),  # fmt: skip
        columns=columns,
        limits=Limits(),
        purchase_units=tuple(u for u in problem.purchase_units if u.group in groups),
    )
    return part, rows


def sharing_allowance(problem: IlpProblem, parts: list[np.ndarray]) -> float:
    """How much lower the whole's first objective can be than the sum of its parts' optima.

    Restricted to one part's classes, the whole's optimum W is feasible for that part (whose
    ILP holds no coupling limit), with each shared purchase rounded up within the part. A
    purchase of ``need_p`` units per part rounds to ⌈Σ need_p⌉ in the whole and to Σ ⌈need_p⌉
    over the parts, at most one unit more per part beyond the first: so Σ_p OPT_p ≤ W +
    Σ_t (P_t − 1) w_t + Σ_g (P_g − 1) w_g, over the pools t and purchase groups g that P_t
    (P_g) parts have columns on, w being one unit's weight in the objective. With nothing
    shared the allowance is 0 and the parts' optima add up to the whole's.
    """
    weights = problem.objective
    usd, per_w, buy = weights.usd_weight, weights.energy_weight_per_w, weights.purchase_weight
    per_w += weights.peak_weight_per_w
    pools, units = _sharing(problem, parts)
    allowance = 0.0
    for pool in problem.pools:
        allowance += (usd * pool.cost_usd_per_hour_per_unit + buy) * pools[pool.name]
    for unit in problem.purchase_units:
        if unit.name in units:
            per_device = usd * unit.usd_per_hour_per_device + per_w * unit.idle_w_per_device + buy
            allowance += unit.devices * per_device * units[unit.name]
    return allowance


def shares_whole_units(problem: IlpProblem, parts: list[np.ndarray]) -> bool:
    """Whether two parts could buy devices from one server or rack. Rounding each part's own
    up then yields poor fleets and a floor far below the optimum (up to a whole rack per part:
    an NVL72 is some 70 $/h)."""
    return any(_sharing(problem, parts)[1].values())


def _sharing(problem: IlpProblem, parts: list[np.ndarray]) -> tuple[dict, dict]:
    """({pool: parts beyond the first with a column on it}, {purchase unit of more than one
    device: parts beyond the first with a column in its group})."""
    columns, usable = problem.columns, usable_pairs(problem)
    on = [set(np.flatnonzero(usable[:, classes].any(axis=1))) for classes in parts]

    def beyond_first(where) -> int:
        return max(sum(any(where(i) for i in rows) for rows in on) - 1, 0)

    pools = {p.name: beyond_first(lambda i, name=p.name: columns.tier[i] == name)
             for p in problem.pools}  # fmt: skip
    units = {u.name: beyond_first(lambda i, group=u.group: columns.group[i] == group)
             for u in problem.purchase_units if u.devices > 1}  # fmt: skip
    return pools, units
