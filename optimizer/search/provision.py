"""``hetplan solve``: from a loaded problem to an explained, proven fleet (docs/model.md §7–10).

The fleet layer rates and prices every candidate; the ILP picks the fleet; three baselines —
the best homogeneous aggregated fleet, the best homogeneous disaggregated fleet and the best
fleet without memory tiers — are solved by the same ILP on subsets of the same columns, so the
saving over each is what heterogeneity, disaggregation and memory tiers are worth.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace

import numpy as np

from optimizer.catalog.problem_loader import LoadedProblem
from optimizer.catalog.units import GIGA, MEGA, MILLI, SECONDS_PER_HOUR
from optimizer.errors import SolverError
from optimizer.fleet.candidates import Fleet, NoCandidates
from optimizer.fleet.columns import IlpProblem, IlpSolution, Status
from optimizer.fleet.ilp_input import OBJECTIVE_UNITS, ilp_problem
from optimizer.fleet.measured import measured_fleet
from optimizer.fleet.prune import dominated_columns, usable_pairs
from optimizer.fleet.reuse import rated_fleet
from optimizer.search.ilp import OTHER_SOLVER, PROOF_TOL, lifted, solve_ilp
from optimizer.search.solution import (
    Baseline,
    Pool,
    Share,
    Solution,
    TierPoolUse,
    WorkloadResult,
)
from optimizer.search.verify import check_solution, fleet_totals

_SHARE_EPS = 1e-9
_GAP_NOISE = 1e-6
"""Gaps below this are the solvers' rounding, not an unproven part of the objective."""

ASSUMPTIONS = (
    "each class is served at its workload's mean turn (input, cached prefix, output tokens)",
    "latencies meet the targets at the class percentile: sequences in decode are negative "
    "binomial (a birth–death chain whose step grows with the batch) and a token's step holds "
    "itself plus them; TPOT is that step's time",
    "TTFT: at a prefill instance an M/D/1 queue (Poisson arrivals, exponential tail that keeps "
    "the exact mean wait) + prefill at the batch that serves the most requests + KV hand-off "
    "over the prefill instance's scale-out links; at an aggregated instance a wait for the "
    "next step + the steps that carry the prompt at the token budget the decode batch leaves, "
    "beside the other arrivals' prompts",
    "power is IT power (accelerators at their operating point, between idle and TDP, plus their "
    "share of their reference system's typical host power); facility power multiplies it by "
    "the PUE",
    "energy: idle power always plus the busy increment in proportion to load",
    "session parking keeps λ × mean tool time sessions' KV in the tier (Little's law)",
    "without parking, prefix-cache hits survive the tool time only as far as the λ × mean tool "
    "time idle sessions' KV fits beside the running batch (the rest is prefilled again)",
    "prefill and decode pools of one class may use different KV precisions; the hand-off "
    "converts them",
)


MEASURED_ASSUMPTIONS = (
    "measured capabilities already include the SLOs: each instance runs up to its measured "
    "throughput, with no model and no headroom",
)


@dataclass(frozen=True)
class _BaselineSpec:
    name: str
    description: str
    one_group: bool


_BASELINES = (
    _BaselineSpec("homogeneous-aggregated", "one accelerator type, aggregated instances", True),
    _BaselineSpec(
        "homogeneous-disaggregated",
        "one accelerator type, separate prefill and decode pools",
        True,
    ),  # fmt: skip
    _BaselineSpec("no-memory-tiers", "any mix of instances, no memory tiers", False),
)


