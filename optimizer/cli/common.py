"""What the commands share: the catalog and efficiency options, exit 1, output."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from optimizer.api import HetplanError

EfficiencyOption = Annotated[
    Path | None,
    typer.Option(
        "--efficiency",
        metavar="FILE",
        help="Efficiency factors (an efficiency TOML file, e.g. from calibrate --fit) instead "
        "of the catalog's.",
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


class Unmet(HetplanError):
    """A well-formed request the answer cannot meet (exit 1), said in one line."""

    exit_code = 1


def catalog_dirs(ctx: typer.Context) -> list[Path]:
    """The global ``--catalog`` directories, in the order given."""
    return ctx.obj["catalog_dirs"]


def verbose(ctx: typer.Context) -> bool:
    """Whether the global ``--verbose`` asked for the solvers' logs (on stderr)."""
    return ctx.obj["verbose"]


def load(ctx: typer.Context, *extra: Path):
    """The bundled catalog with the ``--catalog`` directories (then ``extra``) on top."""
    from optimizer.api import load_catalog

    return load_catalog(*catalog_dirs(ctx), *extra)


def context(ctx: typer.Context, efficiency_file: Path | None = None):
    """The bundled catalog with the ``--catalog`` directories on top, and the efficiency
    factors of ``--efficiency FILE`` (else the catalog's)."""
    from optimizer.api import open_context

    return open_context(catalog_dirs(ctx), efficiency_file)


def console():
    """A rich console; wide when piped, so tables are not folded to 80 columns."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 240)


def echo_json(data) -> None:
    """``data`` as one strict JSON document on stdout: numbers nobody computed (NaN, ±Infinity)
    are null, as in every result's ``to_dict``."""
    from optimizer.api import plain

    typer.echo(json.dumps(plain(data), indent=2, allow_nan=False))
