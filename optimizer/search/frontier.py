"""Parts coupled by a power limit alone, solved exactly: each part's cost–power trade-off is
traced under falling power caps, and one point per part is combined by an exact multiple-choice
knapsack (docs/solver.md, Parts).

Why it is exact. Let F_p(P) be part p's least first objective among its fleets of peak power at
most P (a non-increasing step function). With nothing shared between the parts
(``parts.sharing_allowance`` 0) and no fleet-wide limit but power, the whole's optimum
restricted to part p is a fleet of part p of some power P_p, with Σ_p P_p ≤ L (the limit) and
its objective the sum of the parts', so OPT ≥ min { Σ_p F_p(P_p) : Σ_p P_p ≤ L }.

Part p is solved at caps κ_0 = ∞ > κ_1 > … > κ_m, each just below the power of the fleet found
at the cap before. Solve j proves a bound b_j ≤ F_p(κ_j), and since F_p does not increase,
F_p(P) ≥ b_j for every P ≤ κ_j: on [κ_{j+1}, κ_j] and, for the last solve, on [0, κ_m] (none
there when solve m proved no fleet within κ_m), and so is every b_i of i < j. So the step
function that is max_{i≤j} b_i on each such range lies below F_p, and it is least, for the
knapsack, at the range's low end: the knapsack over these *floor options*, (max b, κ_{j+1})
and (max b, 0), is a proven lower bound on the whole (``cheapest``). The fleets found, options
(objective, power), combine into fleets that keep the limit; the cheapest is the incumbent.
Which part is refined further, and at which cap, only decides how soon the two meet, never
whether the bound holds (``_next_cap`` says why its rules lose no better fleet).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import accumulate

from optimizer.fleet.columns import IlpSolution, Status


@dataclass(frozen=True, slots=True)
class Step:
    """One solve of a part under a power cap."""

    cap_w: float  # the part's peak power allowed (inf: none)
    bound: float  # proven lower bound on the part's objective under the cap (inf: no fleet)
    fleet: IlpSolution | None  # the fleet found, if any
    power_w: float = math.inf  # the fleet's peak IT power


@dataclass(frozen=True, slots=True)
class Traced:
    """What the sweep found: the incumbent's step per part (None: no combination keeps the
    limit), the proven floor under the whole's optimum (inf: no fleet keeps it), and the
    number of solves made."""

    chosen: tuple[Step, ...] | None
    floor: float
    n_solves: int


def cheapest(options: list[list[tuple[float, float]]], limit_w: float):
    """(least Σ value, the option chosen per part) over one (value, power W) option per part
    with Σ power ≤ ``limit_w``, or None when no choice keeps it: the multiple-choice
    knapsack, exact (``pareto``)."""
    front = pareto(options, limit_w)
    if not front:
        return None
    value, _, chosen = min(front, key=lambda entry: entry[0])
    return value, chosen


def pareto(options: list[list[tuple[float, float]]], limit_w: float) -> list[tuple]:
    """(Σ value, Σ power, the option chosen per part) of every choice within ``limit_w`` that
    is cheaper than each choice of no more power, by power: the parts merged one at a time,
    keeping only such partial choices (no other can be completed into one of them)."""
    partial = [(0.0, 0.0, ())]
    for part in options:
        merged = [(value + v, power + w, chosen + (j,))
                  for value, power, chosen in partial
                  for j, (v, w) in enumerate(part) if power + w <= limit_w]  # fmt: skip
        merged.sort(key=lambda entry: (entry[1], entry[0]))
        partial, least = [], math.inf
        for entry in merged:
            if entry[0] < least:
                partial.append(entry)
                least = entry[0]
    return partial


def floor_options(steps: list[Step]) -> list[tuple[float, float]]:
    """(bound, least power it holds for) per range of caps: (b_j, κ_{j+1}), and (b_m, 0) for
    the range below the last cap unless that solve proved no fleet there. A range's bound is
    the most of those proven at its cap and above (F_p does not increase): a solve the time
    limit stopped without one (-inf) keeps the bound before it."""
    bounds = list(accumulate((step.bound for step in steps), max))
    options = [(bound, after.cap_w) for bound, after in zip(bounds[:-1], steps[1:], strict=True)]
    if steps[-1].bound < math.inf:
        options.append((bounds[-1], 0.0))
    return options


def fleet_options(steps: list[Step]) -> list[tuple[float, float, int]]:
    """(objective, power, step index) of each fleet found."""
    return [(s.fleet.objective, s.power_w, j) for j, s in enumerate(steps) if s.fleet is not None]


CAP_BELOW_REL = 1e-6
"""Caps lie this far (relative to the limit) below the last fleet's power, or above the power
the others' cheap combinations leave: above the solvers' feasibility tolerance on the power
row (10⁻⁸ of the cap), so the same fleet cannot come back. Fleets in between are not lost to
the bound: the range below a cap keeps the bound of the solve before."""


def trace(
    first: list[Step],
    limit_w: float,
    solve: Callable[[int, float], Step],
    proof: Callable[[float], float],
    is_time_left: Callable[[], bool],
    n_threads: int,
) -> Traced:
    """Refine the parts' frontiers in rounds until the floor proves the incumbent.

    Args:
        first: each part's unconstrained solve (cap inf).
        limit_w: the power limit on the parts together.
        solve: (part, cap W) → its step; a solve that the time limit stopped without a proof
            returns the bound of the step before and no fleet.
        proof: incumbent → the least floor that proves it optimal.
        is_time_left: whether another round may start.
        n_threads: parts solved side by side in a round: those whose range below their last
            cap is in the cheapest combination of floors (the least proven) first.

    Returns:
        The incumbent's steps, the floor, the solves made. Rounds are deterministic: which
        parts a round refines, and at which caps, depends on the steps before it only.
    """
    steps = [[step] for step in first]
    n_solves = 0
    while is_time_left():
        found = _incumbent(steps, limit_w)
        target = -math.inf if found is None else proof(found[0])
        caps = {p: _next_cap(steps, p, limit_w, target) for p in range(len(steps))}
        open_ = sorted((tail, p) for p, (cap, tail) in caps.items() if cap is not None)
        if not open_:
            break
        refine = sorted(p for _, p in open_[: max(n_threads, 1)])
        caps = {p: caps[p][0] for p in refine}
        with ThreadPoolExecutor(max(min(len(refine), n_threads), 1)) as pool:
            for p, step in zip(refine, pool.map(solve, refine, [caps[p] for p in refine]),
                               strict=True):  # fmt: skip
                steps[p].append(step)
        n_solves += len(refine)
    found = _incumbent(steps, limit_w)
    floor = cheapest([floor_options(s) for s in steps], limit_w)
    chosen = None
    if found is not None:
        chosen = tuple(steps[p][j] for p, j in enumerate(found[1]))
    return Traced(chosen, math.inf if floor is None else floor[0], n_solves)


def _incumbent(steps: list[list[Step]], limit_w: float):
    """(objective, step index per part) of the cheapest combination of fleets found that keeps
    the limit, or None."""
    options = [fleet_options(s) for s in steps]
    found = cheapest([[(v, w) for v, w, _ in part] for part in options], limit_w)
    if found is None:
        return None
    return found[0], tuple(part[j][2] for part, j in zip(options, found[1], strict=True))


def _next_cap(steps, p: int, limit_w: float, target: float) -> tuple[float | None, float]:
    """(the cap to solve part p at next, the least floor of a combination that takes part p
    below its last cap). The cap is None when the part is not worth refining: its last solve
    found no proven fleet; or that fleet's power is within what the others' unconstrained
    fleets leave; or, with an incumbent, no combination of the others' floors is below
    ``target`` (the least floor proving it) less the bound b of part p's range below its last
    cap. Else the cap is just below that fleet's power, or lower still: a fleet of part p of
    power w and objective ≥ b beats the incumbent only with the others within L − w at a
    floor below target − b, which needs X, the least power such a combination of theirs
    has; so w ≤ L − X. The cap L − X + δ (δ = ``CAP_BELOW_REL`` · L) skips no such fleet, and
    the range it skips has floor b, which with others within L − (L − X + δ) < X stays at or
    above target."""
    last = steps[p][-1]
    if last.fleet is None or last.fleet.status is not Status.OPTIMAL:
        return None, math.inf
    others_w = sum(s[0].power_w for q, s in enumerate(steps) if q != p)
    if last.power_w <= limit_w - others_w:
        return None, math.inf
    bound = floor_options(steps[p])[-1][0]
    others = pareto([floor_options(s) for q, s in enumerate(steps) if q != p], limit_w)
    tail = bound + min((value for value, _, _ in others), default=math.inf)
    delta = CAP_BELOW_REL * limit_w
    below = last.power_w - delta
    if target == -math.inf:  # no incumbent yet
        return below, tail
    powers = [power for value, power, _ in others if value + bound < target]
    if not powers:
        return None, tail
    return min(below, limit_w - min(powers) + delta), tail
