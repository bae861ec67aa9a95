"""``hetplan solve`` and ``hetplan compare``: provision a fleet, and set answers side by side."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated

import typer

from optimizer.cli.common import JsonFlag, console, echo_json
from optimizer.errors import HetplanError

Opt = typer.Option

SetOption = Annotated[
    list[str] | None,
    Opt("--set", metavar="KEY=VALUE", help="Override a problem field, e.g. solver.name=highs."),
]

VARY_ALIASES = {"objective": "objective.kind", "pricing": "objective.pricing",
                "solver": "solver.name", "assignment": "solver.assignment"}  # fmt: skip


def _pairs(items: list[str] | None, flag: str) -> list[tuple[str, str]]:
    out = []
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise HetplanError(f"{flag} {item!r}: expected KEY=VALUE")
        out.append((key.strip(), value.strip()))
    return out


def solve(
    problem: Annotated[Path, typer.Argument(help="Problem file (TOML).")],
    out: Annotated[Path | None, Opt("--out", help="Save the solution JSON here.")] = None,
    force: Annotated[bool, Opt("--force", help="Replace an existing --out file.")] = False,
    overrides: SetOption = None,
    json: JsonFlag = False,
) -> None:
    """Find the cheapest (or lowest-energy) fleet that serves the problem within its SLOs,
    prove it optimal and compare it with homogeneous, aggregated and tier-less fleets."""
    from optimizer.catalog.problem_loader import load_problem
    from optimizer.search.provision import solve as run_solve

    loaded = load_problem(problem, dict(_pairs(overrides, "--set")))
    if out is not None and out.exists() and not force:
        raise HetplanError(f"--out {out}: exists; pass --force to replace it")
    solution = run_solve(loaded)
    if out is not None:
        solution.save(out, force=force)
    data = solution.to_dict()
    if json:
        echo_json(data)
    else:
        from optimizer.report.solution_report import render_solution

        render_solution(data, console())
        if out is not None:
            console().print(f"solution saved to {out}")
    if solution.status == "infeasible":
        raise typer.Exit(1)


def compare(
    inputs: Annotated[
        list[Path], typer.Argument(help="Solution JSON files, or one problem TOML with --vary.")
    ],
    vary: Annotated[
        list[str] | None,
        Opt(
            "--vary",
            metavar="KEY=V1,V2",
            help="Solve the problem once per value (repeatable: "
            "every combination); KEY is a dotted field or objective, pricing, solver, assignment.",
        ),
    ] = None,
    overrides: SetOption = None,
    json: JsonFlag = False,
) -> None:
    """Solutions side by side: pools, cost, energy, utilization and binding walls."""
    if vary:
        solutions = _variants(inputs, vary, overrides)
    else:
        if overrides:
            raise HetplanError("--set applies to a problem file with --vary")
        from optimizer.search.solution import read_solution

        if len(inputs) < 2:
            raise HetplanError("compare needs two or more solution files, or a problem and --vary")
        solutions = [(str(p), read_solution(p)) for p in inputs]
    if json:
        echo_json([{"label": label, **s} for label, s in solutions])
        return
    from optimizer.report.solution_report import render_comparison

    render_comparison(solutions, console())


def _variants(inputs: list[Path], vary: list[str], overrides) -> list[tuple[str, dict]]:
    from optimizer.catalog.problem_loader import load_problem
    from optimizer.search.provision import solve as run_solve

    if len(inputs) != 1 or inputs[0].suffix != ".toml":
        raise HetplanError("--vary takes exactly one problem file (.toml)")
    axes = []
    for key, values in _pairs(vary, "--vary"):
        choices = [v.strip() for v in values.split(",") if v.strip()]
        if not choices:
            raise HetplanError(f"--vary {key}: give at least one value")
        axes.append([(VARY_ALIASES.get(key, key), v) for v in choices])
    base = dict(_pairs(overrides, "--set"))
    solutions = []
    for combo in itertools.product(*axes):
        label = ", ".join(f"{k}={v}" for k, v in combo)
        loaded = load_problem(inputs[0], {**base, **dict(combo)})
        solutions.append((label, run_solve(loaded).to_dict()))
    return solutions
