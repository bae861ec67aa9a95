"""``hetplan study run``, ``status`` and ``report``: a design study's points solved in parallel
and resumably, what its directory holds so far, and its report (summary, figures, HTML)."""

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
    finite,
    whole,
)

Opt = typer.Option
MAX_FAILURES_SHOWN = 10

OutsideFlag = Annotated[
    bool,
    Opt(
        "--allow-outside-paths",
        help="Let the study's base name a file outside the study file's directory and the "
        "working directory.",
    ),
]

app = typer.Typer(
    help="Design studies: many variants of one problem, solved in parallel and resumably.",
    no_args_is_help=True,
)


def _dask_address(text: str) -> str:
    """``local:N``, a scheduler address (``tcp://HOST:PORT``) or a scheduler file."""
    if text.startswith("local:"):
        n = text.removeprefix("local:")
        if not (n.isdecimal() and 1 <= int(n) <= 1024):
            raise typer.BadParameter(f"local:N needs N from 1 to 1024, got {text!r}")
    elif "://" not in text and not Path(text).is_file():
        why = "expected local:N, a scheduler address (tcp://HOST:PORT) or a scheduler file"
        raise typer.BadParameter(f"{why}, got {text!r}")
    return text


@app.command("run")
def run(
    ctx: typer.Context,
    study: Annotated[Path, typer.Argument(help="Study file (TOML).")],
    out: Annotated[
        Path | None,
        Opt("--out", metavar="DIR", help="Output directory (default: results/studies/STEM)."),
    ] = None,
    workers: Annotated[
        int | None,
        Opt("--workers", help="Local worker processes (default: CPUs).", parser=whole(1, 1024)),
    ] = None,
    dask: Annotated[
        str | None,
        Opt(
            "--dask",
            metavar="ADDRESS",
            help="Run on Dask: local:N starts a LocalCluster of N workers; tcp://HOST:PORT or "
            "a scheduler file uses a running cluster.",
            parser=_dask_address,
        ),
    ] = None,
    point_timeout: Annotated[
        float | None,
        Opt(
            "--point-timeout",
            metavar="S",
            help="Stop a point after S seconds and record it as timeout.",
            parser=finite(1e-3, 1e7),
        ),
    ] = None,
    force: Annotated[
        bool, Opt("--force", help="Write into a directory of another study or other files.")
    ] = False,
    efficiency: EfficiencyOption = None,
    allow_outside_paths: OutsideFlag = False,
    json: JsonFlag = False,
) -> None:
    """Solve every point of a study not yet in its directory's journal; write points.parquet
    and points.csv. Exit 1 when a point failed or timed out."""
    from optimizer.study import run_study

    progress = _Progress(quiet=json)
    try:
        result = run_study(
            study, out=out, workers=workers, dask=dask, point_timeout_s=point_timeout,
            force=force, catalog_dirs=catalog_dirs(ctx), efficiency=efficiency,
            allow_outside_paths=allow_outside_paths, on_start=progress.start,
            on_point=progress.advance,
        )  # fmt: skip
    finally:
        progress.stop()
    if json:
        echo_json(result.to_dict())
    else:
        _print_run(result, sorted(progress.failures, key=lambda o: o.index))
    if not result.success:
        raise typer.Exit(1)


def _print_run(result, failures: list) -> None:
    out = console()
    out.print(f"{result.study}: {result.message}")
    if result.n_computed:
        rate = f", {result.points_per_minute:.1f} points/min" if result.points_per_minute else ""
        out.print(f"computed {result.n_computed} on {result.executor}{rate}; "
                  f"{result.n_reused} from the journal")  # fmt: skip
    else:
        out.print(f"all {result.n_reused} points were in the journal")
    for outcome in failures[:MAX_FAILURES_SHOWN]:
        out.print(f"point {outcome.index}: {outcome.status}: {outcome.message}")
    if len(failures) > MAX_FAILURES_SHOWN:
        out.print(f"and {len(failures) - MAX_FAILURES_SHOWN} more failed points (see points.csv)")
    out.print("tables: " + ", ".join(result.files.values()))


@app.command("status")
def status(
    directory: Annotated[Path, typer.Argument(help="A study's output directory.")],
    json: JsonFlag = False,
) -> None:
    """Points of a study directory so far: answered, failed and missing, by status."""
    from optimizer.study import study_status

    result = study_status(directory)
    if json:
        echo_json(result.to_dict())
        return
    out = console()
    out.print(f"{result.study} ({result.study_file}) in {result.directory}: {result.status}")
    out.print(f"{result.n_points} points: {result.n_done} answered, {result.n_failed} failed, "
              f"{result.n_missing} missing")  # fmt: skip
    for name, n in result.counts.items():
        out.print(f"  {name:<12} {n:>7}")
    if result.journal_lines_skipped:
        out.print(f"{result.journal_lines_skipped} unreadable journal lines skipped")


@app.command("report")
def report(
    directory: Annotated[Path, typer.Argument(help="A study's output directory.")],
    out: Annotated[
        Path | None,
        Opt("--out", metavar="REPORT_DIR", help="Report directory (default: DIR/report)."),
    ] = None,
    force: Annotated[bool, Opt("--force", help="Replace report files that exist.")] = False,
    json: JsonFlag = False,
) -> None:
    """Write a study's report: summary.md, figures (PNG and SVG) and one self-contained
    report.html, from its points.parquet."""
    from optimizer.study import report_study

    result = report_study(directory, out=out, force=force)
    if json:
        echo_json(result.to_dict())
        return
    out_console = console()
    out_console.print(f"{result.study}: {result.message}")
    html = next(f for f in result.files if f.endswith(".html"))
    out_console.print(f"open {html}")


@app.command("summary")
def summary(
    directories: Annotated[list[Path], typer.Argument(help="Study output directories.")],
    out: Annotated[Path, Opt("--out", metavar="FILE", help="The Markdown file to write.")],
    title: Annotated[str, Opt("--title", help="Its first heading.")] = "Study summary",
    force: Annotated[bool, Opt("--force", help="Replace FILE if it exists.")] = False,
    json: JsonFlag = False,
) -> None:
    """Write one Markdown page over several studies: each one's findings, points by status and
    a link to its report."""
    from optimizer.study import summarize_studies

    result = summarize_studies(directories, out, title=title, force=force)
    if json:
        echo_json(result.to_dict())
        return
    console().print(result.message)


class _Progress:
    """A progress bar with an ETA on stderr (rich), or nothing under ``--json``; it keeps the
    failed points' outcomes for the summary."""

    def __init__(self, *, quiet: bool):
        self._quiet = quiet
        self._bar = None
        self._task = None
        self.failures: list = []

    def start(self, n_points: int, n_todo: int, executor: str | None) -> None:
        if self._quiet or not n_todo:
            return
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
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(),
            TextColumn("ETA"), TimeRemainingColumn(),
            console=Console(file=sys.stderr, markup=False),
        )  # fmt: skip
        done = n_points - n_todo
        self._task = self._bar.add_task(
            f"{n_todo} points ({done} done before) on {executor}", total=n_todo, failed=0
        )
        self._bar.start()

    def advance(self, outcome) -> None:
        if outcome.status in ("error", "timeout"):
            self.failures.append(outcome)
        if self._bar is not None:
            self._bar.update(self._task, advance=1, failed=len(self.failures))

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
