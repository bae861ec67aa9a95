"""``hetplan codesign``: a Bayesian search over hypothetical prefill and decode hardware (and a
memory pool), each trial an optimal fleet; resumable on the same storage."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from optimizer.cli.common import (
    EfficiencyOption,
    JsonFlag,
    catalog_dirs,
    console,
    echo_json,
    whole,
)

Opt = typer.Option
SAMPLERS = ("tpe", "gp", "nsga2", "random")


def _sampler(text: str) -> str:
    if text not in SAMPLERS:
        raise typer.BadParameter(f"expected one of {', '.join(SAMPLERS)}, got {text!r}")
    return text


def codesign(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Co-design file (TOML).")],
    trials: Annotated[
        int | None,
        Opt(
            "--trials",
            help="Trials the study holds when done (default: the file's).",
            parser=whole(1, 100_000),
        ),
    ] = None,  # fmt: skip
    workers: Annotated[
        int, Opt("--workers", help="Processes sharing the study.", parser=whole(1, 1024))
    ] = 1,
    storage: Annotated[
        str | None,
        Opt(
            "--storage",
            metavar="URL",
            help="Optuna storage: an SQLAlchemy URL (sqlite:///F.db, postgresql+psycopg://...) "
            "or a journal file (journal:PATH); default: OUT/codesign.db. Running again on the "
            "same storage resumes the study.",
        ),
    ] = None,  # fmt: skip
    sampler: Annotated[
        str | None,
        Opt(
            "--sampler", help="tpe (default), gp (needs torch), nsga2 or random.", parser=_sampler
        ),
    ] = None,  # fmt: skip
    seed: Annotated[
        int | None,
        Opt("--seed", help="Sampler seed (default: the file's).", parser=whole(0, 2**32 - 1)),
    ] = None,  # fmt: skip
    out: Annotated[
        Path | None,
        Opt("--out", metavar="DIR", help="Output directory (default: results/codesign/NAME)."),
    ] = None,
    force: Annotated[
        bool, Opt("--force", help="Use a directory of another co-design file or other files.")
    ] = False,
    efficiency: EfficiencyOption = None,
    json: JsonFlag = False,
) -> None:
    """Search hypothetical accelerators (and a memory pool) for the fleets of the file's base
    problems; write the trials (trials.parquet, trials.csv) and the report (summary.md,
    Pareto figure, report.html). Exit 1 when no design is feasible."""
    from optimizer.codesign import report_codesign, run_codesign

    progress = _Progress(quiet=json)
    try:
        result = run_codesign(
            file, out=out, trials=trials, workers=workers, storage=storage, sampler=sampler,
            seed=seed, force=force, catalog_dirs=catalog_dirs(ctx), efficiency=efficiency,
            on_trial=progress.advance,
        )  # fmt: skip
    finally:
        progress.stop()
    report = report_codesign(
        result.directory, catalog_dirs=catalog_dirs(ctx), efficiency=efficiency
    )
    if json:
        echo_json(result.to_dict() | {"report": list(report.files)})
    else:
        _print(result, report)
    if not result.success:
        raise typer.Exit(1)


def _print(result, report) -> None:
    out = console()
    out.print(f"{result.codesign}: {result.message} in {result.wall_s:.0f} s "
              f"({result.sampler}, seed {result.seed}); storage {result.storage}")  # fmt: skip
    for line in report.headlines:
        out.print(line)
    html = next(f for f in report.files if f.endswith(".html"))
    out.print(f"trials: {', '.join(result.files.values())}; open {html}")


class _Progress:
    """A progress bar with an ETA on stderr (rich), or nothing under ``--json``."""

    def __init__(self, *, quiet: bool):
        self._quiet = quiet
        self._bar = None
        self._task = None

    def advance(self, done: int, total: int) -> None:
        if self._quiet:
            return
        if self._bar is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("trials"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TextColumn("ETA"), TimeRemainingColumn(),
                console=Console(file=sys.stderr, markup=False),
            )  # fmt: skip
            self._task = self._bar.add_task("trials", total=total, completed=done - 1)
            self._bar.start()
        self._bar.update(self._task, completed=done)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
