"""The trial loop of a search worker, and the processes that run it side by side.

A worker opens the study by its storage, builds its sampler (seed + rank) and repeats: fail
stale trials (re-queueing them), take a free slot by asking a trial (a re-queued one first),
start its heartbeat, sample its knobs, evaluate it, set its constraints and attributes and
tell its values. A slot is free while the complete and running trials are fewer than
``n_trials``. The workers of one run take slots and sample under one lock, so they run
exactly ``n_trials`` and each samples knowing the others' running points (TPE's constant
liar); independent runs sharing a database may overshoot by a trial each.
"""

from __future__ import annotations

import math
import multiprocessing
import queue
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from functools import partial

from optimizer.codesign.samplers import make_sampler
from optimizer.codesign.search import SearchError, SearchSettings, TrialOutcome, open_study
from optimizer.codesign.storage import fail_stale_trials
from optimizer.errors import HetplanError

SEED_STRIDE = 1_000_000
"""Seed offset per resumed run, so that a resumed run's samplers do not replay the first
run's random start: worker ``rank`` of run ``k`` is seeded ``seed + rank + k * SEED_STRIDE``."""
POLL_S = 0.2
"""How often an idle worker looks again while others hold the last slots."""


def run_workers(settings: SearchSettings, evaluator, *, run_index: int, report) -> None:
    """Run ``settings.workers`` spawned worker processes; ``report()`` once per trial any of
    them tells; stop them all at the first error and raise it.

    Raises:
        SearchError: a worker failed with a HetplanError; RuntimeError: with another error
            (its traceback) or died.
    """
    context = multiprocessing.get_context("spawn")  # fresh interpreters, safe with threads
    lock, stop, events = context.Lock(), context.Event(), context.Queue()
    workers = [
        context.Process(
            target=_worker_main,
            args=(settings, evaluator, rank, run_index, lock, stop, events),
            daemon=True,
        )
        for rank in range(settings.workers)
    ]
    for worker in workers:
        worker.start()
    error = None
    while any(w.is_alive() for w in workers) or not events.empty():
        try:
            kind, rank, detail = events.get(timeout=POLL_S)
        except queue.Empty:
            continue
        if kind == "trial":
            report()
        elif error is None:
            error = (kind, rank, detail)
            stop.set()
    for worker in workers:
        worker.join()
    if error is not None:
        kind, rank, detail = error
        if kind == "hetplan":
            raise SearchError(f"worker {rank}: {detail}")
        raise RuntimeError(f"worker {rank} failed:\n{detail}")
    dead = [f"worker {r}: exit code {w.exitcode}" for r, w in enumerate(workers) if w.exitcode]
    if dead:
        raise RuntimeError("; ".join(dead))