def solve(
    loaded: LoadedProblem,
    efficiency,
    *,
    workers: int | None = None,
    verbose: bool = False,
    progress: bool = False,
    baselines: bool = True,
    fleet: Fleet | None = None,
    tie_breaks: bool = True,
    start_from: Solution | None = None,
    skip_proven_stages: bool = True,
) -> Solution:
    """Rate, prune, solve and explain one problem; ``status`` says whether it is solved.

    Args:
        loaded: the validated problem.
        efficiency: the efficiency factors (``perf.efficiency.EfficiencyTable``) candidates
            are rated with.
        workers: threads for the optimum and its three baselines, which are independent
            solves (default: one per core; 1 solves them in turn, as a caller's worker should,
            and runs no check beside a stage on a spare core it does not have).
        verbose: the solvers' logs on stderr.
        progress: a line on stderr every 10 s of a long HiGHS solve (elapsed, incumbent,
            bound), for a person waiting at a terminal.
        baselines: report the three baselines; without them they are still solved, as the
            fleets the optimum starts from (``_STARTS``), and not reported.
        fleet: the problem's candidates, already rated at its rates (co-design joins the
            catalog's, rated once per study, with a trial's own: ``fleet.merge.joined``);
            None rates them here.
        tie_breaks: after the objective, minimize cost and then purchases among the fleets
            that hold it (lexicographic stages); False stops at the objective, for a caller
            that reads the objective alone (a co-design trial).
        start_from: a fleet of this problem found before (a co-design trial's catalog-only
            optimum, whose columns the trial keeps): without baselines, the optimum starts
            from it instead of solving the baselines first, where every pool of it is among
            the candidates.
        skip_proven_stages: with HiGHS, skip a tie-break stage when a presolved check proves
            that no fleet holding the objectives before improves its objective beyond the
            solvers' tolerance (a purchase, for purchases): the stage would keep its start, so
            the answer is the same at a fraction of the time (the mixed agentic solve: 2.1-2.4 s
            against 6-7 s; False runs every stage).
    """
    start = time.perf_counter()
    spec = loaded.spec
    if fleet is None and loaded.measured is not None:
        fleet = measured_fleet(loaded.measured)
    elif fleet is None:
        try:
            fleet = rated_fleet(loaded.catalog, spec, loaded.economics, efficiency)
        except NoCandidates as why:
            return _no_fleet(loaded, str(why), start)
    problem = _within_time_left(ilp_problem(spec, loaded.economics, fleet), start)
    settings = replace(
        problem.solver,
        progress=progress,
        skip_proven_stages=skip_proven_stages,
        race_checks=workers != 1,
        checks_beside_first_stage=_cores_for_first_checks(workers, baselines),
    )
    problem = replace(problem, solver=settings)
    if not tie_breaks:
        problem = replace(problem, then=())
    keep = usable_pairs(problem).any(axis=1) & ~dominated_columns(problem)
    fleet = replace(fleet, table=fleet.table.subset(keep))
    problem = replace(problem, columns=fleet.table.columns)
    uncovered = _uncovered(fleet, loaded)
    if uncovered:
        result, baseline_runs = None, []
    else:  # the optimum and its baselines are separate solves: run them side by side
        limit = problem.solver.time_limit_s
        deadline = None if limit is None else time.perf_counter() + limit
        begin = None if baselines or start_from is None else _begin(problem, start_from)
        first = _STARTS if begin is None else ()
        with _executor(workers) as pool:

            def run(b: _BaselineSpec) -> Future:
                return pool.submit(_baseline_run, b, problem, loaded, verbose, deadline)

            runs = {b.name: run(b) for b in _BASELINES if b.name in first}
            waited = [f for name, f in runs.items()
                      if name in _QUICK_STARTS or isinstance(pool, _InTurn)]  # fmt: skip
            optimum = pool.submit(_optimum, problem, list(runs.values()), waited, verbose,
                                  deadline, begin)  # fmt: skip
            if baselines:
                runs |= {b.name: run(b) for b in _BASELINES if b.name not in runs}
            baseline_runs = [(b, runs[b.name]) for b in _BASELINES] if baselines else []
            result = optimum.result()
    fallback = (result.fallback,) if result is not None and result.fallback else ()
    head = _head(loaded, fleet.notes + fallback)
    if result is None or result.status is Status.INFEASIBLE:
        explanation = tuple(uncovered) or (result.explanation if result else ())
        return Solution(
            status=Status.INFEASIBLE.value,
            wall_s=time.perf_counter() - start,
            solver=_solver_stats(spec, fleet, result),
            explanation=explanation or ("the solver proved the problem infeasible",),
            **head,
        )
    baselines = tuple(_baseline(b, run.result(), result) for b, run in baseline_runs)
    _no_better_baseline(result, baselines)
    return _solution(problem, fleet, loaded, result, baselines, head, start)


