"""``run_study`` and ``study_status``: a study's points computed where they are missing, journaled
as they finish, and tabled; and what a study directory holds so far."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from optimizer.catalog.loader import display_path
from optimizer.errors import FieldError
from optimizer.results import Verdict
from optimizer.study import executor as executors
from optimizer.study.design import Point, expand, override_text
from optimizer.study.journal import JOURNAL_NAME, append_records, read_journal
from optimizer.study.keys import catalog_sha256, estimate_key, point_key
from optimizer.study.results import points_frame, write_tables
from optimizer.study.spec import Study, StudyError, load_study
from optimizer.study.store import claimed, default_directory, read_manifest, write_manifest

FAILED = frozenset({executors.ERROR, executors.TIMEOUT})
"""Point statuses without an answer; every other status (optimal, feasible, infeasible) is one."""


@dataclass(frozen=True, repr=False)
class StudyRun(Verdict):
    """What one ``study run`` did: ``ok`` when every point has an answer (a fleet or a proven
    infeasibility), ``error`` when some point failed or timed out."""

    status: str
    study: str
    directory: str
    n_points: int
    n_computed: int  # by this run
    n_reused: int  # found in the journal
    counts: dict[str, int]  # points by status
    executor: str | None  # None when nothing was left to compute
    files: dict[str, str] = field(default_factory=dict)
    wall_s: float = 0.0
    points_per_minute: float | None = None  # of this run's computed points
    journal_lines_skipped: int = 0  # unreadable (a line cut short by a kill)
    _REPR_FIELDS = ("study", "n_points", "counts")

    @property
    def message(self) -> str:
        return f"{self.n_points} points: {_counts_text(self.counts)}"


@dataclass(frozen=True, repr=False)
class StudyStatus(Verdict):
    """Points of a study directory so far: ``ok`` (all answered), ``incomplete`` (some not
    run yet) or ``error`` (all run, some failed)."""

    status: str
    study: str
    study_file: str
    directory: str
    n_points: int
    n_done: int  # answered: a fleet or a proven infeasibility
    n_failed: int  # error or timeout
    n_missing: int  # not in the journal yet
    counts: dict[str, int]
    journal_lines_skipped: int = 0
    _REPR_FIELDS = ("study", "n_points", "counts")

    @property
    def message(self) -> str:
        return f"{self.n_points} points: {_counts_text(self.counts)}"


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in counts.items()) or "none"


def run_study(
    study_file: str | Path,
    *,
    out: str | Path | None = None,
    workers: int | None = None,
    dask: str | None = None,
    point_timeout_s: float | None = None,
    force: bool = False,
    catalog_dirs: Sequence[str | Path] = (),
    efficiency: str | Path | None = None,
    allow_outside_paths: bool = False,
    on_start: Callable[[int, int, str | None], None] | None = None,
    on_point: Callable[[executors.Outcome], None] | None = None,
) -> StudyRun:
    """Solve every point of a study that its directory's journal does not hold yet.

    Args:
        study_file: the study TOML file.
        out: its output directory (default ``results/studies/<study file stem>``).
        workers: local worker processes (default: the CPUs, at most one per point).
        dask: ``local:N`` for a Dask LocalCluster of N workers, or a scheduler address or
            scheduler file of a running cluster, instead of local processes.
        point_timeout_s: a point still running after this is stopped and recorded as
            ``timeout``; each point then runs in a process of its own.
        force: run in a directory that holds another study's results or other files.
        catalog_dirs: catalog directories on top of the bundled one (as ``solve`` takes them).
        efficiency: an efficiency TOML to rate candidates with instead of the catalog's.
        allow_outside_paths: let the study's base lie outside its directory and the working
            directory.
        on_start: called with (points, points to compute, executor) before any is computed.
        on_point: called with each point's outcome as it is journaled.

    Returns:
        The run's summary; ``points.parquet`` and ``points.csv`` hold every point.

    Raises:
        StudyError: an invalid study file; ProblemError, CatalogError: an invalid base problem
        or ``[study.set]``, catalog or efficiency file; FieldError: conflicting options;
        HetplanError: a directory that is not this study's, or an executor that cannot start.
    """
    start = time.perf_counter()
    if workers is not None and dask is not None:
        raise FieldError("workers", "give {workers} or {dask}, not both")
    if workers is not None and workers < 1:
        raise FieldError("workers", f"must be at least 1, got {workers}")
    if point_timeout_s is not None and not point_timeout_s > 0:
        raise FieldError("point_timeout_s", f"must be > 0, got {point_timeout_s}")
    study = load_study(study_file, allow_outside_paths=allow_outside_paths)
    plan = _plan(study, catalog_dirs, efficiency, point_timeout_s)
    directory = Path(out) if out is not None else default_directory(Path(study_file))
    with claimed(directory, study, force=force):
        write_manifest(directory, {
            "study": study.spec.study.name, "study_file": str(study.path),
            "study_sha256": study.sha256, "kind": study.spec.study.kind,
            "base": str(study.base) if study.base else None,
            "catalog_sha256": plan.catalog_sha256,
            "points": [{"index": t.index, "key": t.key, "values": p.values}
                       for p, t in zip(plan.points, plan.tasks, strict=True)],
        })  # fmt: skip
        journal_path = directory / JOURNAL_NAME
        journal = read_journal(journal_path)
        records = journal.records
        keys = [t.key for t in plan.tasks]
        n_reused = sum(k in records for k in keys)
        todo = _missing(plan.tasks, records)
        executor = _executor(workers, dask, len(todo)) if todo else None
        if on_start is not None:
            on_start(len(plan.points), len(todo), executor.name if executor else None)
        run_start = time.perf_counter()
        if executor is not None:
            _compute(executor, todo, journal_path, records, on_point)
        run_s = time.perf_counter() - run_start
        frame = points_frame(plan.points, keys, records, study.spec.study.kind)
        files = write_tables(directory, frame)
    counts = Counter(records[k]["status"] for k in keys if k in records)
    return StudyRun(
        status="error" if FAILED & counts.keys() else "ok",
        study=study.spec.study.name,
        directory=str(directory),
        n_points=len(plan.points),
        n_computed=len(todo),
        n_reused=n_reused,
        counts=dict(sorted(counts.items())),
        executor=executor.name if executor else None,
        files={name: str(path) for name, path in files.items()},
        wall_s=time.perf_counter() - start,
        points_per_minute=60.0 * len(todo) / run_s if todo and run_s > 0 else None,
        journal_lines_skipped=journal.n_unreadable,
    )


@dataclass(frozen=True, slots=True)
class _Plan:
    """A study's points and one task per point, in design order, and the catalog hash."""

    points: tuple[Point, ...]
    tasks: tuple[executors.Task, ...]
    catalog_sha256: str


