"""Entry point of the ``hetplan`` console script."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from optimizer import __version__
from optimizer.api import CatalogError, FieldError, HetplanError
from optimizer.cli import catalog_cmd, study_cmd
from optimizer.cli.analyze_cmd import analyze
from optimizer.cli.calibrate_cmd import calibrate
from optimizer.cli.codesign_cmd import codesign
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
app.add_typer(study_cmd.app, name="study")
app.command("estimate")(estimate)
app.command("calibrate")(calibrate)
app.command("analyze")(analyze)
app.command("solve")(solve)
app.command("compare")(compare)
app.command("codesign")(codesign)
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


def _usage_line(error: typer.TyperException) -> str:
    """A command-line usage error in one line, ``--option: message`` where an option is to
    blame (typer would draw a box around it, over several lines)."""
    param = getattr(error, "param", None)
    message = getattr(error, "message", "")
    if param is None or not message:  # a missing option, an unknown one: click's line
        return error.format_message()
    name = param.opts[0] if getattr(param, "opts", None) else param.human_readable_name
    return f"{name}: {message}"


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
        code = app(args=argv, prog_name="hetplan", standalone_mode=False)
    except HetplanError as error:
        _report_error(error)
        return error.exit_code
    except typer.TyperException as error:  # a usage error: exit 2
        line = _usage_line(error)
        if line.strip():  # empty after help for a missing command, printed already
            print(f"error: {line}", file=sys.stderr)
        return getattr(error, "exit_code", 2)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        return 1
    except SystemExit as done:
        if done.code is None or isinstance(done.code, int):
            return done.code or 0
        print(done.code, file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0


def entry_point() -> None:
    """The console script: ``run`` with Ctrl-C and SIGTERM stopping it at once (exit 130, 143),
    and the process ending as soon as it is done (``exit_promptly``)."""
    from optimizer.cli.interrupt import exit_promptly, run_interruptibly

    exit_promptly(run_interruptibly(run))
