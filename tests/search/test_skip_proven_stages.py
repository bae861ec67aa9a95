"""Tie-break stages skipped where HiGHS proves they cannot improve (``skip_proven_stages``)
against the plain lexicographic solve: the same fleet, on random problems where the later
stages decide the fleet and where they do not, whether each check runs before its stage or
races it on a spare core (``race_checks``), and whichever of the two ends first."""

from __future__ import annotations

import threading
from dataclasses import replace

import highspy
import numpy as np
import pytest

import optimizer.search.ilp as ilp
from optimizer.catalog.problem_spec import ObjectiveKind, SolverName
from optimizer.fleet.columns import IlpProblem, Objective, SolverSettings, Status
from optimizer.fleet.ilp_input import PURCHASES
from optimizer.search.ilp import solve_ilp
from optimizer.search.verify import check_solution, fleet_totals
from tests.search.problems import (
    ENERGY,
    make_classes,
    make_columns,
    random_problem,
    with_twin_group,
)

SEEDS = range(80)
HOLD_REL = 1e-6  # what the plain solve's later stages may move an objective they hold


def _lexicographic(seed: int):
    """A random HiGHS problem, energy then cost then purchases; every other seed with a twin of
    each column, alike but for its price, so that fleets tie on energy and the cost stage
    decides."""
    problem, one_group = random_problem(seed)
    if seed % 2 == 0 and len(problem.columns) <= 3:
        problem = with_twin_group(problem, np.random.default_rng(seed).uniform(0.5, 1.5))
    cost = Objective(ObjectiveKind.COST, 1.0, problem.energy_usd_per_wh, "usd_per_hour")
    solver = replace(problem.solver, name=SolverName.HIGHS, skip_proven_stages=False)
    problem = replace(problem, objective=ENERGY, then=(cost, PURCHASES), solver=solver)
    return problem, one_group


def _skipping(problem, racing: bool = True):
    """The problem with its stages checked; ``racing``: a stage races its check (a spare
    core), else the check runs first."""
    solver = replace(problem.solver, skip_proven_stages=True, race_checks=racing,
                     checks_beside_first_stage=racing)  # fmt: skip
    return replace(problem, solver=solver)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= HOLD_REL * max(abs(a), abs(b), 1.0)


def _same_fleet(problem, one_group: bool, plain, skipped) -> None:
    """Instances, pool units and the three objectives as the plain stages leave them; shares
    to the solvers' tolerance (a stage may move them within the objectives it holds)."""
    assert skipped.status is plain.status
    if plain.status is Status.INFEASIBLE:
        return
    assert check_solution(problem, skipped, one_group=one_group) == []
    assert skipped.instances.tolist() == plain.instances.tolist()
    assert skipped.pool_units == plain.pool_units
    np.testing.assert_allclose(skipped.share, plain.share, atol=1e-5)
    for weights in (problem.objective, *problem.then):
        priced = replace(problem, objective=weights)
        values = [fleet_totals(priced, x.instances, x.share, x.pool_units).objective
                  for x in (plain, skipped)]  # fmt: skip
        assert _close(*values), (weights.units, values)


@pytest.mark.parametrize("racing", [False, True], ids=["check-first", "racing"])
@pytest.mark.parametrize("seed", SEEDS)
def test_the_plain_stages_fleet(seed, racing):
    problem, one_group = _lexicographic(seed)
    plain = solve_ilp(problem, one_group=one_group)
    skipped = solve_ilp(_skipping(problem, racing), one_group=one_group)
    _same_fleet(problem, one_group, plain, skipped)


