"""Where a search's Optuna study lives: an SQLAlchemy database or a journal file, both with a
heartbeat so that trials of a killed process are failed after a grace period and re-queued.

RDB storages use Optuna's own heartbeat (``RDBStorage(heartbeat_interval, grace_period)``);
Optuna 5's ``JournalStorage`` has none, so ``HeartbeatJournalStorage`` adds one through
Optuna's heartbeat interface, keeping each trial's last beat as a trial system attribute.
Only the codesign search imports this module: it loads Optuna.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages._heartbeat import BaseHeartbeat  # the interface RDBStorage implements
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from optimizer.errors import HetplanError

DEFAULT_NAME = "codesign.db"
JOURNAL_PREFIX = "journal:"
JOURNAL_SUFFIXES = (".jsonl", ".log")
MAX_RETRY = 2
"""How often a trial whose process died is re-queued: a design that kills its worker every
time (memory) is given up after this many tries instead of killing every resumed run."""
SQLITE_TIMEOUT_S = 60.0
"""How long an SQLite writer waits for another process's lock before failing."""
BEAT_KEY = "hetplan:heartbeat_s"
"""A journal trial's last heartbeat, seconds since the epoch."""


class StorageError(HetplanError, ValueError):
    """A storage that cannot be named, reached or opened."""


@dataclass(frozen=True, slots=True)
class StorageSpec:
    """A parsed storage: ``kind`` ``rdb`` (``target`` an SQLAlchemy URL) or ``journal``
    (``target`` a file path); ``text`` names it for people (no password)."""

    kind: str
    target: str
    text: str


def resolve_storage(storage: str | None, out: Path) -> StorageSpec:
    """The storage ``storage`` names: None is SQLite in ``out``; ``journal:PATH`` or a path
    ending ``.jsonl``/``.log`` is a journal file; ``dialect://...`` is an SQLAlchemy URL.

    Raises:
        StorageError: anything else.
    """
    if storage is None:
        url = f"sqlite:///{Path(out) / DEFAULT_NAME}"
        return StorageSpec("rdb", url, url)
    if storage.startswith(JOURNAL_PREFIX) or storage.endswith(JOURNAL_SUFFIXES):
        path = storage.removeprefix(JOURNAL_PREFIX)
        if not path:
            raise StorageError("storage: 'journal:' names no file; give journal:PATH")
        return StorageSpec("journal", path, JOURNAL_PREFIX + path)
    if "://" in storage:
        return StorageSpec("rdb", storage, _hide_password(storage))
    raise StorageError(
        f"storage: {storage!r} is neither an SQLAlchemy URL (sqlite:///PATH, "
        "postgresql+psycopg://USER@HOST/DB) nor a journal file (journal:PATH, *.jsonl, *.log)"
    )


def open_storage(
    spec: StorageSpec, *, heartbeat_s: int, grace_s: int
) -> optuna.storages.BaseStorage:
    """The Optuna storage of ``spec``, with its heartbeat and stale-trial re-queueing.

    Raises:
        StorageError: the database cannot be reached, its driver is missing, or the file
            cannot be opened.
    """
    import sqlalchemy.exc

    retry = quietly(RetryHeartbeatStaleTrialCallback, max_retry=MAX_RETRY)
    try:
        if spec.kind == "journal":
            backend = JournalFileBackend(spec.target)
            return HeartbeatJournalStorage(
                backend, heartbeat_s=heartbeat_s, grace_s=grace_s, on_stale=retry
            )
        engine = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
        return quietly(
            RDBStorage,
            spec.target,
            engine_kwargs=engine if spec.target.startswith("sqlite") else None,
            heartbeat_interval=heartbeat_s,
            grace_period=grace_s,
            heartbeat_stale_trial_callback=retry,
        )
    except ImportError as exc:
        package = exc.name or str(exc)
        raise StorageError(f"storage {spec.text}: needs the Python package {package}") from None
    except (OSError, sqlalchemy.exc.SQLAlchemyError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(f"storage {spec.text}: cannot open: {reason}") from None


def fail_stale_trials(study: optuna.Study) -> None:
    """Fail the study's trials whose heartbeat stopped longer than the grace period ago and
    re-queue them (Optuna's ``fail_stale_trials``, without its experimental warning)."""
    quietly(optuna.storages.fail_stale_trials, study)


def quietly(function, *args, **kwargs):
    """``function(...)`` without Optuna's experimental-feature warning: heartbeats (since
    Optuna 2.9), metric names and the GP's deterministic objective are used as documented."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return function(*args, **kwargs)


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """A journal storage whose running trials beat: a trial is stale when neither its start
    nor its last beat is within ``grace_s`` seconds (clocks of one machine, the journal's use)."""

    def __init__(self, backend, *, heartbeat_s: int, grace_s: int, on_stale) -> None:
        super().__init__(backend)
        self._heartbeat_s = heartbeat_s
        self._grace_s = grace_s
        self._on_stale = on_stale

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            self.set_trial_system_attr(trial_id, BEAT_KEY, time.time())
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # failed as stale by another process meanwhile: nothing left to keep alive

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now_s = time.time()
        stale = []
        for trial in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
            start_s = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
            if now_s - max(start_s, trial.system_attrs.get(BEAT_KEY, 0.0)) > self._grace_s:
                stale.append(trial._trial_id)
        return stale

    def get_heartbeat_interval(self) -> int:
        return self._heartbeat_s

    def get_heartbeat_stale_trial_callback(self):
        return self._on_stale
