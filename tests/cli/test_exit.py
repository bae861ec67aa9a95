"""The command's process ends as soon as it is done (``exit_promptly``): with its exit status,
its output whole, the exit handlers run, and any thread still running waited for."""

from __future__ import annotations

import subprocess
import sys

PROGRAM = """
import atexit, sys, threading, time
from optimizer.cli.interrupt import exit_promptly

atexit.register(lambda: print("handler ran", file=sys.stderr))
if "thread" in sys.argv:
    threading.Thread(target=lambda: (time.sleep(0.2), print("thread done"))).start()
print("x" * 200_000, end="")
exit_promptly(3)
"""


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PROGRAM, *args], capture_output=True,
                          text=True, timeout=60)  # fmt: skip


def test_status_output_and_exit_handlers_survive_the_prompt_exit():
    done = _run()
    assert done.returncode == 3
    assert done.stdout == "x" * 200_000
    assert done.stderr == "handler ran\n"


def test_a_thread_still_running_is_waited_for():
    done = _run("thread")
    assert done.returncode == 3
    assert done.stdout == "x" * 200_000 + "thread done\n"
    assert done.stderr == "handler ran\n"