def _no_better_baseline(best: IlpSolution, baselines) -> None:
    """A baseline is the same problem with fewer columns, so no baseline fleet can fall below
    the optimum's proven bound: when one does, the solver's proof is wrong."""
    if best.bound is None:
        return
    limit = best.bound - PROOF_TOL * max(abs(best.objective), 1.0)
    for b in baselines:
        if b.objective is not None and b.objective < limit:
            raise SolverError(
                f"baseline {b.name} ({b.objective:.6g}) is below the bound the solver proved for "
                f"the optimum ({best.bound:.6g}): the solver's answer cannot be trusted; "
                'try solver.name = "cbc"'
            )


def _within_time_left(problem: IlpProblem, start: float) -> IlpProblem:
    """``solver.time_limit_s`` bounds the whole command: the solves (run side by side) get what
    rating the candidates left of it (at least a second, so that a solve can report)."""
    limit = problem.solver.time_limit_s
    if limit is None:
        return problem
    left = max(limit - (time.perf_counter() - start), 1.0)
    return replace(problem, solver=replace(problem.solver, time_limit_s=left))


class _InTurn:
    """An executor that runs each task when it is submitted (one worker, no threads)."""

    def __enter__(self) -> _InTurn:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def submit(self, fn, *args) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as error:  # re-raised by result(), as a thread pool would
            future.set_exception(error)
        return future


def _cores_for_first_checks(workers: int | None, baselines: bool) -> bool:
    """Whether the first stage's two checks (``search/ilp.py: _ChecksBesideStart``) get cores
    of their own beside the solves running with that stage: the baselines other than the one
    it starts from, on the threads left to them. The checks are speculative (their verdicts
    are used only if the stage keeps its start), so they pay only on idle cores: on 2 cores,
    beside the stage and a baseline, they doubled the mixed agentic problem's first stage
    (0.97 s against 0.49, 2026-12-02) and were then dropped, as the stage improved on its
    start."""
    cores = os.cpu_count() or 1
    threads = workers or cores
    beside = min(threads - 1, len(_BASELINES) - 1) if baselines else 0
    return threads != 1 and cores >= 1 + beside + 2


def _executor(workers: int | None):
    """Threads for independent solves, or none when the caller allows one worker."""
    workers = workers or os.cpu_count() or 1
    return _InTurn() if workers == 1 else ThreadPoolExecutor(max_workers=workers)


def _head(loaded: LoadedProblem, notes: tuple[str, ...] = ()) -> dict:
    """The fields every solution carries, solved or not."""
    spec = loaded.spec
    return dict(
        problem=spec.problem.name,
        problem_file=str(loaded.path),
        problem_fingerprint=loaded.fingerprint,
        catalog_fingerprint=loaded.catalog.fingerprint,
        objective_kind=spec.objective.kind.value,
        objective_units=OBJECTIVE_UNITS[spec.objective.kind],
        notes=notes,
        assumptions=ASSUMPTIONS if loaded.measured is None else MEASURED_ASSUMPTIONS,
    )


def _no_fleet(loaded: LoadedProblem, why: str, start: float) -> Solution:
    return Solution(
        status=Status.INFEASIBLE.value,
        wall_s=time.perf_counter() - start,
        solver={"name": loaded.spec.solver.name.value, "columns_generated": 0, "columns": 0},
        explanation=(why,),
        **_head(loaded),
    )


def _uncovered(fleet: Fleet, loaded: LoadedProblem) -> list[str]:
    """Why a class cannot be served by any candidate at all, in its SLO's own numbers."""
    c = fleet.table.columns
    lines = []
    for k, name in enumerate(fleet.classes.names):
        serves = c.capability[:, k] > 0
        missing = [p for p, covers in (("prefill", c.prefill), ("decode", c.decode))
                   if not (serves & covers).any()]  # fmt: skip
        if not missing:
            continue
        if loaded.measured is not None:
            lines.append(f"{name}: no measured instance can serve it")
            continue
        lines.append(_why_unserved(fleet, k, missing))
    return lines


