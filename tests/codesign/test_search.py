"""The co-design search engine on cheap analytic evaluators (``synthetic``): storages (SQLite,
journal file, a real PostgreSQL server), workers sharing a study, a killed run resumed,
determinism, infeasible designs, the Pareto front and TPE against a brute-force optimum."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from optimizer.codesign.samplers import SamplerError, check_sampler
from optimizer.codesign.search import (
    Knob,
    SearchError,
    SearchSettings,
    TrialOutcome,
    open_study,
    run_search,
    trials_frame,
)
from optimizer.codesign.storage import StorageError, resolve_storage
from optimizer.codesign.worker import TOLD_DIGITS
from optimizer.errors import HetplanError
from tests.codesign import postgres
from tests.codesign.synthetic import (
    BOWL_KNOBS,
    GRID_KNOBS,
    KIND_OFFSET,
    Bowl,
    GridCost,
    NoisyPlateau,
    TwoObjectives,
    bowl_budget,
    brute_force_optimum,
    dominates,
    evaluations_to_reach,
    killable_settings,
)

REPO = Path(__file__).resolve().parents[2]


def bowl_settings(tmp_path: Path, **changes) -> SearchSettings:
    base = SearchSettings(
        name="bowl",
        directions=("minimize",),
        objective_names=("loss",),
        knobs=BOWL_KNOBS,
        n_trials=20,
        out=tmp_path / "out",
    )
    return replace(base, **changes)


def history(study: optuna.Study) -> list[tuple[int, dict, tuple | None]]:
    return [(t.number, t.params, t.values and tuple(t.values)) for t in study.trials]


# --- settings and knobs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("knob", "field"),
    [
        (dict(low=2.0, high=1.0), "low <= high"),
        (dict(low=0.0, high=1.0, log=True), "log"),
        (dict(low=1.0, high=8.0, log=True, step=1.0), "log"),
        (dict(low=0.0, high=1.0, step=0.0), "step"),
        (dict(low=0.0, high=4.5, integer=True), "integer"),
        (dict(choices=("a", "a")), "choices"),
        (dict(choices=("a", "b"), low=0.0), "choices"),
    ],
)
def test_knob_rejects_bad_range_naming_the_knob(knob, field):
    with pytest.raises(SearchError, match=rf"knob decode\.stacks: .*{field}"):
        Knob("decode.stacks", **knob)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (dict(sampler="cmaes"), "sampler"),
        (dict(directions=("down",)), "directions"),
        (dict(objective_names=("a", "b")), "objective_names"),
        (dict(n_trials=0), "n_trials"),
        (dict(workers=0), "workers"),
        (dict(knobs=(Knob("x", low=0, high=1), Knob("x", low=0, high=2))), "knobs"),
    ],
)
def test_settings_reject_bad_field_with_exit_code_2(tmp_path, change, field):
    with pytest.raises(HetplanError, match=f"^{field}") as caught:
        bowl_settings(tmp_path, **change)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("storage", "kind", "text"),
    [
        (None, "rdb", "sqlite:///OUT/codesign.db"),
        ("journal:runs/j", "journal", "journal:runs/j"),
        ("runs/codesign.jsonl", "journal", "journal:runs/codesign.jsonl"),
        ("codesign.log", "journal", "journal:codesign.log"),
        ("postgresql+psycopg://me:secret@db/h", "rdb", "postgresql+psycopg://me:***@db/h"),
    ],
)
def test_resolve_storage_kinds_and_hides_password(storage, kind, text):
    spec = resolve_storage(storage, Path("OUT"))
    assert (spec.kind, spec.text) == (kind, text)


def test_resolve_storage_rejects_a_plain_name():
    with pytest.raises(StorageError, match="storage: 'codesign.db' is neither"):
        resolve_storage("codesign.db", Path("."))


def test_unreachable_postgres_is_a_one_line_storage_error(tmp_path):
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -e '.[test]')")
    port = postgres._free_port()  # nothing listens there
    settings = bowl_settings(tmp_path, storage=f"postgresql+psycopg://u:pw@127.0.0.1:{port}/x")
    with pytest.raises(StorageError, match=r"^storage postgresql\+psycopg://u:\*\*\*@") as err:
        open_study(settings)
    assert "\n" not in str(err.value) and "pw" not in str(err.value)


def test_open_study_refuses_a_study_with_other_objectives(tmp_path):
    open_study(bowl_settings(tmp_path))
    other = bowl_settings(tmp_path, directions=("maximize",))
    with pytest.raises(SearchError, match="optimizes minimize loss, not maximize loss"):
        open_study(other)


def test_search_module_imports_without_optuna():
    """The lead's modules import the search types at load time; Optuna loads only to run."""
    code = (
        "import sys, optimizer.codesign.search as s, optimizer.codesign.trials; "
        "print(sorted({'optuna', 'pandas', 'sqlalchemy'} & set(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"


# --- samplers -------------------------------------------------------------------------------


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(_has_torch(), reason="torch is installed: the gp sampler can run")
def test_gp_sampler_without_torch_is_a_one_line_error_naming_torch(tmp_path):
    with pytest.raises(SamplerError, match="^sampler gp needs the optional package torch") as e:
        run_search(bowl_settings(tmp_path, sampler="gp"), Bowl())
    assert e.value.exit_code == 2 and "\n" not in str(e.value)
    assert not (tmp_path / "out").exists()  # refused before any storage was opened


@pytest.mark.skipif(not _has_torch(), reason="the gp sampler needs torch, not installed here")
def test_gp_sampler_finds_the_bowl_floor_and_respects_the_constraint(tmp_path):
    check_sampler("gp")
    result = run_search(bowl_settings(tmp_path, sampler="gp", n_trials=25), Bowl())
    (best,) = result.best
    assert best["values"]["loss"] < 0.05  # the floor is 0 at (0.3, 0.6, a)
    assert result.n_infeasible + result.n_feasible == 25


@pytest.mark.parametrize("sampler", ["tpe", "nsga2", "random"])
def test_each_sampler_runs_seeded_and_records_itself(tmp_path, sampler):
    journal = f"journal:{tmp_path / 'first.log'}"
    settings = bowl_settings(tmp_path, sampler=sampler, seed=11, n_trials=12, storage=journal)
    study = run_search(settings, Bowl()).study
    assert study.user_attrs["sampler"] == sampler and study.user_attrs["seed"] == 11
    assert study.user_attrs["optuna_version"] == optuna.__version__
    import optimizer

    assert study.user_attrs["hetplan_version"] == optimizer.__version__
    again = run_search(replace(settings, storage=f"{tmp_path / 'again.log'}"), Bowl()).study
    assert history(again) == history(study)


# --- trials, infeasible designs, best trials ------------------------------------------------


def test_infeasible_designs_are_recorded_with_their_constraint_values(tmp_path):
    result = run_search(bowl_settings(tmp_path, n_trials=30, sampler="random"), Bowl())
    frame = trials_frame(result.study)
    assert list(frame["number"]) == list(range(30)) and set(frame["state"]) == {"complete"}
    for row in frame.to_dict("records"):
        params = {k: row[f"param.{k}"] for k in ("x", "y", "kind")}
        budget = bowl_budget(params)  # recomputed from the stored design
        assert row["constraint.budget"] == pytest.approx(budget, abs=1e-12)
        assert row["feasible"] == (budget <= 0)
        if budget > 0:  # not evaluated: no value shown, the design kept
            assert math.isnan(row["loss"]) and row["design.x"] == params["x"]
        else:
            loss = (
                (params["x"] - 0.3) ** 2 + (params["y"] - 0.6) ** 2 + KIND_OFFSET[params["kind"]]
            )
            assert row["loss"] == float(f"{loss:.{TOLD_DIGITS}g}")  # as told to the sampler
            assert row["objectives.loss"] == pytest.approx(loss, rel=1e-12)
    n_infeasible = int((~frame["feasible"]).sum())
    assert 0 < n_infeasible < 30  # both kinds occur with this seed
    assert (result.n_trials, result.n_complete) == (30, 30)
    assert (result.n_feasible, result.n_infeasible) == (30 - n_infeasible, n_infeasible)
    (best,) = result.best
    assert best["values"]["loss"] == frame.loc[frame["feasible"], "loss"].min()
    assert best["constraints"]["budget"] <= 0


def test_tpe_learns_to_avoid_infeasible_designs(tmp_path):
    """Infeasible trials steer TPE: after its random start it proposes fewer of them than
    random search does on the same space and seed."""
    counts = {}
    for sampler in ("tpe", "random"):
        journal = f"journal:{tmp_path / sampler}.jsonl"
        settings = bowl_settings(tmp_path, sampler=sampler, n_trials=60, storage=journal)
        frame = trials_frame(run_search(settings, Bowl()).study)
        counts[sampler] = int((~frame.loc[frame["number"] >= 10, "feasible"]).sum())
    assert counts["tpe"] < counts["random"]


def test_pareto_front_is_the_feasible_non_dominated_trials(tmp_path):
    settings = bowl_settings(
        tmp_path,
        directions=("minimize", "minimize"),
        objective_names=("x_usd", "y_j"),
        n_trials=50,
        sampler="random",
    )
    result = run_search(settings, TwoObjectives())
    frame = trials_frame(result.study)
    feasible = frame[frame["feasible"]]
    points = {row.number: (row.x_usd, row.y_j) for row in feasible.itertuples()}
    front = {n for n, p in points.items() if not any(dominates(q, p) for q in points.values())}
    assert {b["number"] for b in result.best} == front and len(front) >= 3
    evaluated_infeasible = frame[~frame["feasible"] & frame["x_usd"].notna()]
    assert any(  # the floor's designs would enter an unconstrained front: exclusion matters
        dominates((row.x_usd, row.y_j), points[n])
        for row in evaluated_infeasible.itertuples()
        for n in front
    )
    assert frame["x_usd"].isna().any()  # and some designs were not evaluated at all
    assert [b["values"]["x_usd"] for b in result.best] == sorted(points[n][0] for n in front)


def test_an_evaluator_error_fails_its_trial_and_stops_the_search(tmp_path):
    with pytest.raises(ZeroDivisionError):
        run_search(bowl_settings(tmp_path), Broken())
    (trial,) = open_study(bowl_settings(tmp_path)).trials
    assert trial.state == TrialState.FAIL


def test_no_values_without_a_broken_constraint_is_an_evaluator_bug(tmp_path):
    with pytest.raises(ValueError, match="no values but no broken constraint"):
        run_search(bowl_settings(tmp_path), Unevaluated())


class Broken:
    def __call__(self, params):
        return 1 / 0


class Unevaluated:
    def __call__(self, params):
        return TrialOutcome(None, {"budget": -1.0}, {})


class Refusing:
    """Fails as an input error would, in a worker process."""

    def __call__(self, params):
        raise HetplanError("catalogs/x.toml: h100: power_w: must be > 0, got 0")


def test_a_worker_input_error_comes_back_as_one_line(tmp_path):
    with pytest.raises(SearchError, match=r"^worker \d: catalogs/x.toml: h100: power_w"):
        run_search(bowl_settings(tmp_path, workers=2), Refusing())


# --- determinism and resume ----------------------------------------------------------------


def test_same_seed_one_worker_gives_identical_trials(tmp_path):
    """Past TPE's ten random start trials, so that its model's proposals are compared too."""
    runs = []
    for seed, name in ((5, "a"), (5, "b"), (6, "c")):
        settings = bowl_settings(
            tmp_path, seed=seed, n_trials=15, storage=f"{tmp_path / name}.log"
        )
        runs.append(run_search(settings, Bowl()).study)
    assert history(runs[0]) == history(runs[1])
    assert history(runs[0]) != history(runs[2])  # the seed is used


def test_float_noise_in_the_values_does_not_move_the_search(tmp_path):
    """Values equal but for 10⁻¹³ of float noise (a solver's path) give the same trials: the
    told values keep TOLD_DIGITS significant digits, so ties stay ties."""
    runs = []
    for noise_seed in (1, 2):
        settings = bowl_settings(
            tmp_path, seed=5, n_trials=40, storage=f"{tmp_path / str(noise_seed)}.log"
        )
        runs.append(run_search(settings, NoisyPlateau(noise_seed)).study)
    values = [t.values[0] for t in runs[0].trials if t.values and math.isfinite(t.values[0])]
    steps = {round(v, 6) for v in values}
    assert len(values) > len(steps)  # designs tie on a step, so their order is the noise's
    assert [t.params for t in runs[0].trials] == [t.params for t in runs[1].trials]
    assert history(runs[0]) == history(runs[1])
    assert all(v == float(f"{v:.{TOLD_DIGITS}g}") for v in values)


def test_resume_keeps_completed_trials_and_does_not_replay_the_random_start(tmp_path):
    settings = bowl_settings(tmp_path, n_trials=8, sampler="random")
    first = history(run_search(settings, Bowl()).study)
    result = run_search(replace(settings, n_trials=14), Bowl())
    resumed = history(result.study)
    assert resumed[:8] == first and result.n_complete == 14
    assert all(t[1] != resumed[8][1] for t in first)  # a fresh seed for the second run
    assert [r["seed"] for r in result.study.user_attrs["runs"]] == [0, 0]
    assert run_search(settings, Bowl()).n_complete == 14  # already full: nothing runs


# --- storages and workers ------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_url():
    reason = postgres.why_not_available()
    if reason is not None:
        pytest.skip(f"PostgreSQL test skipped: {reason}")
    with postgres.postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "journal", "postgresql"])