@pytest.mark.parametrize("first_to_end", ["check", "stage"])
def test_either_end_of_a_race_leaves_the_plain_fleet(monkeypatch, first_to_end):
    """Each race forced to one end: the stage waits for its check to end (a proof stops it
    before it starts; a failed check lets it run), or the check waits for the stage, which has
    stopped it by then (it never starts). Both leave the plain stages' fleet; races do run, and
    over the seeds the check both proves and fails (proof of coverage). A check stopped halfway
    happens only in unforced races (the racing case of ``test_the_plain_stages_fleet``)."""
    real_run, real_check = ilp._run, ilp._cannot_improve
    ended = threading.Event()
    verdicts = []

    def stage(*args, running=None, **kwargs):
        if running is None:  # not a raced stage
            return real_run(*args, **kwargs)
        if first_to_end == "check":
            assert ended.wait(timeout=60), "the other end never came"
        try:
            return real_run(*args, running=running, **kwargs)
        finally:
            if first_to_end == "stage":
                ended.set()

    def check(*args, **kwargs):
        if first_to_end == "stage":
            assert ended.wait(timeout=60), "the other end never came"
        try:
            verdicts.append(real_check(*args, **kwargs))
            return verdicts[-1]
        finally:
            if first_to_end == "check":
                ended.set()

    real_race = ilp._stage_against_check
    races = []

    def race(*args, **kwargs):
        ended.clear()
        races.append(args)
        return real_race(*args, **kwargs)

    monkeypatch.setattr(ilp, "_run", stage)
    monkeypatch.setattr(ilp, "_cannot_improve", check)
    monkeypatch.setattr(ilp, "_stage_against_check", race)
    for seed in SEEDS:
        problem, one_group = _lexicographic(seed)
        plain = solve_ilp(problem, one_group=one_group)
        verdicts_before = len(verdicts)
        skipped = solve_ilp(_skipping(problem), one_group=one_group)
        _same_fleet(problem, one_group, plain, skipped)
        assert not skipped.fallback, skipped.fallback  # a stopped stage is not a wrong verdict
        assert first_to_end == "check" or not any(verdicts[verdicts_before:])
    assert len(races) >= 40, len(races)
    if first_to_end == "check":
        assert verdicts.count(True) >= 10 and verdicts.count(False) >= 2, verdicts


@pytest.mark.parametrize("seed", [5, 7, 15])
def test_a_cancelled_solve_stops(seed):
    """``_cancel`` stops a registered HiGHS solve at its first MIP check, also one registered
    after it ran (highspy's own ``cancelSolve`` alone is read by nothing). Warm, as a stage
    runs, presolve is off, so even a tiny problem reaches the MIP's checks; uncancelled, the
    same solve ends with a verdict."""
    problem, _ = _lexicographic(seed)
    statuses = []
    for cancelled in (False, True):
        model = ilp._build(problem, one_group=False, elastic=False)
        running: list = []
        if cancelled:
            ilp._cancel(running)
        ilp._run(model, problem.solver, False, warm=True, running=running)
        statuses.append(model.prob.solverModel.getModelStatus())
    verdicts = {highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kInfeasible}
    assert statuses[0] in verdicts and statuses[1] == highspy.HighsModelStatus.kInterrupt


@pytest.mark.parametrize("seed", [5, 7, 15])
def test_a_solve_reads_its_values_by_its_own_numbering(monkeypatch, seed):
    """A check's model, built from the same PuLP variables and rows while a stage runs,
    renumbers them (PuLP keeps each one's ``index`` on the object); the stage still reads its
    own values. Here every variable is renumbered in reverse between the solve and its
    reading, as another build would; the values are those of an undisturbed solve."""
    problem, _ = _lexicographic(seed)

    def values() -> dict:
        model = ilp._build(problem, one_group=False, elastic=False)
        ilp._run(model, problem.solver, False)
        return {v.name: v.varValue for v in model.prob.variables()}

    undisturbed = values()
    real = ilp._BulkHiGHS.callSolver

    def solve_then_renumber(self, lp):
        real(self, lp)
        for index, variable in enumerate(reversed(lp.variables())):
            variable.index = index

    monkeypatch.setattr(ilp._BulkHiGHS, "callSolver", solve_then_renumber)
    assert len(undisturbed) > 2 and values() == undisturbed


