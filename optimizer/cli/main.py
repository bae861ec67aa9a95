"""Entry point of the ``hetplan`` console script."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from optimizer import __version__
from optimizer.api import CatalogError, FieldError, HetplanError
from optimizer.cli import catalog_cmd
from optimizer.cli.analyze_cmd import analyze
from optimizer.cli.calibrate_cmd import calibrate
from optimizer.cli.estimate_cmd import estimate
from optimizer.cli.flags import field_error_text
from optimizer.cli.schema_cmd import schema
from optimizer.cli.solve_cmd import compare, solve

app = typer.Typer(
    name="hetplan",
    help="Plan heterogeneous AI-inference fleets with the OI/CF model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(catalog_cmd.app, name="catalog")
app.command("estimate")(estimate)
app.command("calibrate")(calibrate)
app.command("analyze")(analyze)
app.command("solve")(solve)
app.command("compare")(compare)
app.command("schema")(schema)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hetplan {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    catalog: Annotated[
        list[Path] | None,
        typer.Option(
            "--catalog",
            metavar="DIR",
            help="A catalog directory loaded on top of the bundled one (repeatable).",
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Solver logs on stderr.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    ctx.obj = {"catalog_dirs": list(catalog or []), "verbose": verbose}


def _report_error(error: HetplanError) -> None:
    if isinstance(error, CatalogError):
        for problem in error.problems:
            print(problem, file=sys.stderr)
        n = len(error.problems)
        print(f"error: {n} problem{'s' * (n != 1)} in the input files above", file=sys.stderr)
    elif isinstance(error, FieldError):
        print(f"error: {field_error_text(error)}", file=sys.stderr)
    else:
        print(f"error: {error}", file=sys.stderr)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit status: 0 ok, 1 infeasible/unmet, 2 invalid input."""
    try:
        app(args=argv, prog_name="hetplan")  # standalone: usage errors exit 2 on their own
    except HetplanError as error:
        _report_error(error)
        return error.exit_code
    except SystemExit as done:
        if done.code is None or isinstance(done.code, int):
            return done.code or 0
        print(done.code, file=sys.stderr)
        return 1
    return 0


def entry_point() -> None:
    sys.exit(run())
