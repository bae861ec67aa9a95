"""Where points run: local worker processes (the default) or a Dask distributed cluster.

Points travel in chunks (a task per point would cost Dask 0.2-1 ms of scheduling each), each
point is one ``optimizer.api.solve(..., workers=1, skip_proven_stages=True)`` (a plain solve's
answer, without the tie-break stages that cannot change it) or ``optimizer.api.estimate(...)``
call, and every point comes back with an outcome: solved, its error, or ``timeout``, never
silently dropped. With a point timeout each point runs in a process of its own that is killed,
with its solver children, when time is up. A chunk whose worker died is retried; after the
retries its points are recorded as errors.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import pickle
import selectors
import signal
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from optimizer.errors import HetplanError

RETRIES = 2
"""How often a chunk is re-run after its worker died (Dask: ``client.map(retries=...)``)."""
MAX_CHUNK = 32
CHUNKS_PER_WORKER = 16
"""Chunks per worker a study is cut into, so that progress and the journal advance steadily
while large studies still send few tasks."""
TIMEOUT = "timeout"
ERROR = "error"


class ExecutorError(HetplanError):
    """An executor cannot start (a Dask address that answers nothing, a bad ``local:N``)."""


@dataclass(frozen=True, slots=True)
class Task:
    """What a worker needs for one point: paths, overrides and options, all small. A solve
    point reads ``base`` with ``overrides``; an estimate point (``kind`` ``"estimate"``) has
    its request's fields in ``request`` instead."""

    index: int
    key: str
    base: str | None
    overrides: dict[str, str]
    catalog_dirs: tuple[str, ...]
    efficiency: str | None
    baselines: bool
    timeout_s: float | None
    kind: str = "solve"
    request: dict | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished point: its status (the solution's or estimate's, ``error`` or ``timeout``), a
    one-line message, its figures (``results.solution_row`` or ``estimates.estimate_row``; None
    after an error), the wall time of
    the point and, for an unexpected error, its traceback."""

    key: str
    index: int
    status: str
    message: str
    row: dict | None
    wall_s: float
    detail: str | None = None

    def record(self) -> dict:
        """The journal line of this outcome."""
        return {
            "key": self.key,
            "index": self.index,
            "status": self.status,
            "message": self.message,
            "row": self.row,
            "wall_s": self.wall_s,
            "detail": self.detail,
        }


def chunk_size(n_points: int, n_workers: int) -> int:
    """Points per task: about ``CHUNKS_PER_WORKER`` chunks per worker, 1 to ``MAX_CHUNK``."""
    return max(1, min(MAX_CHUNK, math.ceil(n_points / (max(n_workers, 1) * CHUNKS_PER_WORKER))))


def chunks_of(tasks: Sequence[Task], size: int) -> list[list[Task]]:
    return [list(tasks[i : i + size]) for i in range(0, len(tasks), size)]


def run_chunk(tasks: Sequence[Task]) -> list[Outcome]:
    """Run a chunk's points in turn (in the worker); every point yields an outcome."""
    return [run_point(task) for task in tasks]


def run_point(task: Task) -> Outcome:
    """One point: in this process, or in a child killed after ``timeout_s`` when one is set."""
    return _compute_point(task) if task.timeout_s is None else _isolated(task)


def _compute_point(task: Task) -> Outcome:
    """The point's solve or estimate; any error is the point's outcome, never raised."""
    start = time.perf_counter()
    try:
        result, row = (_estimate if task.kind == "estimate" else _solve)(task)
    except HetplanError as error:  # an invalid point, a solver failure: the point's verdict
        message = "; ".join(str(error).splitlines())
        return Outcome(task.key, task.index, ERROR, message, None, time.perf_counter() - start)
    except Exception as error:  # noqa: BLE001 - a bug at one point must not lose the others
        message = f"{type(error).__name__}: {error}"
        return Outcome(
            task.key, task.index, ERROR, message, None, time.perf_counter() - start,
            detail=traceback.format_exc(),
        )  # fmt: skip
    wall_s = time.perf_counter() - start
    return Outcome(task.key, task.index, result.status, result.message, row, wall_s)


def _solve(task: Task):
    from optimizer.api import solve
    from optimizer.study.results import solution_row

    solution = solve(
        task.base, overrides=task.overrides, catalog_dirs=task.catalog_dirs,
        efficiency=task.efficiency, workers=1, baselines=task.baselines,
        skip_proven_stages=True,
    )  # fmt: skip
    return solution, solution_row(solution)


def _estimate(task: Task):
    from optimizer.api import FieldError, estimate
    from optimizer.study.estimates import REQUEST_PREFIX, estimate_row, request_of

    try:
        result = estimate(request_of(task.request), catalog_dirs=task.catalog_dirs,
                          efficiency=task.efficiency)  # fmt: skip
    except FieldError as error:  # named as the study file names it: request.tp
        raise HetplanError(error.text(lambda field: REQUEST_PREFIX + field)) from None
    return result, estimate_row(result)


