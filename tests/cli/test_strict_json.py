"""With ``--json``, stdout is one strict JSON document and nothing else: every command, run as a
real process so the solvers' C-level and subprocess output would show; solver logs go to stderr
only with ``--verbose``."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from optimizer.catalog.problem_spec import SolverName
from optimizer.cli.common import echo_json
from optimizer.search.ilp import solve_ilp
from tests.bundled import bundled_problems
from tests.search.test_ilp import melange

REPO = Path(__file__).resolve().parents[2]
PROBLEMS = [p.relative_to(REPO) for p in bundled_problems()]
SOLVERS = ("cbc", "highs")
ESTIMATE = (
    "estimate --model llama-3.1-70b --accelerator h200-sxm --tp 2 --precision fp8 "
    "--kv-precision fp8 --input-tokens 4000 --output-tokens 500"
).split()
# A solver's log says one of these on every run.
SOLVER_LOG = {SolverName.CBC: "Welcome to the CBC MILP Solver", SolverName.HIGHS: "Solving report"}


def hetplan(*args: str | Path) -> subprocess.CompletedProcess:
    """``hetplan ARGS`` in a fresh interpreter at the repository root."""
    argv = [sys.executable, "-m", "optimizer.cli", *map(str, args)]
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120)


def _reject(constant: str):
    """json's hook for NaN and ±Infinity, which Python accepts and strict JSON does not."""
    raise ValueError(f"{constant} is not JSON")


def strict_json(done: subprocess.CompletedProcess):
    """The one document that is the whole of stdout, parsed strictly (no NaN, no Infinity)."""
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip(), parse_constant=_reject)


@pytest.fixture(scope="module")
def solved(tmp_path_factory) -> dict:
    """{(problem, solver): (the ``solve --json --out`` run, the saved solution)}, every bundled
    problem with each solver, run two at a time."""
    out = tmp_path_factory.mktemp("solutions")
    runs = {
        (problem, solver): out / f"{problem.stem}-{solver}.json"
        for problem in PROBLEMS
        for solver in SOLVERS
    }

    def run(key):
        problem, solver = key
        chosen = f"solver.name={solver}"
        return hetplan("solve", problem, "--set", chosen, "--json", "--out", runs[key])

    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(zip(runs, pool.map(run, runs), strict=True))
    return {key: (done[key], saved) for key, saved in runs.items()}


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.stem)
def test_solve_json_is_strict(solved, problem, solver):
    done, _ = solved[problem, solver]
    assert strict_json(done)


def test_compare_saved_solutions_json_is_strict(solved):
    melange_runs = [solved[Path("problems/melange-example.toml"), s][1] for s in SOLVERS]
    assert strict_json(hetplan("compare", *melange_runs, "--json"))


def test_compare_vary_json_is_strict():
    # melange-example has no accelerator power, so no energy objective; this problem has both
    done = hetplan(
        "compare", "problems/long-context-coding.toml", "--vary", "objective=cost,energy", "--json"
    )
    assert strict_json(done)


def test_estimate_json_is_strict():
    assert strict_json(hetplan(*ESTIMATE, "--tpot-slo-ms", "50", "--json"))["tpot_s"] > 0


def test_prefill_estimate_has_null_tpot():
    """A prefill-only instance has no TPOT: null, never NaN."""
    data = strict_json(hetplan(*ESTIMATE, "--phase", "prefill", "--json"))
    assert data.get("tpot_s") is None


@pytest.mark.parametrize(
    "command",
    [
        "analyze --model llama-3.1-70b --workload coding-agent --no-plots --json",
        "calibrate catalogs/measurements/published.csv --json",
        "catalog list --json",
        "catalog show llama-3.1-70b --json",
    ],
    ids=["analyze", "calibrate", "catalog-list", "catalog-show"],
)
def test_model_and_catalog_commands_json_is_strict(command):
    assert strict_json(hetplan(*command.split()))


def test_verbose_keeps_stdout_strict_json_and_logs_on_stderr():
    problem = "problems/melange-example.toml"
    done = hetplan("--verbose", "solve", problem, "--set", "solver.name=highs", "--json")
    assert strict_json(done)
    # Needs the CLI to pass ctx.obj["verbose"] down to solve_ilp(..., verbose=...).
    assert SOLVER_LOG[SolverName.HIGHS] in done.stderr


@pytest.mark.parametrize("verbose", [False, True])
@pytest.mark.parametrize("solver", [SolverName.CBC, SolverName.HIGHS])
def test_solve_ilp_logs_on_stderr_only_when_verbose(capfd, solver, verbose):
    solve_ilp(melange(whole_class=False, slice_factor=1, solver=solver), verbose=verbose)
    out, err = capfd.readouterr()
    assert out == ""
    assert (SOLVER_LOG[solver] in err) is verbose


def test_echo_json_writes_nan_and_infinity_as_null(capsys):
    nan, inf = math.nan, math.inf
    echo_json(
        {
            "a": nan,
            "b": [1.5, -inf, (inf, np.float64("nan"))],
            "c": {"d": np.float32(0.5), "e": np.float32("inf"), "f": 3, "g": True, "h": None},
        }
    )
    assert json.loads(capsys.readouterr().out, parse_constant=_reject) == {
        "a": None,
        "b": [1.5, None, [None, None]],
        "c": {"d": 0.5, "e": None, "f": 3, "g": True, "h": None},
    }