def _why_unserved(fleet: Fleet, k: int, missing: list[str]) -> str:
    t = fleet.traffic[k]
    context = f"at a {t.request.input_tokens:,.0f}-token context"
    ttft, tpot = fleet.best_ttft.get(t.name), fleet.best_tpot.get(t.name)
    if ttft is None and tpot is None:
        return f"{t.name}: no candidate fits {t.model} {context} (capacity wall)"
    if "decode" in missing and t.slo.tpot_s is not None and tpot and tpot.value_s > t.slo.tpot_s:
        return (
            f"{t.name}: no candidate reaches TPOT {t.slo.tpot_s / MILLI:g} ms {context}; the "
            f"best is {tpot.value_s / MILLI:.1f} ms on {tpot.where} (batch 1)"
        )
    if t.slo.ttft_s is not None and ttft and ttft.value_s > t.slo.ttft_s:
        return (
            f"{t.name}: no candidate reaches TTFT {t.slo.ttft_s / MILLI:g} ms {context}; the "
            f"best is {ttft.value_s / MILLI:.1f} ms on {ttft.where} (one prompt, no queue)"
        )
    return (
        f"{t.name}: no candidate serves its {' and '.join(missing)} within TTFT and TPOT "
        f"together {context}"
    )


def _solver_stats(spec, fleet: Fleet, result: IlpSolution | None) -> dict:
    s = spec.solver
    return {
        "name": result.solver if result else s.name.value,  # the one that found the fleet
        "time_limit_s": s.time_limit_s,
        "gap_limit": s.gap,
        "seed": s.seed,
        "assignment": s.assignment,
        "slice_factor": s.slice_factor,
        "columns_generated": fleet.generated,
        "columns": len(fleet.table.columns),
        "variables": result.n_variables if result else 0,
        "constraints": result.n_constraints if result else 0,
        "ilp_wall_s": result.wall_s if result else 0.0,
        "parts": result.parts if result else 1,
        "coupled": result.coupled if result else False,
    }


_STARTS = tuple(b.name for b in _BASELINES)
"""Baselines solved before the optimum, which starts from the best fleet they find: each is
a fleet of the optimum's own problem on fewer columns, and they prove fast."""

_QUICK_STARTS = ("homogeneous-aggregated", "homogeneous-disaggregated")
"""The starts the optimum waits for where it runs beside them (one accelerator type at a time,
their ILPs are small); run in turn, every start is there before it. On the mixed agentic
problem these two take a tenth of a second, the no-tier baseline half a second, and the first
stage takes 0.53 s from the better of the two (the disaggregated fleet's 12.74 kWh/h), 0.81 s
from the aggregated one's 13.20 alone and 0.44 s from the no-tier fleet's 12.31 (2026-12-02)."""

_WAIT_FOR_STARTS = 0.25
"""The share of the time limit the optimum waits for those baselines before it starts cold."""


def _optimum(problem: IlpProblem, starts: list[Future], waited: list[Future], verbose: bool,
             deadline, begin=None):  # fmt: skip
    """The optimum, started from ``begin`` when given, else from the best fleet among the
    ``waited`` starts (within a quarter of the time limit), or the first of the others to find
    one if they find none (cold if none does); its proof is then held against every start's
    fleet (:func:`_trusted`)."""
    if begin is not None:
        return _checked(problem, False, verbose, deadline, begin=begin)
    limit = problem.solver.time_limit_s
    until = None if limit is None else time.perf_counter() + _WAIT_FOR_STARTS * limit
    done, _ = wait(waited, timeout=None if until is None else max(until - time.perf_counter(), 0))
    fleets = _fleets(problem, starts, done)
    pending = set(starts) - done
    while pending and not fleets:
        left = None if until is None else max(until - time.perf_counter(), 0.0)
        done, pending = wait(pending, timeout=left, return_when=FIRST_COMPLETED)
        if not done:
            break
        fleets = _fleets(problem, starts, done)
    begin = min(fleets, key=lambda f: f.objective, default=None)
    result = _checked(problem, False, verbose, deadline, begin=begin)
    fleets = _fleets(problem, starts, wait(starts).done)
    return _trusted(problem, result, fleets, verbose, deadline)