def _worker_main(settings, evaluator, rank, run_index, lock, stop, events) -> None:
    """A worker process: run trials, post an event per trial and any error."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one study line per run, not worker
    try:
        report = partial(events.put, ("trial", rank, None))
        work(settings, evaluator, rank=rank, run_index=run_index, lock=lock, stop=stop,
             report=report)  # fmt: skip
    except HetplanError as exc:
        events.put(("hetplan", rank, str(exc)))
    except BaseException:
        events.put(("error", rank, traceback.format_exc()))


def work(
    settings: SearchSettings,
    evaluator,
    *,
    rank: int,
    run_index: int,
    report: Callable[[], None],
    lock=None,
    stop=None,
) -> None:
    """Run trials until the study holds ``n_trials`` complete ones or ``stop`` is set.

    While the other slots are all taken by running trials, wait for them to end or to go
    stale (then re-queued here); give up once nothing changed for the grace period and two
    beats: what still runs then beats, so it belongs to a live process.
    """
    from optuna.trial import TrialState

    seed = settings.seed + rank + run_index * SEED_STRIDE
    sampler = make_sampler(settings.sampler, seed=seed, parallel=settings.workers > 1)
    study = open_study(settings, sampler=sampler)
    patience_s = settings.grace_s + 2 * settings.heartbeat_s
    seen, seen_at = None, time.monotonic()
    while stop is None or not stop.is_set():
        with lock if lock is not None else nullcontext():
            fail_stale_trials(study)
            states = [t.state for t in study.get_trials(deepcopy=False)]
            n_complete = states.count(TrialState.COMPLETE)
            n_running = states.count(TrialState.RUNNING)
            if n_complete >= settings.n_trials:
                return
            started = None
            if n_complete + n_running < settings.n_trials:
                started = _start_trial(study, settings)
        if started is not None:
            _finish_trial(study, *started, settings, evaluator)
            report()
        elif (n_complete, n_running) != seen:
            seen, seen_at = (n_complete, n_running), time.monotonic()
        elif time.monotonic() - seen_at > patience_s:
            return
        else:
            time.sleep(POLL_S)


def _start_trial(study, settings: SearchSettings):
    """Ask a trial, start its heartbeat, sample its knobs: (trial, heartbeat, params)."""
    from optuna.trial import TrialState

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)  # we beat
        # the GP fits designs not evaluated at the worst finite value, as intended
        warnings.filterwarnings("ignore", "Clip non-finite values", UserWarning)
        trial = study.ask()
        heartbeat = _Heartbeat(study, trial, settings.heartbeat_s)
        try:
            params = {knob.name: knob.suggest(trial) for knob in settings.knobs}
        except BaseException:
            heartbeat.stop()
            study.tell(trial, state=TrialState.FAIL)
            raise
    return trial, heartbeat, params


def _finish_trial(study, trial, heartbeat, params, settings, evaluator) -> None:
    """Evaluate the trial and tell it: values, constraints, attributes; any error fails
    the trial and is raised."""
    from optuna.trial import TrialState

    try:
        try:
            outcome = evaluator(params)
        finally:
            heartbeat.stop()
        values = _told_values(outcome, settings)
        for name, value in outcome.constraints.items():
            trial.set_constraint(name, value)
        for key, value in outcome.attrs.items():
            trial.set_user_attr(key, value)
    except BaseException:
        study.tell(trial, state=TrialState.FAIL)
        raise
    study.tell(trial, values)


TOLD_DIGITS = 8
"""Significant digits of the values told to the sampler, and so recorded. A fleet solve's value
carries float noise of about 10⁻¹³ of it that moves with the solver's path (its heuristics,
how a tie's load is split), and a sampler orders equal designs by that noise: with HiGHS's
sub-MIP heuristics turned off, the bundled example's trials matched to 10⁻¹³ and TPE still
proposed other designs from trial 35 on. Eight digits keep a millionth of a dollar an hour on
a 10 $/h fleet."""


def _told_values(outcome: TrialOutcome, settings: SearchSettings) -> list[float]:
    """The values to tell: the outcome's to :data:`TOLD_DIGITS` significant digits, or the
    worst for a design not evaluated."""
    if outcome.values is None:
        if not any(v > 0 for v in outcome.constraints.values()):
            raise ValueError("evaluator gave no values but no broken constraint")
        return [math.inf if d == "minimize" else -math.inf for d in settings.directions]
    values = [float(v) for v in outcome.values]
    if len(values) != len(settings.directions) or not all(map(math.isfinite, values)):
        raise ValueError(
            f"evaluator gave {outcome.values} for objectives {settings.objective_names}"
        )
    return [float(f"{v:.{TOLD_DIGITS}g}") for v in values]


class _Heartbeat:
    """Beats for a trial now (before its knobs are sampled, so that a process killed later
    leaves a trial that goes stale) and every ``interval_s`` until stopped (Optuna's optimize
    loop beats through the same storage)."""

    def __init__(self, study, trial, interval_s: int) -> None:
        storage, trial_id = study._storage, trial._trial_id
        storage.record_heartbeat(trial_id)
        self._stop = threading.Event()

        def beat() -> None:
            while not self._stop.wait(interval_s):
                storage.record_heartbeat(trial_id)

        self._thread = threading.Thread(target=beat, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
