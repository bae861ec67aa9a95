"""``hetplan catalog list|show|validate``: browse and check the catalog."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from optimizer.api import HetplanError
from optimizer.cli.common import JsonFlag, catalog_dirs, console, echo_json, load

app = typer.Typer(help="Browse and check the catalog.", no_args_is_help=True)


class UnknownKindError(HetplanError):
    """A KIND argument that names no catalog kind."""


@app.command("list")
def list_entries(
    ctx: typer.Context,
    kind: Annotated[
        str | None,
        typer.Argument(
            help="accelerators, memory, interconnects, systems, models, workloads, economics, "
            "efficiency or power."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List catalog entries, all kinds or one KIND."""
    from optimizer.api import KIND_BY_NAME
    from optimizer.report import catalog_table_rows, render_rows

    if kind is not None and kind not in KIND_BY_NAME:
        raise UnknownKindError(f"unknown kind {kind!r}; expected one of {', '.join(KIND_BY_NAME)}")
    rows = catalog_table_rows(load(ctx), kind)
    if as_json:
        echo_json(rows)
        return
    skip = ("kind", "name") if kind else ()
    console().print(render_rows(rows, title=f"hetplan catalog: {kind or 'all kinds'}", skip=skip))


@app.command()
def show(
    ctx: typer.Context,
    entry_id: Annotated[str, typer.Argument(metavar="ID", help="Id of any catalog entry.")],
    as_json: JsonFlag = False,
) -> None:
    """Show one entry with its sources (models also show derived parameters and KV bytes)."""
    from optimizer.report import entry_to_dict

    data = entry_to_dict(load(ctx).find(entry_id))
    if as_json:
        echo_json(data)
        return
    from rich.pretty import Pretty

    console().print(Pretty(data, expand_all=False))


@app.command()
def validate(
    ctx: typer.Context,
    directory: Annotated[
        Path | None,
        typer.Argument(
            metavar="DIR", help="A user catalog directory, checked on top of the bundled one."
        ),
    ] = None,
) -> None:
    """Check the bundled catalog, plus DIR as it would be used; exit 2 listing every problem."""
    from optimizer.api import Origin

    given = [os.path.realpath(d) for d in catalog_dirs(ctx)]  # realpath: a loop is no error
    extra = [directory] if directory and os.path.realpath(directory) not in given else []
    catalog = load(ctx, *extra)  # a DIR already given with --catalog is loaded once
    counts: dict[str, int] = {}
    for record in catalog.records.values():
        counts[record.kind] = counts.get(record.kind, 0) + 1
    user = [r for r in catalog.records.values() if r.origin is not Origin.BUNDLED]
    overrides = [r.entry.id for r in user if r.origin is Origin.OVERRIDE]
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    typer.echo(f"catalog OK ({catalog.fingerprint}): {summary}")
    if user:
        line = f"{len(user)} user entries"
        if overrides:
            line += f", overriding {', '.join(overrides)}"
        typer.echo(line)