def _fleets(problem: IlpProblem, starts: list[Future], done: set[Future]) -> list[IlpSolution]:
    """The fleets the ``starts`` among ``done`` found, on the whole problem's columns, in the
    order of ``starts``: of fleets tied in the objective the first is the start (``done`` is a
    set, whose order changed from one call to the next, and with it the fleet of a problem
    whose homogeneous aggregated and disaggregated fleets tie)."""
    runs = [run for run in starts if run in done]
    return [_lifted(problem, run.result()) for run in runs
            if run.exception() is None and run.result().solution is not None]  # fmt: skip


def _trusted(problem: IlpProblem, result: IlpSolution, fleets, verbose: bool, deadline):
    """``result``, unless one of ``fleets`` (feasible here: the same problem on fewer columns)
    lies below the bound its solver proved. Then that proof is wrong, and the other solver
    solves the problem again from the best of them. HiGHS 1.16, started from the homogeneous
    baseline's 457.24 $/h, proved 335.54 optimal for a fleet of Qwen3-Coder-480B at 512k-token
    contexts with DDR5 offered, where the fleet without tiers costs 272.49, which CBC and
    HiGHS cold both find optimal (tests/search/test_warm_start.py)."""
    if result.bound is None or not fleets:
        return result
    best = min(fleets, key=lambda f: f.objective)
    if best.objective >= result.bound - PROOF_TOL * max(abs(result.objective), 1.0):
        return result
    other = OTHER_SOLVER[problem.solver.name]
    again = replace(problem, solver=replace(problem.solver, name=other))
    found = _checked(again, False, verbose, deadline, begin=best)
    why = (f"{problem.solver.name.value} proved a lower bound {result.bound:.6g} above a fleet "
           f"of {best.objective:.6g} found on fewer columns, so its verdict cannot be trusted; "
           f"solved again with {other.value}")  # fmt: skip
    return replace(found, fallback=why)


def _begin(problem: IlpProblem, found: Solution) -> IlpSolution | None:
    """``found``'s fleet on ``problem``'s columns, matched by name (None when one of its
    pools is not among them, or it has no fleet)."""
    if found.objective is None:
        return None
    index = {name: i for i, name in enumerate(problem.columns.names)}
    classes = {name: k for k, name in enumerate(problem.classes.names)}
    instances = np.zeros(len(index), dtype=int)
    share = np.zeros((len(index), len(classes)))
    for pool in found.pools:
        i = index.get(pool.name)
        if i is None:
            return None
        instances[i] = pool.instances
        for part in pool.serves:
            share[i, classes[part.name]] = part.share
    units = {t.tier: t.units for t in found.tier_pools}
    return IlpSolution(Status.FEASIBLE, "start", 0.0, instances=instances, share=share,
                       pool_units=units)  # fmt: skip


def _lifted(problem: IlpProblem, run: _Run) -> IlpSolution:
    """A baseline's fleet on the whole problem's columns."""
    return lifted(run.solution, run.rows, problem)


@dataclass(frozen=True)
class _Run:
    """A baseline's solve: what it is, its problem (None: not applicable, ``description``
    says why), that problem's columns among the whole's, and its solution."""

    description: str
    problem: IlpProblem | None = None
    rows: np.ndarray | None = None
    result: IlpSolution | None = None

    @property
    def solution(self) -> IlpSolution | None:
        """The fleet, if the baseline found one."""
        r = self.result
        return r if r is not None and r.instances is not None else None


