"""Helpers the model commands share: the catalog, the efficiency table, output."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

EfficiencyOption = Annotated[
    Path | None,
    typer.Option(
        "--efficiency",
        metavar="FILE",
        help="Efficiency factors ([[efficiency]] TOML, e.g. from calibrate --fit) instead of "
        "the catalog's.",
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def load(ctx: typer.Context, *extra: Path):
    """The bundled catalog with the user's --catalog directories (then ``extra``) on top."""
    from optimizer.catalog.loader import load_catalog

    return load_catalog(*ctx.obj["catalog_dirs"], *extra)


def efficiency_table(catalog, efficiency_file: Path | None):
    """The factors of ``--efficiency FILE``, else the catalog's ``[[efficiency]]`` entries."""
    from optimizer.catalog.loader import load_efficiency_file
    from optimizer.perf.efficiency import table_from_entries

    if efficiency_file is not None:
        return table_from_entries(load_efficiency_file(efficiency_file), str(efficiency_file))
    return table_from_entries(catalog.efficiency.values(), "catalogs/efficiency.toml")


def console():
    """A rich console; wide when piped, so tables are not folded to 80 columns."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 240)


def echo_json(data) -> None:
    typer.echo(json.dumps(data, indent=2))
