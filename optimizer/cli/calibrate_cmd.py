"""``hetplan calibrate``: the model against measurements, and efficiency factors fitted to them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from optimizer.cli.common import (
    EfficiencyOption,
    JsonFlag,
    console,
    echo_json,
    efficiency_table,
    load,
)
from optimizer.errors import HetplanError


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
    efficiency: EfficiencyOption = None,
    json: JsonFlag = False,
) -> None:
    """Predict every row, print predicted vs measured and the error summary; --fit writes
    efficiency factors that --efficiency FILE accepts everywhere."""
    from optimizer.catalog.cases import load_cases
    from optimizer.perf.calibration import fit_families, predict_cases, summarize
    from optimizer.perf.efficiency import EfficiencyTable, Mode

    if mode not in {m.value for m in Mode}:
        raise HetplanError(f"--mode: unknown value {mode!r}; use sol or calibrated")
    if out is not None and not fit:
        raise HetplanError("--out needs --fit")
    if fit and out is not None and out.exists() and not force:
        raise HetplanError(f"{out}: exists; pass --force to overwrite it")
    catalog = load(ctx)
    cases = load_cases(cases_file)
    table = efficiency_table(catalog, efficiency) if mode == "calibrated" else None
    written = None
    if fit:
        from optimizer.report.efficiency_toml import efficiency_toml

        fitted = fit_families(cases, catalog)
        text = efficiency_toml(fitted, str(cases_file), "its throughput and fixed-batch rows")
        table = EfficiencyTable({f.family: f.efficiency for f in fitted}, "fit")
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
            written = str(out)
        elif not json:
            typer.echo(text)
    predictions, skips = predict_cases(cases, catalog, table)
    summary = summarize(predictions)
    if json:
        echo_json(
            {
                "mode": "calibrated" if table else "sol",
                "rows": [
                    {
                        "case_id": p.case.case_id,
                        "metric": p.case.metric,
                        "predicted": p.predicted,
                        "measured": p.case.value,
                        "error": p.error,
                        "defaults": list(p.defaults),
                    }
                    for p in predictions
                ],
                "skipped": [{"case_id": s.case.case_id, "reason": s.reason} for s in skips],
                "summary": summary,
                "written": written,
            }
        )
        return
    _render(predictions, skips, summary, written)


def _render(predictions, skips, summary, written) -> None:
    from rich.table import Table

    out = console()
    rows = Table(title="Predicted against measured")
    for column in ("case", "metric", "predicted", "measured", "error", "defaults used"):
        rows.add_column(column, justify="right" if column in ("predicted", "measured", "error")
                        else "left")  # fmt: skip
    for p in predictions:
        rows.add_row(p.case.case_id, p.case.metric, f"{p.predicted:,.4g}", f"{p.case.value:,.4g}",
                     f"{p.error:.1%}", "; ".join(p.defaults))  # fmt: skip
    out.print(rows)
    if skips:
        out.print(f"skipped {len(skips)} rows:")
        for s in skips:
            out.print(f"  {s.case.case_id}: {s.reason}")
    table = Table(title="Absolute relative error")
    for column in ("rows", "n", "median", "p90"):
        table.add_column(column)
    for name, stats in summary.items():
        table.add_row(name, str(stats["n"]), f"{stats['median']:.1%}", f"{stats['p90']:.1%}")
    out.print(table)
    if written:
        out.print(f"wrote {written}")
