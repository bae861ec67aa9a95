"""A provider's problem at scale (issue 12, item 7): 16 and 64 classes (models × the four agentic
workloads) over the whole catalog, solved by parts (search/parts.py) and as one ILP, with and
without what couples the parts. Prints wall times and gaps; run on demand:

    python -m pytest -m benchmark tests/benchmarks/test_provider_scale.py -s
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from optimizer.api.context import efficiency_table
from optimizer.catalog.problem_loader import load_problem
from optimizer.fleet.candidates import build_fleet
from optimizer.fleet.ilp_input import ilp_problem
from optimizer.fleet.prune import dominated_columns, usable_pairs
from optimizer.search.ilp import _whole, solve_ilp
from optimizer.search.verify import check_solution

pytestmark = pytest.mark.benchmark

PROBLEMS = Path(__file__).parent / "problems"
SEPARATE = {"styles.granularity": "device", "styles.memory_tiers": "false"}
HEADER = f"{'problem':58s} {'columns':>7s} {'parts':>5s} {'wall s':>7s} {'status':>8s} {'gap':>8s}"


def _ilp(name: str, overrides: dict):
    """The problem's ILP as the solve command builds it (candidates rated and pruned)."""
    loaded = load_problem(PROBLEMS / f"{name}.toml", overrides)
    table = efficiency_table(loaded.catalog, None)
    fleet = build_fleet(loaded.catalog, loaded.spec, loaded.economics, table)
    problem = ilp_problem(loaded.spec, loaded.economics, fleet)
    keep = usable_pairs(problem).any(axis=1) & ~dominated_columns(problem)
    return replace(problem, columns=fleet.table.subset(keep).columns)


def _row(label: str, problem, solution) -> str:
    gap = "—" if solution.gap is None else f"{solution.gap:.2e}"
    parts = f"{solution.parts}{'+1' if solution.coupled else ''}"
    return (f"{label:58s} {len(problem.columns):7d} {parts:>5s} {solution.wall_s:7.1f} "
            f"{solution.status.value:>8s} {gap:>8s}")  # fmt: skip


CASES = [
    ("64 classes, nothing shared, by parts", "provider-64", SEPARATE, False),
    ("16 classes, nothing shared, by parts", "provider-16", SEPARATE, False),
    ("16 classes, nothing shared, one ILP", "provider-16", SEPARATE, True),
    ("16 classes, power budget 25 kW (not binding)", "provider-16",
     {**SEPARATE, "constraints.power_budget_kw": "25"}, False),
    ("16 classes, power budget 16 kW (binding)", "provider-16",
     {**SEPARATE, "constraints.power_budget_kw": "16"}, False),
    ("16 classes, power budget 16 kW (binding), 10 s limit", "provider-16",
     {**SEPARATE, "constraints.power_budget_kw": "16", "solver.time_limit_s": "10"}, False),
    ("16 classes, whole servers, tiers (the defaults)", "provider-16", {}, False),
    ("64 classes, whole servers, tiers (the defaults)", "provider-64", {}, False),
]  # fmt: skip


def test_provider_scale():
    print(f"\n{HEADER}")
    for label, name, overrides, whole in CASES:
        problem = _ilp(name, overrides)
        solution = _whole(problem, False, False, time.perf_counter()) if whole else (
            solve_ilp(problem)
        )  # fmt: skip
        print(_row(label, problem, solution), flush=True)
        assert solution.instances is not None
        assert check_solution(problem, solution) == []