def _baseline_run(b: _BaselineSpec, problem: IlpProblem, loaded, verbose: bool, deadline):
    """The baseline's solve, or why it does not apply."""
    c = problem.columns
    if loaded.measured is not None:
        if b.name != "homogeneous-aggregated":
            return _Run("measured capabilities have no phases or tiers")
        description = "one measured instance type"
        keep = np.ones(len(c), dtype=bool)
    else:
        styles = loaded.spec.styles
        allowed, what = {
            "homogeneous-aggregated": (styles.aggregated, "aggregated instances"),
            "homogeneous-disaggregated": (styles.disaggregated, "disaggregated pools"),
            "no-memory-tiers": (bool(problem.pools), "memory tiers"),
        }[b.name]
        if not allowed:
            return _Run(f"the problem allows no {what}")
        description = b.description
        keep = {
            "homogeneous-aggregated": c.prefill & c.decode,
            "homogeneous-disaggregated": c.prefill ^ c.decode,
            "no-memory-tiers": np.array([t is None for t in c.tier]),
        }[b.name]
    # a baseline is compared on the first objective; its fleet is trimmed to what it needs
    settings = replace(problem.solver, label=f"baseline {b.name}")
    sub = replace(problem, columns=c.subset(keep), then=(), solver=settings)
    result = _checked(sub, b.one_group, verbose, deadline)
    return _Run(description, sub, np.flatnonzero(keep), result)


def _checked(
    problem: IlpProblem,
    one_group: bool,
    verbose: bool,
    deadline: float | None,
    begin: IlpSolution | None = None,
) -> IlpSolution:
    """Solve by the ``deadline`` (a perf_counter time; at least a second, to report), then
    re-check the fleet against every constraint without the solver: a fleet that fails is
    never reported."""
    if deadline is not None:
        left = max(deadline - time.perf_counter(), 1.0)
        problem = replace(problem, solver=replace(problem.solver, time_limit_s=left))
    result = solve_ilp(problem, one_group=one_group, verbose=verbose, begin=begin)
    violations = check_solution(problem, result, one_group=one_group)
    if violations:
        raise SolverError(
            f"{problem.solver.name.value} returned a fleet that fails the independent "
            "re-check: " + "; ".join(violations)
        )
    return result


def _baseline(b: _BaselineSpec, run: _Run, best: IlpSolution) -> Baseline:
    description, sub, result = run.description, run.problem, run.result
    if result is None:
        return Baseline(b.name, False, description)
    if result.status is Status.INFEASIBLE:
        return Baseline(b.name, True, description, status=result.status.value)
    totals = fleet_totals(sub, result.instances, result.share, result.pool_units)
    saving = (
        100.0 * (result.objective - best.objective) / result.objective
        if result.objective > 0
        else None
    )
    if saving is not None and abs(saving) < 100.0 * PROOF_TOL:
        # within the solvers' tolerance of the optimum (its tie-break stages hold its objective
        # that close): no saving, where -1.4e-14 % and 1.1e-14 % were printed
        saving = 0.0
    # a saving no larger than what the two solves left unproven is no saving to report
    unproven = (best.gap or 0.0) + (result.gap or 0.0)
    within_gap = saving is not None and unproven > _GAP_NOISE and saving / 100.0 <= unproven
    used = tuple(sub.columns.names[i] for i in np.flatnonzero(result.instances > 0))
    return Baseline(
        b.name, True, description, status=result.status.value, objective=result.objective,
        cost_usd_per_hour=totals.cost_usd_per_hour, power_w=totals.peak_it_power_w,
        saving_pct=saving, pools=used, within_gap=within_gap,
    )  # fmt: skip