def storage(request, tmp_path):
    if request.param == "sqlite":
        return None
    if request.param == "journal":
        return f"journal:{tmp_path / 'codesign.jsonl'}"
    url = request.getfixturevalue("postgres_url")
    return url


def test_two_workers_share_one_study_for_exactly_n_trials(tmp_path, storage, request):
    name = f"shared-{request.node.callspec.id}-{time.time_ns()}"  # one server, fresh studies
    settings = bowl_settings(tmp_path, name=name, storage=storage, workers=2, n_trials=14)
    seen = []
    result = run_search(settings, Bowl(sleep_s=0.05), progress=lambda n, total: seen.append(n))
    trials = result.study.trials
    assert [t.number for t in trials] == list(range(14))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert seen == list(range(1, 15))
    if storage is None:
        assert result.storage == f"sqlite:///{tmp_path / 'out' / 'codesign.db'}"


@pytest.mark.parametrize("journal", [False, True], ids=["sqlite", "journal"])
def test_killed_run_resumes_with_running_trials_failed_and_requeued(tmp_path, journal):
    out = tmp_path / "out"
    storage = f"journal:{tmp_path / 'codesign.jsonl'}" if journal else f"sqlite:///{out}/k.db"
    out.mkdir()
    settings = killable_settings(storage, str(out))
    study = open_study(settings)  # created here, so that polling it races with nothing
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.codesign.synthetic", storage, str(out)],
        cwd=REPO,
        start_new_session=True,  # its workers share its process group: all are killed
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _evaluating(study.get_trials(), min_done=4):
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    before = open_study(settings).trials
    done = {t.number: (t.params, t.values) for t in before if t.state == TrialState.COMPLETE}
    running = {t.number: t.params for t in before if t.state == TrialState.RUNNING}
    assert len(done) >= 4 and running, "the run was not killed mid-trial"

    result = run_search(replace(settings, workers=1), Bowl())
    after = {t.number: t for t in result.study.trials}
    assert all((after[n].params, after[n].values) == kept for n, kept in done.items())
    assert all(after[n].state == TrialState.FAIL for n in running)
    retries = {t.system_attrs.get("failed_trial"): t for t in after.values()}
    for number, params in running.items():  # a kill while sampling leaves some params
        assert retries[number].state == TrialState.COMPLETE
        assert params.items() <= retries[number].params.items()
    frame = trials_frame(result.study)
    assert set(frame.loc[frame["retry_of"].notna(), "retry_of"]) == set(running)
    assert result.n_complete == settings.n_trials and result.n_failed == len(running)