def _isolated(task: Task) -> Outcome:
    """``_compute_point`` in a forked child in its own process group, which is killed (solver
    children included) when ``timeout_s`` passes; its outcome comes back pickled on a pipe.
    The solve and estimate paths are imported here first, so that every child starts with them
    loaded."""
    from optimizer.api import estimate, solve  # noqa: F401
    from optimizer.study.estimates import estimate_row  # noqa: F401
    from optimizer.study.results import solution_row  # noqa: F401

    start = time.perf_counter()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: solve, send, leave without running the parent's exit handlers
        try:
            os.close(read_end)
            os.setpgid(0, 0)
            die_with_parent()
            payload = pickle.dumps(_compute_point(task))
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(payload)
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        os.setpgid(pid, pid)  # also here, so the group exists before any kill below
    except OSError:
        pass  # the child set it already, or has exited
    payload = _read_until(read_end, start + task.timeout_s)
    if payload is None:
        _kill_group(pid)
    _, status = os.waitpid(pid, 0)
    wall_s = time.perf_counter() - start
    if payload is None:
        why = f"no result within the point timeout of {task.timeout_s:g} s; stopped"
        return Outcome(task.key, task.index, TIMEOUT, why, None, wall_s)
    if not payload:
        why = f"the point's process ended without a result ({_exit_text(status)})"
        return Outcome(task.key, task.index, ERROR, why, None, wall_s)
    return pickle.loads(payload)


def _read_until(fd: int, deadline: float) -> bytes | None:
    """Everything written to ``fd`` until its writer closes it, or None at ``deadline``."""
    chunks = []
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        try:
            while True:
                left = deadline - time.perf_counter()
                if left <= 0 or not selector.select(left):
                    return None
                data = os.read(fd, 1 << 16)
                if not data:
                    return b"".join(chunks)
                chunks.append(data)
        finally:
            os.close(fd)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _exit_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def die_with_parent() -> None:
    """On Linux, have the kernel SIGKILL this process when its parent dies, so that a study
    killed outright (SIGKILL) leaves no worker behind; elsewhere nothing."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _init_local_worker() -> None:
    """A local worker: Ctrl-C is the parent's to handle; it dies with the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()
    die_with_parent()
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)


def _lost(chunk: Sequence[Task], why: str) -> list[Outcome]:
    return [Outcome(t.key, t.index, ERROR, why, None, 0.0) for t in chunk]


class LocalExecutor:
    """``n_workers`` local processes (``concurrent.futures.ProcessPoolExecutor``)."""

    def __init__(self, n_workers: int):
        self.n_workers = n_workers
        self.name = f"local processes: {n_workers}"

    def run(self, chunks: Sequence[list[Task]]) -> Iterator[list[Outcome]]:
        """Each chunk's outcomes as it finishes; chunks of a broken pool (a worker killed) run
        again on a fresh pool, up to ``RETRIES`` times."""
        # spawn: fresh workers, safe to start from this threaded process, and no temporary
        # directory of multiprocessing's own (forkserver's) outliving the command's scratch
        context = multiprocessing.get_context("spawn")
        pending = [(chunk, 0) for chunk in chunks]
        while pending:
            pool = ProcessPoolExecutor(
                self.n_workers, mp_context=context,
                initializer=_init_local_worker,
            )  # fmt: skip
            try:
                futures = {pool.submit(run_chunk, chunk): (chunk, n) for chunk, n in pending}
                pending = []
                for future in as_completed(futures):
                    chunk, attempts = futures[future]
                    try:
                        yield future.result()
                    except BrokenProcessPool:
                        if attempts < RETRIES:
                            pending.append((chunk, attempts + 1))
                        else:
                            yield _lost(chunk, f"its worker died {attempts + 1} times")
            finally:  # also when the caller stops early: queued chunks are dropped
                pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        """Nothing outlives ``run``."""


class DaskExecutor:
    """A Dask distributed cluster: ``local:N`` starts a LocalCluster of N single-threaded
    worker processes; ``tcp://HOST:PORT`` (any scheduler address) or a scheduler file joins an
    existing one, whose workers must see the study's files at the same paths."""

    def __init__(self, address: str):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise ExecutorError(
                "--dask needs the dask[distributed] package: pip install 'dask[distributed]'"
            ) from None
        self._cluster = None
        try:
            if address.startswith("local:"):
                self._cluster = LocalCluster(
                    n_workers=local_workers(address), threads_per_worker=1, processes=True,
                    dashboard_address=None, silence_logs=logging.ERROR,
                )  # fmt: skip
                self._client = Client(self._cluster)
            elif "://" not in address and Path(address).is_file():
                self._client = Client(scheduler_file=address, timeout="10s")
            else:
                self._client = Client(address, timeout="10s")
        except (OSError, TimeoutError, ValueError) as error:
            self.close()
            raise ExecutorError(f"--dask {address}: cannot start or reach it: {error}") from None
        self.n_workers = max(len(self._client.scheduler_info()["workers"]), 1)
        self.name = f"dask {address}: {self.n_workers} workers"

    def run(self, chunks: Sequence[list[Task]]) -> Iterator[list[Outcome]]:
        """Each chunk's outcomes as it finishes; Dask re-runs a chunk whose worker died (up to
        ``RETRIES`` times); one that still fails gives its points an error each."""
        from dask.distributed import as_completed as dask_completed

        futures = self._client.map(run_chunk, chunks, retries=RETRIES, pure=False)
        by_future = dict(zip(futures, chunks, strict=True))
        for future in dask_completed(futures):
            try:
                yield future.result()
            except Exception as error:  # noqa: BLE001 - KilledWorker, a lost scheduler...
                yield _lost(by_future[future], f"{type(error).__name__}: {error}")

    def close(self) -> None:
        """Disconnect, and stop the LocalCluster this executor started."""
        for closeable in (getattr(self, "_client", None), self._cluster):
            if closeable is not None:
                closeable.close()


def local_workers(address: str) -> int:
    """N of ``local:N`` (1 to 1024)."""
    text = address.removeprefix("local:")
    if not text.isdecimal() or not 1 <= int(text) <= 1024:
        raise ExecutorError(f"--dask {address}: local:N needs N from 1 to 1024")
    return int(text)
