"""A Bayesian search over knobs, whatever a trial evaluates: an Optuna study in a storage that
several worker processes (and later, resumed runs) share, stopping at a total number of
complete trials (``worker`` runs the trials, ``storage`` keeps the study, ``trials`` tables it).

An infeasible design that was not evaluated is told with the worst value (+inf when
minimizing) and its constraint values: TPE and NSGA-II rank infeasible trials by their total
violation and never by value, the GP models each constraint (and fits the objective there
at the worst finite value seen), and Optuna's best trials and Pareto front leave infeasible
trials out; so every sampler learns to avoid the region and no placeholder value is ever
reported as a result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from optimizer.codesign.samplers import SAMPLERS, check_sampler
from optimizer.codesign.trials import summarize, trials_frame
from optimizer.errors import HetplanError

if TYPE_CHECKING:
    import optuna

__all__ = [
    "Evaluator",
    "Knob",
    "SearchError",
    "SearchResult",
    "SearchSettings",
    "TrialOutcome",
    "open_study",
    "run_search",
    "trials_frame",
]

DIRECTIONS = ("minimize", "maximize")


class SearchError(HetplanError, ValueError):
    """Search settings that cannot run, or a worker that stopped with an error."""


@dataclass(frozen=True)
class Knob:
    """One searched parameter: a range (``low``..``high``, optionally ``step``, ``log``,
    ``integer``) or, when ``choices`` is set, a categorical choice."""

    name: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple[str | int | float | bool, ...] | None = None

    def __post_init__(self) -> None:
        where = f"knob {self.name}"
        if self.choices is not None:
            if not self.choices or len(set(self.choices)) != len(self.choices):
                raise SearchError(f"{where}: choices must be distinct and not empty")
            if self.low is not None or self.high is not None or self.step is not None:
                raise SearchError(f"{where}: choices exclude low, high and step")
            return
        if self.low is None or self.high is None or not self.low <= self.high:
            raise SearchError(f"{where}: needs low <= high, got {self.low}..{self.high}")
        if self.log and (self.low <= 0 or self.step is not None):
            raise SearchError(f"{where}: a log range needs low > 0 and no step")
        if self.step is not None and not self.step > 0:
            raise SearchError(f"{where}: step must be > 0, got {self.step}")
        whole = (self.low, self.high) + ((self.step,) if self.step is not None else ())
        if self.integer and any(float(v) != int(v) for v in whole):
            raise SearchError(f"{where}: an integer knob needs whole low, high and step")

    def suggest(self, trial: optuna.Trial) -> str | int | float | bool:
        """This knob's value for ``trial`` (its sampler's, or the queued trial's)."""
        if self.choices is not None:
            return trial.suggest_categorical(self.name, self.choices)
        if self.integer:
            return trial.suggest_int(
                self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)


@dataclass(frozen=True)
class TrialOutcome:
    """What evaluating one design gave: ``values`` one per objective (None: not evaluated,
    the design breaks a constraint), ``constraints`` name -> value (<= 0 feasible) and
    ``attrs`` JSON-able facts stored with the trial (design, fleet summary, objectives)."""

    values: tuple[float, ...] | None
    constraints: dict[str, float]
    attrs: dict[str, object]


class Evaluator(Protocol):
    """Evaluates a design (knob name -> value); picklable, built once per worker process."""

    def __call__(self, params: dict[str, object]) -> TrialOutcome: ...


@dataclass(frozen=True)
class SearchSettings:
    """One search: the study's name and objectives, the knobs, the total trials, the workers
    and sampler, and where the study lives (see ``storage.resolve_storage``). ``heartbeat_s``
    and ``grace_s`` say how often a running trial beats and after how long without a beat
    it counts as dead (failed and re-queued)."""

    name: str
    directions: tuple[str, ...]
    objective_names: tuple[str, ...]
    knobs: tuple[Knob, ...]
    n_trials: int
    workers: int = 1
    sampler: str = "tpe"
    seed: int = 0
    storage: str | None = None
    out: Path = Path(".")
    heartbeat_s: int = 10
    grace_s: int = 60

    def __post_init__(self) -> None:
        if not self.directions or any(d not in DIRECTIONS for d in self.directions):
            raise SearchError(
                f"directions: each must be minimize or maximize, got {self.directions}"
            )
        if len(self.objective_names) != len(self.directions):
            raise SearchError(
                f"objective_names: {len(self.objective_names)} names for "
                f"{len(self.directions)} directions"
            )
        names = [k.name for k in self.knobs]
        if len(set(names)) != len(names):
            raise SearchError(
                f"knobs: names repeat: {sorted(n for n in set(names) if names.count(n) > 1)}"
            )
        for key in ("n_trials", "workers", "heartbeat_s", "grace_s"):
            if not getattr(self, key) >= 1:
                raise SearchError(f"{key}: must be >= 1, got {getattr(self, key)}")
        if self.sampler not in SAMPLERS:
            check_sampler(self.sampler)  # names the samplers; torch is checked when run