def _evaluating(trials, *, min_done: int) -> bool:
    """Enough trials complete and some running with all their knobs sampled: a kill now
    hits trials being evaluated, which have beaten (a kill between creating a trial and its
    first beat, a millisecond, leaves an RDB trial that never goes stale)."""
    running = [t for t in trials if t.state == TrialState.RUNNING]
    n_done = sum(t.state == TrialState.COMPLETE for t in trials)
    return n_done >= min_done and running and all(len(t.params) == 3 for t in running)


# --- search quality -------------------------------------------------------------------------


def test_tpe_reaches_within_1_percent_of_the_grid_optimum_in_100_trials(tmp_path):
    """On 500 discrete designs (a constraint cutting through the bowl), the median over five
    seeds of the trials TPE needs to come within 1 % of the brute-force optimum is <= 100."""
    optimum = brute_force_optimum(GRID_KNOBS, GridCost())
    needed = []
    for seed in range(5):
        settings = SearchSettings(
            name=f"grid-{seed}",
            directions=("minimize",),
            objective_names=("cost_usd",),
            knobs=GRID_KNOBS,
            n_trials=100,
            seed=seed,
            storage=f"journal:{tmp_path / 'grid.jsonl'}",
        )
        frame = trials_frame(run_search(settings, GridCost()).study)
        needed.append(evaluations_to_reach(frame, "cost_usd", optimum * 1.01) or math.inf)
    assert sorted(needed)[2] <= 100, needed


def test_best_designs_tie_as_the_report_ties_them():
    """Optuna's raw Pareto front keeps a trial 3.4e-9 $/h cheaper than another and worse on
    energy (summation order, not a design difference); compared to 9 significant digits, as
    the report compares them, the cheaper one is dominated, and an exact repeat of the first
    counts once: the run names the report's two designs, not four."""
    from optimizer.codesign.trials import best_trials

    study = optuna.create_study(directions=["minimize", "minimize"])
    study.set_metric_names(["cost", "energy"])
    for values in ([15.6684054453, 25.75], [15.66840544186, 25.86], [16.0, 20.0],
                   [15.6684054453, 25.75]):  # fmt: skip
        study.add_trial(optuna.trial.create_trial(values=values))
    assert len(study.best_trials) == 4
    assert [t["number"] for t in best_trials(study)] == [0, 2]
