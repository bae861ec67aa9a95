"""Small studies written on the fly: a base problem that solves in a fraction of a second (one
70B model, two accelerators, FP8, no memory tiers) and study files over it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BASE = """
[problem]
name = "study-base"

[[serve]]
name = "coding"
model = "llama-3.1-70b"
workload = "coding-agent"
requests_per_s = 10
ttft_ms = 2000
tpot_ms = 50

[objective]
pricing = "cloud"

[styles]
accelerators = ["h100-sxm", "b200"]
precisions = ["fp8"]
memory_tiers = false
"""

RATE = "serve.0.requests_per_s"


def write_study(directory: Path, body: str, *, name: str = "study", base: str = BASE) -> Path:
    """``base.toml`` and ``<name>.toml`` (``body`` under a ``[study]`` header naming it) in
    ``directory``; the study file's path."""
    (directory / "base.toml").write_text(textwrap.dedent(base))
    path = directory / f"{name}.toml"
    path.write_text(textwrap.dedent(body))
    return path


def hetplan(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """The CLI in a fresh interpreter, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "optimizer.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )


@pytest.fixture
def study_dir(tmp_path: Path) -> Path:
    return tmp_path


REPORTED = f"""
[study]
name = "reported"
description = "a coding agent's rate against the objective"
kind = "solve"
base = "base.toml"

[[axis]]
field = "{RATE}"
values = [5, 10, 20]

[[axis]]
field = "objective.kind"
values = ["cost", "energy"]
"""
REPORTED_POINTS = 6


@pytest.fixture(scope="session")
def reported_study(tmp_path_factory) -> Path:
    """A study of six points (three rates, two objectives, with baselines) run and reported
    by the CLI as a user runs them: its directory, with the report in ``report/``. Shared:
    tests that change it work on a copy."""
    directory = tmp_path_factory.mktemp("reported")
    write_study(directory, REPORTED)
    ran = hetplan("study", "run", "study.toml", "--out", "out", "--workers", "1", cwd=directory)
    assert ran.returncode == 0, ran.stderr
    reported = hetplan("study", "report", "out", cwd=directory)
    assert reported.returncode == 0, reported.stderr
    return directory / "out"
