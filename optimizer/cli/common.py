"""What the commands share: the catalog and efficiency options, exit 1, output."""

from __future__ import annotations

import json
import math
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


MAX_TOKENS = 1e9
"""Tokens of one request (input, output, cached prefix): at most 10^9."""
MAX_AMOUNT = 1e9
"""Rates (requests/s), targets (ms) and tier capacities (GB) on the command line: at most 10^9,
far beyond any real value and far below where the model's arithmetic overflows."""
MAX_WATTS = 1e6
"""A power cap per device: at most a megawatt."""
MAX_COUNT = 1 << 20
"""Sequences of a batch: at most 2^20, ``catalog.base.MAX_COUNT`` (repeated here so that the CLI
starts without importing the catalog and pydantic)."""


def finite(low: float, high: float, *, above: bool = False):
    """A parser of a number option that takes only finite numbers in ``[low, high]`` (with
    ``above``, in ``(low, high]``): NaN, ±inf and overflowing values are usage errors (exit 2,
    ``--option: message``) before any work starts."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise typer.BadParameter(f"must be a number, got {text!r}") from None
        floor_ok = value > low if above else value >= low
        if not (math.isfinite(value) and floor_ok and value <= high):
            span = f"above {low:g} and at most {high:g}" if above else f"from {low:g} to {high:g}"
            raise typer.BadParameter(f"must be a finite number {span}, got {text!r}")
        return value

    return parse


def whole(low: int, high: int):
    """A parser of a count option that takes only whole numbers in ``[low, high]``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise typer.BadParameter(f"must be a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise typer.BadParameter(f"must be from {low:,} to {high:,}, got {text}")
        return value

    return parse


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
    """A rich console; wide when piped, so tables are not folded to 80 columns. Markup is off:
    paths, ids and CSV cells are printed as written, so ``[/]`` in a name can neither fail nor
    restyle the output (styles are given as ``rich.text.Text`` instead)."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 240, markup=False)


def echo_json(data) -> None:
    """``data`` as one strict JSON document on stdout: numbers nobody computed (NaN, ±Infinity)
    are null, as in every result's ``to_dict``."""
    from optimizer.api import plain

    typer.echo(json.dumps(plain(data), indent=2, allow_nan=False))