@dataclass(frozen=True)
class SearchResult:
    """The study after a run: trials by state (all workers and runs), the best feasible
    trials (the Pareto front for several objectives; see ``trials.best_trials``) and this
    run's wall time. ``n_running`` trials belong to other processes, or to dead ones not
    yet past the grace period."""

    name: str
    storage: str
    n_trials: int
    n_complete: int
    n_feasible: int
    n_infeasible: int
    n_failed: int
    n_running: int
    best: tuple[dict, ...]
    wall_s: float
    study: optuna.Study = field(repr=False, compare=False)


def open_study(settings: SearchSettings, *, sampler=None) -> optuna.Study:
    """The study ``settings`` names, created or loaded (to resume) from its storage.

    Raises:
        StorageError: the storage cannot be opened; SearchError: the stored study has other
            objectives.
    """
    import optuna

    from optimizer.codesign.storage import open_storage, quietly, resolve_storage

    spec = resolve_storage(settings.storage, settings.out)
    if settings.storage is None:
        Path(settings.out).mkdir(parents=True, exist_ok=True)
    storage = open_storage(spec, heartbeat_s=settings.heartbeat_s, grace_s=settings.grace_s)
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "Using an existing study" line
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=settings.name,
            directions=list(settings.directions),
            sampler=sampler,
            load_if_exists=True,
        )
    finally:
        optuna.logging.set_verbosity(level)
    directions = tuple(d.name.lower() for d in study.directions)
    names = tuple(study.metric_names or settings.objective_names)
    if (directions, names) != (settings.directions, settings.objective_names):
        raise SearchError(
            f"storage {spec.text}: study {settings.name!r} optimizes {_pairs(names, directions)}, "
            f"not {_pairs(settings.objective_names, settings.directions)}; use another study "
            "name or storage"
        )
    if study.metric_names is None:
        quietly(study.set_metric_names, list(settings.objective_names))
    return study


def _pairs(names, directions) -> str:
    return ", ".join(f"{d} {n}" for n, d in zip(names, directions, strict=True))


def run_search(
    settings: SearchSettings,
    evaluator: Evaluator,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> SearchResult:
    """Run (or resume) the search until its study holds ``settings.n_trials`` complete
    trials, on ``settings.workers`` processes.

    Args:
        settings: the search.
        evaluator: evaluates one design; pickled once to each worker process.
        progress: called with (complete trials in the study, ``n_trials``) after each trial.

    Returns:
        The study's counts and best trials.

    Raises:
        SamplerError, StorageError, SearchError: settings that cannot run, or a worker that
            failed with a HetplanError (its message). Other errors of a worker are raised as
            RuntimeError with the worker's traceback.
    """
    from optimizer.codesign.storage import resolve_storage
    from optimizer.codesign.worker import run_workers, work

    start = time.perf_counter()
    check_sampler(settings.sampler)
    study = open_study(settings)
    run_index = _record_run(study, settings)
    n_done = summarize(study).n_complete

    def report() -> None:
        nonlocal n_done
        n_done += 1
        if progress is not None:
            progress(n_done, settings.n_trials)

    if settings.workers == 1:  # in this process: same seed, same trials
        work(settings, evaluator, rank=0, run_index=run_index, report=report)
    else:
        run_workers(settings, evaluator, run_index=run_index, report=report)
    counts = summarize(study)
    return SearchResult(
        name=settings.name,
        storage=resolve_storage(settings.storage, settings.out).text,
        wall_s=time.perf_counter() - start,
        study=study,
        **{f.name: getattr(counts, f.name) for f in fields(counts)},
    )


def _hetplan_version() -> str | None:
    """The installed hetplan's version (None when run from a source tree never installed);
    read from the package metadata, as the package root sits above every layer."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hetplan")
    except PackageNotFoundError:
        return None


def _record_run(study: optuna.Study, settings: SearchSettings) -> int:
    """Record this run's seed, sampler and versions in ``study.user_attrs``; its index."""
    import optuna

    runs = list(study.user_attrs.get("runs", []))
    facts = {
        "seed": settings.seed,
        "sampler": settings.sampler,
        "optuna_version": optuna.__version__,
        "hetplan_version": _hetplan_version(),
    }
    started = datetime.now(UTC).isoformat(timespec="seconds")
    runs.append(
        facts | {"workers": settings.workers, "n_trials": settings.n_trials, "started": started}
    )
    for key, value in facts.items():
        study.set_user_attr(key, value)
    study.set_user_attr("runs", runs)
    return len(runs) - 1
