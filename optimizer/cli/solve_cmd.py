"""``hetplan solve`` and ``hetplan compare``: provision a fleet, and set answers side by side."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from optimizer.api import HetplanError
from optimizer.cli.common import (
    EfficiencyOption,
    JsonFlag,
    catalog_dirs,
    console,
    echo_json,
    verbose,
)

Opt = typer.Option

SetOption = Annotated[
    list[str] | None,
    Opt("--set", metavar="KEY=VALUE", help="Override a problem field, e.g. solver.name=highs."),
]
OutsideFlag = Annotated[
    bool,
    Opt(
        "--allow-outside-paths",
        help="Let the problem's [catalog] dirs and capabilities_csv name files outside its "
        "directory and the working directory.",
    ),
]


def _pairs(items: list[str] | None, flag: str) -> dict[str, str]:
    """``KEY=VALUE`` arguments as a mapping, in the order given."""
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise HetplanError(f"{flag} {item!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def _axes(items: list[str]) -> dict[str, list[str]]:
    """``KEY=V1,V2`` arguments as field → values."""
    return {
        key: [v.strip() for v in values.split(",") if v.strip()]
        for key, values in _pairs(items, "--vary").items()
    }


def solve(
    ctx: typer.Context,
    problem: Annotated[Path, typer.Argument(help="Problem file (TOML).")],
    out: Annotated[Path | None, Opt("--out", help="Save the solution JSON here.")] = None,
    force: Annotated[bool, Opt("--force", help="Replace an existing --out file.")] = False,
    overrides: SetOption = None,
    efficiency: EfficiencyOption = None,
    allow_outside_paths: OutsideFlag = False,
    json: JsonFlag = False,
) -> None:
    """Find the cheapest (or lowest-energy) fleet that serves the problem within its SLOs,
    prove it optimal and compare it with homogeneous, aggregated and tier-less fleets."""
    from optimizer.api import check_destination, load_problem
    from optimizer.api import solve as run_solve

    settings = _pairs(overrides, "--set")
    if out is not None:
        check_destination(out, force=force)  # before the solve, not after it
    loaded = load_problem(
        problem, settings, catalog_dirs(ctx), allow_outside_paths=allow_outside_paths
    )
    solution = run_solve(
        loaded, efficiency=efficiency, verbose=verbose(ctx),
        progress=not verbose(ctx) and sys.stderr.isatty(),
    )  # fmt: skip
    if out is not None:
        solution.save(out, force=force)
    if json:
        echo_json(solution.to_dict())
    else:
        from optimizer.report.solution_report import render_solution

        render_solution(solution.to_dict(), console(), verbose=verbose(ctx))
        if out is not None:
            console().print(f"solution saved to {out}")
    if not solution.success:
        raise typer.Exit(1)


def compare(
    ctx: typer.Context,
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
    efficiency: EfficiencyOption = None,
    allow_outside_paths: OutsideFlag = False,
    json: JsonFlag = False,
) -> None:
    """Solutions side by side: pools, cost, energy, utilization and binding walls."""
    from optimizer.api import compare as run_compare

    if vary:
        if len(inputs) != 1 or inputs[0].suffix != ".toml":
            raise HetplanError("--vary takes exactly one problem file (.toml)")
        comparison = run_compare(
            problem=inputs[0], vary=_axes(vary), overrides=_pairs(overrides, "--set"),
            catalog_dirs=catalog_dirs(ctx), efficiency=efficiency, verbose=verbose(ctx),
            allow_outside_paths=allow_outside_paths,
        )  # fmt: skip
    else:
        comparison = run_compare(inputs, overrides=_pairs(overrides, "--set"))
    if json:
        echo_json(comparison.to_dict())
    else:
        from optimizer.report.solution_report import render_comparison

        pairs = zip(comparison.labels, comparison.solutions, strict=True)
        render_comparison([(label, s.to_dict()) for label, s in pairs], console())