def _solution(problem, fleet, loaded, result, baselines, head, start) -> Solution:
    totals = fleet_totals(problem, result.instances, result.share, result.pool_units)
    table = fleet.table
    pools = tuple(
        _pool(i, table, problem, result, totals)
        for i in np.flatnonzero((result.instances > 0) | (result.share.sum(axis=1) > _SHARE_EPS))
    )
    n = result.instances
    network = float(n @ table.network_usd_per_hour)
    breakdown = {  # hardware: the instances' and the idle devices whole systems add
        "hardware": totals.fixed_usd_per_hour - network,
        "network": network,
        "memory_tiers": totals.pool_usd_per_hour,
        "energy": totals.energy_usd_per_hour,
    }
    tier_pools = tuple(_tier_pool(p, result.pool_units[p.name], totals) for p in problem.pools
                       if result.pool_units.get(p.name, 0) > 0)  # fmt: skip
    tokens_per_s = sum(t.requests_per_s * t.request.output_tokens for t in fleet.traffic)
    devices = {g: round(d) for g, d in totals.devices.items() if d > 0}
    return Solution(
        status=result.status.value,
        wall_s=time.perf_counter() - start,
        solver=_solver_stats(loaded.spec, fleet, result),
        objective=result.objective,
        bound=result.bound,
        gap=result.gap,
        cost_usd_per_hour=totals.cost_usd_per_hour,
        cost_breakdown=breakdown,
        power_w=totals.peak_it_power_w,
        average_power_w=totals.average_it_power_w,
        facility_power_w=totals.peak_it_power_w * loaded.economics.pue,
        energy_j_per_token=totals.average_it_power_w / tokens_per_s if tokens_per_s else None,
        usd_per_million_output_tokens=(
            totals.cost_usd_per_hour / (tokens_per_s * SECONDS_PER_HOUR) * MEGA
            if tokens_per_s
            else None
        ),
        devices=devices,
        systems={
            unit.name: {
                "accelerator": unit.group,
                "devices_per_unit": unit.devices,
                "units": totals.units_bought[unit.name][0],
                "idle_devices": totals.units_bought[unit.name][1],
            }
            for unit in problem.purchase_units
            if unit.name in totals.units_bought and totals.units_bought[unit.name][0] > 0
        },
        pools=pools,
        tier_pools=tier_pools,
        workloads=_workloads(fleet, problem, result, totals),
        baselines=baselines,
        **head,
    )


def _tier_pool(pool, units: int, totals) -> TierPoolUse:
    """What the fleet bought of one pool and how much of it, by each limit, it uses."""
    return TierPoolUse(
        pool.name,
        int(units),
        pool.unit_gb * units,
        float(totals.pool_gb[pool.name]),
        pool.cost_usd_per_hour_per_unit * units,
        gb_per_s=pool.unit_bytes_per_s * units / GIGA
        if np.isfinite(pool.unit_bytes_per_s)
        else None,
        gb_per_s_used=totals.pool_bytes_per_s[pool.name] / GIGA,
        devices=round(totals.pool_devices[pool.name]),
        max_devices=pool.max_devices_per_unit * units if pool.max_devices_per_unit else None,
    )


def _opt(x) -> float | None:
    x = float(x)
    return None if np.isnan(x) else x


def _pool(i, table, problem, result, totals) -> Pool:
    c, info = problem.columns, table.info[i]
    lam = problem.classes.requests_per_s
    serves = []
    for k in np.flatnonzero(result.share[i] > _SHARE_EPS):
        bound, step_bound = table.walls(i, k)
        serves.append(
            Share(
                name=problem.classes.names[k],
                share=float(result.share[i, k]),
                requests_per_s=float(result.share[i, k] * lam[k]),
                batch=_opt(table.batch[i, k]),
                ttft_s=_opt(table.ttft_s[i, k]) if c.prefill[i] else None,
                tpot_s=_opt(table.tpot_s[i, k]) if c.decode[i] else None,
                bound=bound,
                step_bound=step_bound,
            )
        )
    heaviest = max(
        np.flatnonzero(result.share[i] > _SHARE_EPS),
        key=lambda k: result.share[i, k] * lam[k] / c.capability[i, k],
        default=None,
    )
    n = int(result.instances[i])
    bound, step_bound = table.walls(i, heaviest)
    return Pool(
        name=c.names[i], accelerator=info.accelerator, phase=info.phase, instances=n,
        devices=n * info.devices, tp=info.tp, ep=info.ep, precision=info.precision,
        kv_precision=info.kv_precision, tier=info.tier, tier_use=info.tier_use,
        tier_gb_per_device=info.tier_gb_per_device,
        utilization=float(totals.load[i] / n) if n else 0.0,
        cost_usd_per_hour=float(n * c.cost_usd_per_hour[i]), power_w=float(n * c.busy_w[i]),
        bound=bound, step_bound=step_bound,
        serves=tuple(serves), price_source=info.price_source,
        compute_dtype=info.compute_dtype, dp=info.dp, engine=info.engine,
    )  # fmt: skip


