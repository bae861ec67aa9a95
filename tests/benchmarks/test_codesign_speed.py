"""Co-design speed and search quality on real trials (issue 16), printed, run on demand:

    python -m pytest -m benchmark tests/benchmarks/test_codesign_speed.py -s

1. Trials per second on the bundled example (two base problems, cost and energy: four fleet
   solves per trial), one worker and two; the target is >= 1 trial/s per core per base problem.
2. TPE against random search on a discrete decode-part space of 288 designs (one base problem,
   least energy, the catalog kept), every design evaluated once for the brute-force optimum and
   then looked up: evaluations each sampler needs to come within 1 % of it (TPE within 100
   trials, median over seeds; goal >= 2x fewer than random). Eleven seeds: with two designs of
   288 within 1 %, random search's count is geometric (mean 144), and five seeds left its
   median at the mercy of luck.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest

from optimizer.codesign.evaluate import DesignEvaluator
from optimizer.codesign.runner import run_codesign
from optimizer.codesign.search import TrialOutcome
from optimizer.codesign.space import search_space
from optimizer.codesign.spec import load_codesign
from tests.benchmarks.test_codesign_search import compare_samplers

pytestmark = pytest.mark.benchmark

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "problems" / "codesign-agentic.toml"
DISCRETE = f"""
[codesign]
name = "discrete"
objectives = ["energy"]
keep_catalog = true

[[problem]]
file = "{ROOT / "problems" / "codesign" / "long-sessions.toml"}"

[decode]
node = ["n5", "n4", "n3"]
dense_fp8_tflops = [250, 500, 1000, 2000]
memory = ["hbm3e", "hbm4", "lpddr5x"]
memory_stacks = [2, 4, 6, 8]
scale_up_gb_per_s = [450, 900]
scale_up_domain = 8
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_trials_per_second_on_the_bundled_example(tmp_path, workers):
    n_trials = 30 * workers
    start = time.perf_counter()
    run = run_codesign(EXAMPLE, out=tmp_path / "run", trials=n_trials, workers=workers)
    wall_s = time.perf_counter() - start
    n_problems = len(load_codesign(EXAMPLE).problems)
    rate = run.n_complete / wall_s
    print(f"\n{workers} worker(s): {run.n_complete} trials in {wall_s:.1f} s = {rate:.2f} "
          f"trials/s, {rate * n_problems / workers:.2f} trial-problems/s per core "
          f"(target >= 1); {run.n_feasible} feasible")  # fmt: skip
    assert run.n_complete == n_trials


class _Remembered:
    """An evaluator that evaluates each design once (the brute force) and looks it up after."""

    def __init__(self, path: Path):
        self.evaluate = DesignEvaluator(path)
        self.seen: dict[tuple, TrialOutcome] = {}

    def __call__(self, params: dict) -> TrialOutcome:
        key = tuple(sorted(params.items()))
        if key not in self.seen:
            self.seen[key] = self.evaluate(params)
        return self.seen[key]


def test_tpe_finds_the_best_decode_part_in_fewer_trials_than_random(tmp_path):
    path = tmp_path / "discrete.toml"
    path.write_text(DISCRETE)
    knobs, _ = search_space(load_codesign(path))
    remembered = _Remembered(path)
    start = time.perf_counter()
    figures = compare_samplers(knobs, remembered, tmp_path, seeds=range(11))
    tpe = statistics.median(n if n is not None else 10**9 for n in figures["needed"]["tpe"])
    rand = statistics.median(n if n is not None else 10**9 for n in figures["needed"]["random"])
    print(
        f"\n{figures['n_designs']} designs ({figures['n_feasible']} feasible, "
        f"{figures['n_within']} within 1 % of the optimum {figures['optimum']:.4g} kWh/h), "
        f"evaluated in {time.perf_counter() - start:.0f} s with the searches"
    )
    print(f"evaluations to reach it: TPE {figures['needed']['tpe']} (median {tpe}), "
          f"random {figures['needed']['random']} (median {rand}); "
          f"TPE needs {rand / tpe:.1f}x fewer")  # fmt: skip
    assert tpe <= 100