def _plan(study: Study, catalog_dirs, efficiency, point_timeout_s) -> _Plan:
    """Check the base problem with ``[study.set]`` and the catalog and efficiency files once
    (an invalid one stops the study here, exit 2), then key every point."""
    from optimizer.api import efficiency_table, load_problem

    if study.spec.study.kind == "estimate":
        return _estimate_plan(study, catalog_dirs, efficiency, point_timeout_s)
    fixed = {k: override_text(v) for k, v in study.fixed.items()}
    dirs = tuple(os.path.abspath(d) for d in catalog_dirs)
    loaded = load_problem(study.base, fixed, dirs)
    efficiency_table(loaded.catalog, efficiency)
    efficiency = os.path.abspath(efficiency) if efficiency is not None else None
    base_bytes = study.base.read_bytes()
    catalog = catalog_sha256(loaded.catalog.fingerprint, efficiency)
    baselines = study.spec.study.baselines
    points = expand(study.spec)
    tasks = []
    for point in points:
        overrides = {**fixed, **point.overrides}
        key = point_key(base_bytes, overrides, catalog, baselines=baselines)
        tasks.append(executors.Task(
            point.index, key, os.path.abspath(study.base), overrides, dirs, efficiency,
            baselines, point_timeout_s,
        ))  # fmt: skip
    return _Plan(points, tuple(tasks), catalog)


def _estimate_plan(study: Study, catalog_dirs, efficiency, point_timeout_s) -> _Plan:
    """An estimate study's plan: the catalog and efficiency files and the catalog ids of its
    ``[study.request]`` table checked once (exit 2), then every point's request keyed."""
    from optimizer.api import open_context
    from optimizer.study.estimates import check_request_ids, point_request

    dirs = tuple(os.path.abspath(d) for d in catalog_dirs)
    context = open_context(dirs, efficiency)
    table = study.spec.study.request
    problems = list(check_request_ids(table, context.catalog, display_path(study.path)))
    if problems:
        raise StudyError(problems)
    efficiency = os.path.abspath(efficiency) if efficiency is not None else None
    catalog = catalog_sha256(context.catalog.fingerprint, efficiency)
    points = expand(study.spec)
    tasks = []
    for point in points:
        request = point_request(table, point.values)
        tasks.append(executors.Task(
            point.index, estimate_key(request, catalog), None, {}, dirs, efficiency, False,
            point_timeout_s, kind="estimate", request=request,
        ))  # fmt: skip
    return _Plan(points, tuple(tasks), catalog)


def _missing(tasks, records: dict) -> list[executors.Task]:
    """The tasks whose point is not journaled, in design order; a point twice in the design
    (the same key) is solved once."""
    seen = set(records)
    todo = []
    for task in tasks:
        if task.key not in seen:
            seen.add(task.key)
            todo.append(task)
    return todo


def _compute(executor, todo, journal_path: Path, records: dict, on_point) -> None:
    """Run ``todo`` in chunks, journaling each chunk's outcomes as it finishes."""
    size = executors.chunk_size(len(todo), executor.n_workers)
    try:
        for outcomes in executor.run(executors.chunks_of(todo, size)):
            append_records(journal_path, [o.record() for o in outcomes])
            for outcome in outcomes:
                records.setdefault(outcome.key, outcome.record())
                if on_point is not None:
                    on_point(outcome)
    finally:
        executor.close()


def _executor(workers: int | None, dask: str | None, n_todo: int):
    if dask is not None:
        return executors.DaskExecutor(dask)
    return executors.LocalExecutor(workers or max(1, min(os.cpu_count() or 1, n_todo)))


def study_status(directory: str | Path) -> StudyStatus:
    """Points of the study in ``directory``: answered, failed and missing, by status.

    Raises:
        HetplanError: ``directory`` is not a study directory.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    journal = read_journal(directory / JOURNAL_NAME)
    keys = [p["key"] for p in manifest["points"]]
    statuses = [journal.records[k]["status"] if k in journal.records else "missing" for k in keys]
    counts = Counter(statuses)
    n_missing = counts.get("missing", 0)
    n_failed = sum(counts.get(s, 0) for s in FAILED)
    status = "incomplete" if n_missing else ("error" if n_failed else "ok")
    return StudyStatus(
        status=status,
        study=manifest["study"],
        study_file=manifest["study_file"],
        directory=str(directory),
        n_points=len(keys),
        n_done=len(keys) - n_missing - n_failed,
        n_failed=n_failed,
        n_missing=n_missing,
        counts=dict(sorted(counts.items())),
        journal_lines_skipped=journal.n_unreadable,
    )