def _worst(values: np.ndarray) -> float | None:
    """The largest of the pools' latencies for one class (None where none was rated)."""
    return _opt(np.nanmax(values)) if values.size and not np.isnan(values).all() else None


def _workloads(fleet: Fleet, problem: IlpProblem, result, totals) -> tuple[WorkloadResult, ...]:
    c, table = fleet.table.columns, fleet.table
    used = result.share > _SHARE_EPS
    usd_per_hour, watts = _class_shares(problem, result, totals)
    out = []
    for k, name in enumerate(fleet.classes.names):
        t = fleet.traffic[k] if fleet.traffic else None
        prefills, decodes = used[:, k] & c.prefill, used[:, k] & c.decode
        split = float(result.share[c.prefill & ~c.decode, k].sum())
        rate = float(fleet.classes.requests_per_s[k])
        tokens_per_s = rate * t.request.output_tokens if t else 0.0
        out.append(
            WorkloadResult(
                name=name,
                model=t.model if t else None,
                workload=t.workload if t else None,
                requests_per_s=rate,
                ttft_slo_s=t.slo.ttft_s if t else None,
                tpot_slo_s=t.slo.tpot_s if t else None,
                percentile=t.slo.quantile * 100 if t else None,
                ttft_s=_worst(table.ttft_s[prefills, k]),
                tpot_s=_worst(table.tpot_s[decodes, k]),
                disaggregated_share=split,
                ttft_p50_s=_worst(table.ttft_p50_s[prefills, k]),
                tpot_p50_s=_worst(table.tpot_p50_s[decodes, k]),
                usd_per_million_output_tokens=(
                    usd_per_hour[k] / (tokens_per_s * SECONDS_PER_HOUR) * MEGA
                    if tokens_per_s
                    else None
                ),
                energy_j_per_output_token=watts[k] / tokens_per_s if tokens_per_s else None,
            )
        )
    return tuple(out)


def _class_shares(problem: IlpProblem, result, totals) -> tuple[np.ndarray, np.ndarray]:
    """([k] $/h, [k] average IT W) of each class: every column's cost and idle power split by
    the work each class puts on it, plus the busy power that work draws at the class's own
    step power; a tier pool's cost first split over its columns by the GB each holds and a
    whole system's idle devices over its columns by the devices each uses. The classes' shares
    add up to the fleet's."""
    columns, classes = problem.columns, problem.classes
    n, share, units = result.instances, result.share, result.pool_units
    with np.errstate(divide="ignore", invalid="ignore"):
        work = np.where(
            columns.capability > 0, share * classes.requests_per_s / columns.capability, 0.0
        )
        split = np.nan_to_num(work / totals.load[:, None])  # [i, k], rows sum to 1 or 0
    busy_extra = (columns.busy_extra_w * work).sum(0)  # [k] W above idle each class draws
    watts = n * columns.idle_w
    spare_usd = np.zeros(len(columns))
    for unit in problem.purchase_units:  # a system's idle devices, by the devices each uses
        used = np.where(np.array(columns.group) == unit.group, n * columns.devices, 0.0)
        if used.sum() > 0:
            idle = totals.units_bought[unit.name][1] * used / used.sum()
            watts = watts + unit.idle_w_per_device * idle
            spare_usd = spare_usd + unit.usd_per_hour_per_device * idle
    usd = n * columns.cost_usd_per_hour + spare_usd + problem.energy_usd_per_wh * watts
    for pool in problem.pools:
        held = np.array(
            [
                g if t == pool.name else 0.0
                for t, g in zip(columns.tier, totals.column_gb, strict=True)
            ]
        )
        if held.sum() > 0:
            usd = (
                usd + pool.cost_usd_per_hour_per_unit * units.get(pool.name, 0) * held / held.sum()
            )
    return usd @ split + problem.energy_usd_per_wh * busy_extra, watts @ split + busy_extra