@pytest.mark.parametrize("racing", [False, True], ids=["check-first", "racing"])
def test_checks_that_give_up_leave_the_plain_fleet(monkeypatch, racing):
    """A check that outlives twice the first stage's time gives up and the stage runs
    (``_CHECK_SHARE``): with ten microseconds for every check, on every path (checks before
    their stage, beside it, and beside a first stage started from a baseline's fleet), the
    fleet is the plain stages'. Proof of coverage: checks did run out of time (HiGHS's
    time-limit status; a small one still proves at presolve), and checks beside a first stage
    were stopped at their limit."""
    monkeypatch.setattr(ilp, "_CHECK_SHARE", 0.0)
    monkeypatch.setattr(ilp, "_CHECK_FLOOR_S", 1e-5)
    statuses, stopped = [], []
    real_status, real_verdicts = ilp._SilentHighs.getModelStatus, ilp._ChecksBesideStart.verdicts

    def status(self):
        statuses.append(real_status(self))
        return statuses[-1]

    def beside(self, until):
        found = real_verdicts(self, until)
        stopped.append(ilp._CANCELLED in self.running)
        return found

    monkeypatch.setattr(ilp._SilentHighs, "getModelStatus", status)
    monkeypatch.setattr(ilp._ChecksBesideStart, "verdicts", beside)
    for seed in range(0, 80, 2):
        problem, one_group = _lexicographic(seed)
        plain = solve_ilp(problem, one_group=one_group)
        skipped = solve_ilp(_skipping(problem, racing), one_group=one_group)
        _same_fleet(problem, one_group, plain, skipped)
        if racing and not one_group and plain.status is not Status.INFEASIBLE:
            start = solve_ilp(problem, one_group=True)
            if start.status is not Status.INFEASIBLE:
                _same_fleet(problem, False, solve_ilp(problem, begin=start),
                            solve_ilp(_skipping(problem), begin=start))  # fmt: skip
    assert statuses.count(highspy.HighsModelStatus.kTimeLimit) >= 3, statuses
    assert not racing or any(stopped), stopped


def test_both_verdicts_of_the_check_occur(monkeypatch):
    """Proof of coverage: over the seeds the check proves some stages cannot improve (they are
    skipped) and finds others can (they run)."""
    verdicts = []
    real = ilp._cannot_improve

    def spy(*args, **kwargs):
        verdicts.append(real(*args, **kwargs))
        return verdicts[-1]

    monkeypatch.setattr(ilp, "_cannot_improve", spy)
    for seed in SEEDS:
        problem, one_group = _lexicographic(seed)
        solve_ilp(_skipping(problem, racing=False), one_group=one_group)
    assert verdicts.count(True) >= 40 and verdicts.count(False) >= 3, verdicts


def test_the_next_check_runs_beside_this_one(monkeypatch):
    """Checked before they run, the purchases stage's check runs in a thread beside the cost
    stage's, and where the cost stage cannot improve its verdict is used as is: the stage is
    checked once, on another thread. (Solves of one model only: a homogeneous or split solve
    checks each of its models.)"""
    calls = []
    real = ilp._cannot_improve

    def spy(prob, settings, *args, **kwargs):
        verdict = real(prob, settings, *args, **kwargs)
        calls.append((settings.label.rsplit(" ", 2)[-2], threading.get_ident(), verdict))
        return verdict

    monkeypatch.setattr(ilp, "_cannot_improve", spy)
    used_as_is = 0
    for seed in SEEDS:
        problem, one_group = _lexicographic(seed)
        calls.clear()
        solve_ilp(_skipping(problem, racing=False), one_group=one_group)
        stage_2 = [call for call in calls if call[0] == "2"]
        if len(stage_2) != 1 or not stage_2[0][2]:
            continue
        stage_3 = [call for call in calls if call[0] == "3"]
        assert len(stage_3) == 1, calls
        assert stage_3[0][1] != stage_2[0][1], calls
        used_as_is += 1
    assert used_as_is >= 20, used_as_is


