"""Speed of a design study (issue 15): points per minute of the bundled rate sweep's problem
(one model, four agentic classes, every owned accelerator, FP8, no tiers, no baselines) over
40 random rates, on one and two local processes and on a Dask LocalCluster of one and two
workers. Prints the figures, with the CPU seconds the run took (its workers included) and the
load average, since wall time on a shared machine also measures its other users; run on demand:

    python -m pytest -m benchmark tests/benchmarks/test_study_speed.py -s
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

import pytest

from optimizer.study import run_study

pytestmark = pytest.mark.benchmark

BASE = Path(__file__).resolve().parents[2] / "problems" / "mixed-agentic-owned.toml"
POINTS = 40
STUDY = f"""
[study]
name = "speed"
kind = "solve"
base = "{BASE}"
baselines = false

[study.set]
styles.precisions = ["fp8"]
styles.memory_tiers = false

[design]
kind = "random"
samples = {POINTS}
seed = 7

[[axis]]
field = "serve.0.requests_per_s"
low = 25
high = 800
log = true

[[axis]]
field = "serve.1.requests_per_s"
low = 7.5
high = 240
log = true
"""

EXECUTORS = [
    ("local processes: 1", {"workers": 1}),
    ("local processes: 2", {"workers": 2}),
    ("dask local:1", {"dask": "local:1"}),
    ("dask local:2", {"dask": "local:2"}),
]


def test_study_speed(tmp_path):
    study = tmp_path / "speed.toml"
    study.write_text(STUDY)
    print(f"\n{'executor':22s} {'points':>6s} {'wall s':>7s} {'points/min':>10s} "
          f"{'CPU s':>6s} {'CPU s/point':>11s} {'load':>5s}")  # fmt: skip
    rates = {}
    for label, how in EXECUTORS:
        before = _cpu_s()
        run = run_study(study, out=tmp_path / label.replace(" ", "_").replace(":", ""),
                        allow_outside_paths=True, **how)  # fmt: skip
        cpu_s = _cpu_s() - before
        assert run.counts == {"optimal": POINTS}, run.counts
        rates[label] = run.points_per_minute
        print(f"{label:22s} {run.n_computed:6d} {run.wall_s:7.1f} {rates[label]:10.1f} "
              f"{cpu_s:6.1f} {cpu_s / POINTS:11.2f} {os.getloadavg()[0]:5.1f}")  # fmt: skip
    speedup = rates["dask local:2"] / rates["dask local:1"]
    print(f"dask: 2 workers / 1 worker = {speedup:.2f}")


def _cpu_s() -> float:
    """User and system CPU seconds of this process and of its finished children (the workers,
    which every executor has joined when ``run_study`` returns)."""
    own, children = (
        resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
