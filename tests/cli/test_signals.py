"""Ctrl-C and SIGTERM during a CBC solve: exit 130 / 143 within seconds, one line on stderr, no
solver process left running and no scratch files left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from optimizer.cli.interrupt import EXIT_INTERRUPTED, EXIT_TERMINATED, alive, descendants

REPO = Path(__file__).resolve().parents[2]
SLOW = REPO / "problems" / "mixed-agentic-owned.toml"  # CBC runs a second or more on it
STOP_WITHIN_S = 5.0

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _solve_until_cbc_runs(tmp_path: Path) -> tuple[subprocess.Popen, list[int]]:
    """A CBC solve of a slow problem, started and waited on until its CBC child runs."""
    env = os.environ | {"TMPDIR": str(tmp_path)}
    argv = [sys.executable, "-m", "optimizer.cli", "solve", str(SLOW), "--set", "solver.name=cbc"]
    # a test run started in the background (`pytest &`) inherits SIGINT ignored, and Python
    # then installs no Ctrl-C handler: the solve starts with the default disposition
    proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        children = descendants(proc.pid)
        if any("cbc" in Path(f"/proc/{c}/cmdline").read_bytes().decode(errors="replace").lower()
               for c in children if alive(c)):  # fmt: skip
            return proc, children
        time.sleep(0.05)
    proc.kill()
    pytest.fail("no CBC process started within 60 s")


@pytest.mark.parametrize(
    ("signum", "code", "word"),
    [(signal.SIGINT, EXIT_INTERRUPTED, "interrupted"), (signal.SIGTERM, EXIT_TERMINATED,
                                                        "terminated")],
)  # fmt: skip
def test_a_signal_stops_the_solve_and_its_solver_children(tmp_path, signum, code, word):
    proc, children = _solve_until_cbc_runs(tmp_path)
    sent = time.monotonic()
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=STOP_WITHIN_S + 5)
    took = time.monotonic() - sent
    assert proc.returncode == code, err
    assert took < STOP_WITHIN_S
    assert err.strip().splitlines()[-1] == f"hetplan: {word}; stopping"
    assert "Traceback" not in err
    time.sleep(0.2)  # the kernel reaps what init adopted
    assert not [c for c in children if alive(c)]
    assert not list(tmp_path.glob("hetplan-*")), "scratch directory left behind"
