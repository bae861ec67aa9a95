"""Ctrl-C and SIGTERM stop ``hetplan`` within a moment, whatever it is doing.

A solve spends most of its time where Python cannot take a signal: in HiGHS's C code (on a
worker thread or the main one) or waiting on CBC child processes. So the command runs on a
worker thread and the main thread only waits; on SIGINT or SIGTERM the main thread says so in
one line, stops the solver processes this process started, removes its scratch directory
(where PuLP writes CBC's model and solution files) and exits 130 or 143 at once, without
waiting for the worker.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_TERMINATED = 143  # 128 + SIGTERM
CHILD_GRACE_S = 0.5  # how long a solver child gets to exit on SIGTERM before SIGKILL


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread like KeyboardInterrupt."""


def _raise_terminated(signum, frame) -> None:
    raise _Terminated


def run_interruptibly(command: Callable[[], int]) -> int:
    """``command()`` on a worker thread, its exit status returned; on Ctrl-C or SIGTERM the
    process stops as this module's docstring says and never returns."""
    scratch = tempfile.mkdtemp(prefix="hetplan-")
    os.environ["TMPDIR"] = tempfile.tempdir = scratch  # PuLP and tempfile write here
    outcome: dict = {}

    def work() -> None:
        try:
            outcome["code"] = command()
        except BaseException as error:  # noqa: BLE001 - re-raised on the main thread
            outcome["error"] = error

    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    worker = threading.Thread(target=work, name="hetplan", daemon=True)
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.1)
    except KeyboardInterrupt:
        _stop(scratch, "interrupted", EXIT_INTERRUPTED)
    except _Terminated:
        _stop(scratch, "terminated", EXIT_TERMINATED)
    finally:
        signal.signal(signal.SIGTERM, previous)
    shutil.rmtree(scratch, ignore_errors=True)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["code"]


def exit_promptly(code: int) -> NoReturn:
    """End the process with ``code`` once the command is done: the exit handlers run (what
    libraries registered with ``atexit``), the output is flushed, and the interpreter is not
    torn down, which frees every module one by one (numpy, SciPy, HiGHS, pydantic) for a
    process about to end: 0.13-0.21 s after a 3 s solve (2026-12-02). Where another thread
    still runs, Python ends as usual and waits for it."""
    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()  # CPython's own call at exit; there is no public one
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that left (a closed pipe), a closed stream
            pass
    os._exit(code)


def _stop(scratch: str, what: str, code: int) -> None:
    """Say ``what`` happened, end this process's solver children, remove ``scratch`` and exit
    with ``code`` now (the worker thread is abandoned, not joined). That line is the last on
    stderr: the abandoned worker, which sees its solver child die, would report the solver's
    failure after it ("error: cbc: Pulp: Error while trying to execute"), so stderr goes to
    the null device once it is said."""
    print(f"hetplan: {what}; stopping", file=sys.stderr, flush=True)
    silent = os.open(os.devnull, os.O_WRONLY)
    os.dup2(silent, 2)
    stop_children(os.getpid())
    _remove(scratch)
    os._exit(code)


def _remove(scratch: str, tries: int = 20) -> None:
    """Remove ``scratch``, again while the abandoned worker may still write into it (a solver
    library collecting a killed child's files): one pass can find a new file before its
    rmdir."""
    for _ in range(tries):
        shutil.rmtree(scratch, ignore_errors=True)
        if not os.path.exists(scratch):
            return
        time.sleep(0.05)


def stop_children(pid: int) -> list[int]:
    """SIGTERM every descendant process of ``pid``, then SIGKILL those still there after
    ``CHILD_GRACE_S``; the pids signalled."""
    children = descendants(pid)
    for child in children:
        _signal(child, signal.SIGTERM)
    deadline = time.monotonic() + CHILD_GRACE_S
    while time.monotonic() < deadline and any(alive(c) for c in children):
        time.sleep(0.02)
    for child in children:
        _signal(child, signal.SIGKILL)
    return children


def descendants(pid: int) -> list[int]:
    """Every process whose parent chain reaches ``pid``, read from ``/proc`` (none where there
    is no ``/proc``)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent]
        found += children
        frontier += children
    return found


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (from /proc)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