def _twins(cost_usd_per_hour: list, devices: list) -> IlpProblem:
    """Three requests/s on two columns alike in power and capability, energy then cost then
    purchases: energy cannot tell them apart, so the first stage keeps the first column and
    the later stages decide by price and devices."""
    columns = make_columns(
        np.array([[1.0], [1.0]]), cost_usd_per_hour=cost_usd_per_hour, idle_w=[100.0, 100.0],
        busy_w=[200.0, 200.0], devices=devices,
    )  # fmt: skip
    cost = Objective(ObjectiveKind.COST, 1.0, 0.0, "usd_per_hour")
    return IlpProblem(
        classes=make_classes([3.0]), columns=columns, objective=ENERGY, then=(cost, PURCHASES),
        solver=SolverSettings(skip_proven_stages=True),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("stage", "cost_usd_per_hour", "devices"),
    [("stage 2 (usd_per_hour)", [3.0, 2.0], [1, 1]), ("stage 3 (purchases)", [2.0, 2.0], [2, 1])],
)
def test_a_stage_that_improves_runs(monkeypatch, stage, cost_usd_per_hour, devices):
    """Two columns alike in power and capability, the first dearer (or on more devices): energy
    cannot tell them apart and the first stage keeps the first column; the check must find the
    later stage can improve, and the stage must move all three instances to the second."""
    verdicts = []
    real = ilp._cannot_improve

    def spy(prob, settings, *args, **kwargs):
        verdicts.append((settings.label, real(prob, settings, *args, **kwargs)))
        return verdicts[-1][1]

    monkeypatch.setattr(ilp, "_cannot_improve", spy)
    found = solve_ilp(_twins(cost_usd_per_hour, devices))
    assert (f"fleet, {stage}", False) in verdicts, verdicts
    assert found.instances.tolist() == [0, 3]


def test_a_proof_beside_a_better_fleet_is_not_trusted(monkeypatch):
    """A check that "proves" no cheaper fleet exists while its stage, raced beside it, returns
    one: the verdict contradicts itself, so the problem is solved again by the other solver
    and the notes say why (here the check is made to lie, after the stage has ended)."""
    real_run = ilp._run
    ended = threading.Event()

    def stage(*args, running=None, **kwargs):
        try:
            return real_run(*args, running=running, **kwargs)
        finally:
            if running is not None:
                ended.set()

    def lying_check(*args, **kwargs):
        assert ended.wait(timeout=60), "the stage never ended"
        return True

    monkeypatch.setattr(ilp, "_run", stage)
    monkeypatch.setattr(ilp, "_cannot_improve", lying_check)
    found = solve_ilp(_twins([3.0, 2.0], [1, 1]))
    assert "proved that no fleet beats" in found.fallback and found.solver == "cbc"
    assert found.instances.tolist() == [0, 3]


def test_cbc_runs_every_stage(monkeypatch):
    """The check is HiGHS's: with CBC the flag changes nothing and no check runs."""
    monkeypatch.setattr(ilp, "_cannot_improve", lambda *a, **k: pytest.fail("check ran"))
    problem, one_group = _lexicographic(5)
    cbc = replace(problem, solver=replace(problem.solver, name=SolverName.CBC))
    assert solve_ilp(_skipping(cbc), one_group=one_group).status is not None


def test_the_first_checks_run_beside_a_started_first_stage(monkeypatch):
    """Started from a baseline's fleet (the homogeneous optimum, on the same columns), the
    cost stage's checks run beside the first stage: where that stage keeps its start their
    verdicts are used, else they are cancelled and posed again. The fleet is the plain stages'
    either way, and both outcomes occur over the seeds (proof of coverage)."""
    outcomes = []
    real = ilp._ChecksBesideStart.verdicts

    def spy(self, until):
        found = real(self, until)
        outcomes.append(found is not None)
        return found

    monkeypatch.setattr(ilp._ChecksBesideStart, "verdicts", spy)
    used = cancelled = 0
    for seed in SEEDS:
        problem, one_group = _lexicographic(seed)
        if one_group:
            continue
        start = solve_ilp(problem, one_group=True)
        if start.status is Status.INFEASIBLE:
            continue
        plain = solve_ilp(problem, begin=start)
        outcomes.clear()
        skipped = solve_ilp(_skipping(problem), begin=start)
        assert len(outcomes) <= 1, outcomes
        used += outcomes.count(True)
        cancelled += outcomes.count(False)
        assert check_solution(problem, skipped) == []
        assert skipped.instances.tolist() == plain.instances.tolist(), seed
        assert skipped.pool_units == plain.pool_units
        for weights in (problem.objective, *problem.then):
            priced = replace(problem, objective=weights)
            values = [fleet_totals(priced, x.instances, x.share, x.pool_units).objective
                      for x in (plain, skipped)]  # fmt: skip
            assert _close(*values), (seed, weights.units, values)
    assert used >= 10 and cancelled >= 3, (used, cancelled)
