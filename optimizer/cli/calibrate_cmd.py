"""``hetplan calibrate``: the model against measurements, and efficiency factors fitted to them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from optimizer.api import HetplanError
from optimizer.cli.common import EfficiencyOption, JsonFlag, console, context, echo_json


def calibrate(
    ctx: typer.Context,
    cases_file: Annotated[Path, typer.Argument(metavar="CASES.csv", help="Calibration CSV.")],
    fit: Annotated[
        bool, typer.Option("--fit", help="Fit efficiency factors to the rows.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", metavar="FILE", help="Where --fit writes its TOML.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")] = False,
    mode: Annotated[str, typer.Option("--mode", help="sol or calibrated.")] = "calibrated",
    leave_source_out: Annotated[
        bool,
        typer.Option(
            "--leave-source-out", help="Fit without each source group in turn and predict it."
        ),
    ] = False,  # fmt: skip
    engine: Annotated[
        str | None,
        typer.Option("--engine", help="Serving engine of rows whose engine column is blank."),
    ] = None,
    efficiency: EfficiencyOption = None,
    json: JsonFlag = False,
) -> None:
    """Predict every row, print predicted vs measured and the error summary; --fit writes
    efficiency factors that --efficiency FILE accepts everywhere."""
    from optimizer.api import calibrate as run_calibrate

    if leave_source_out:
        if fit or out is not None or efficiency is not None:
            raise HetplanError(
                "--leave-source-out fits its own factors: no --fit, --out or --efficiency"
            )
        _leave_source_out(ctx, cases_file, json, engine)
        return
    if out is not None and not fit:
        raise HetplanError("--out needs --fit")
    if out is not None:
        from optimizer.api import check_destination

        check_destination(out, force=force)  # before the fit, not after it
    result = run_calibrate(
        cases_file, fit=fit, mode=mode, context=context(ctx, efficiency), engine=engine
    )
    written = str(result.save(out, force=force)) if out is not None else None
    if json:
        echo_json(result.to_dict() | {"written": written})
        return
    if fit and out is None:
        typer.echo(result.efficiency_toml)
    _render(result, written)


def _render(result, written) -> None:
    from rich.table import Table

    out = console()
    rows = Table(title="Predicted against measured")
    for column in ("case", "metric", "predicted", "measured", "error", "defaults used"):
        rows.add_column(column, justify="right" if column in ("predicted", "measured", "error")
                        else "left")  # fmt: skip
    for r in result.rows:
        rows.add_row(r.case_id, r.metric, f"{r.predicted:,.4g}", f"{r.measured:,.4g}",
                     f"{r.error:.1%}", "; ".join(r.defaults))  # fmt: skip
    out.print(rows)
    if result.skipped:
        out.print(f"skipped {len(result.skipped)} rows:")
        for s in result.skipped:
            out.print(f"  {s['case_id']}: {s['reason']}")
    table = Table(title="Absolute relative error")
    for column in ("rows", "n", "median", "p90"):
        table.add_column(column)
    for name, stats in result.summary.items():
        table.add_row(name, str(stats["n"]), f"{stats['median']:.1%}", f"{stats['p90']:.1%}")
    out.print(table)
    if written:
        out.print(f"wrote {written}")


def _leave_source_out(ctx: typer.Context, cases_file: Path, json: bool, engine) -> None:
    from rich.table import Table

    from optimizer.api import leave_one_source_out

    result = leave_one_source_out(cases_file, context=context(ctx, None), engine=engine)
    if json:
        echo_json(result.to_dict())
        return
    table = Table(title="Core rows of each source group, predicted by a fit without it")
    for column in ("source group", "rows", "core", "median", "p90", "extrapolated", "median"):
        table.add_column(column, justify="left" if column == "source group" else "right")
    percent = lambda x: "—" if x is None else f"{x:.1%}"  # noqa: E731
    for g in result.groups:
        table.add_row(g.group, str(g.rows), str(g.core), percent(g.median), percent(g.p90),
                      str(g.extrapolated), percent(g.extrapolated_median))  # fmt: skip
    out = console()
    out.print(table)
    out.print("extrapolated: core rows whose accelerator family, or whose weight precision, no "
              "kept row has (scored apart)")  # fmt: skip
