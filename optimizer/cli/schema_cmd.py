"""``hetplan schema``: the JSON Schema of a problem file or a catalog entry, for editors."""

from __future__ import annotations

from typing import Annotated

import typer

from optimizer.cli.common import echo_json


def schema(
    name: Annotated[
        str,
        typer.Argument(
            help="problem, or a catalog table: accelerator, memory, interconnect, system, "
            "model, workload, economics, efficiency, power."
        ),
    ] = "problem",
) -> None:
    """Print the JSON Schema of a problem file or a catalog entry (strict JSON on stdout)."""
    from optimizer.api import schema as build

    echo_json(build(name))
