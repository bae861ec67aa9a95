"""``solve``: the cheapest (or lowest-energy) fleet that serves a problem, proven and explained,
with its baselines; ``read_solution`` reads one back as the same :class:`Solution`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from optimizer.api.context import efficiency_table
from optimizer.catalog.problem_loader import LoadedProblem, load_problem
from optimizer.search.provision import solve as provision
from optimizer.search.solution import Solution, read_solution

__all__ = ["LoadedProblem", "Solution", "load_problem", "read_solution", "solve"]


def solve(
    problem: str | Path | LoadedProblem,
    *,
    overrides: Mapping[str, str] | None = None,
    catalog_dirs: Sequence[str | Path] = (),
    efficiency: str | Path | None = None,
    workers: int | None = None,
    verbose: bool = False,
    progress: bool = False,
    baselines: bool = True,
    skip_proven_stages: bool = True,
) -> Solution:
    """Rate every candidate, solve the provisioning ILP and its three baselines, re-check the
    fleets without the solver and explain the answer.

    Args:
        problem: a problem TOML file, or one already loaded (then ``overrides`` and
            ``catalog_dirs`` must be empty: they were applied when it was loaded).
        overrides: dotted field → value, applied before validation (see ``problem_overrides``).
        catalog_dirs: catalog directories loaded on top of the bundled one, under the problem's.
        efficiency: an ``[[efficiency]]`` TOML to rate candidates with instead of the catalog's.
        workers: threads for the four independent solves (1 inside a caller's own worker).
        verbose: the solvers' logs on stderr.
        progress: a line on stderr every 10 s of a long solve: elapsed, incumbent, bound.
        baselines: solve the three baselines too (False: the optimum alone, for a study
            point that does not report savings).
        skip_proven_stages: skip a cost or purchases tie-break stage that HiGHS proves cannot
            improve on the fleet it starts from (the same answer, faster; False runs every
            stage).

    Returns:
        The solution; ``status`` is optimal, feasible (a time limit with a fleet) or infeasible
        (``explanation`` says why).

    Raises:
        ProblemError: an invalid problem (every problem at once); CatalogError: an invalid
        catalog or efficiency file; SolverError: a solver failure that is not a verdict.
    """
    if isinstance(problem, LoadedProblem):
        if overrides or catalog_dirs:
            raise TypeError("overrides and catalog_dirs apply when a problem file is loaded")
        loaded = problem
    else:
        loaded = load_problem(problem, overrides, catalog_dirs)
    table = efficiency_table(loaded.catalog, efficiency)
    return provision(
        loaded, table, workers=workers, verbose=verbose, progress=progress, baselines=baselines,
        skip_proven_stages=skip_proven_stages,
    )  # fmt: skip
