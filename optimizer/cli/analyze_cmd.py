"""``hetplan analyze``: OI, CF and the binding wall of a model's operators, with the plots."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from optimizer.api.defaults import ANALYSIS_ACCELERATORS
from optimizer.cli.common import (
    MAX_COUNT,
    MAX_TOKENS,
    EfficiencyOption,
    JsonFlag,
    console,
    context,
    echo_json,
    finite,
    whole,
)

Opt = typer.Option


def _accelerator_ids(given: list[str] | None) -> tuple[str, ...] | None:
    """Ids from repeated and comma-separated ``--accelerator`` values, in order, once each."""
    if not given:
        return None
    ids = [part.strip() for value in given for part in value.split(",") if part.strip()]
    return tuple(dict.fromkeys(ids))


def analyze(
    ctx: typer.Context,
    model: Annotated[str, Opt("--model", help="Model id.")],
    workload: Annotated[
        str | None, Opt("--workload", help="Workload id: its mean turn is analysed.")
    ] = None,
    accelerator: Annotated[
        list[str] | None,
        Opt(
            "--accelerator",
            help="Accelerator id (repeat it, or comma-separate ids); default: "
            + ", ".join(ANALYSIS_ACCELERATORS)
            + ".",
        ),
    ] = None,
    precision: Annotated[str, Opt("--precision", help="Weight precision.")] = "bf16",
    kv_precision: Annotated[
        str | None,
        Opt("--kv-precision", help="KV cache precision (default: the weights', fp8 below 8 bit)."),
    ] = None,
    batch: Annotated[
        int,
        Opt(
            "--batch",
            help="Requests per step, sharing the weights' CF.",
            parser=whole(1, MAX_COUNT),
        ),
    ] = 16,
    input_tokens: Annotated[
        float | None,
        Opt(
            "--input-tokens",
            help="Prompt tokens without --workload (8192).",
            parser=finite(1, MAX_TOKENS),
        ),
    ] = None,
    output_tokens: Annotated[
        float | None,
        Opt(
            "--output-tokens",
            help="Generated tokens without --workload (512).",
            parser=finite(1, MAX_TOKENS),
        ),
    ] = None,
    prefix_tokens: Annotated[
        float,
        Opt(
            "--prefix-tokens",
            help="Cached part of the input without --workload.",
            parser=finite(0, MAX_TOKENS),
        ),
    ] = 0.0,
    out_dir: Annotated[
        Path, Opt("--out-dir", metavar="DIR", help="Where the plots (PNG and SVG) go.")
    ] = Path("results"),
    plots: Annotated[bool, Opt("--plots/--no-plots", help="Write the plots.")] = True,
    force: Annotated[bool, Opt("--force", help="Replace plots that already exist.")] = False,
    efficiency: EfficiencyOption = None,
    json: JsonFlag = False,
) -> None:
    """FLOPs, bytes, OI, CF and the binding wall of each operator in prefill and decode, and
    the roofline, CF-vs-context, OI-CF quadrant and capacity-wall plots."""
    from optimizer.api import AnalyzeRequest
    from optimizer.api import analyze as run_analyze

    request = AnalyzeRequest(
        model=model, workload=workload, precision=precision, kv_precision=kv_precision,
        batch=batch, input_tokens=input_tokens, output_tokens=output_tokens,
        prefix_tokens=prefix_tokens,
    )  # fmt: skip
    ids = _accelerator_ids(accelerator)
    if ids is not None:
        request = replace(request, accelerators=ids)
    if plots:
        from optimizer.api import check_destination
        from optimizer.report.analysis_plots import plot_paths

        for path in plot_paths(model, workload, out_dir):
            check_destination(path, force=force)
    result = run_analyze(
        request, plots_dir=out_dir if plots else None, context=context(ctx, efficiency)
    )
    data = result.to_dict()
    if json:
        echo_json(data)
        return
    _render(data)


def _render(d: dict) -> None:
    """The operator table per phase, the accelerators and the notes, for people."""
    from rich.text import Text

    from optimizer.report import render_rows

    out = console()
    r = d["request"]
    out.print(
        Text(d["model"], style="bold"),
        f" ({d['attention']}, {d['precision']}, KV {d['kv_precision']}), "
        f"{d['workload'] or 'request'}: {r['input_tokens']:,.0f} input tokens "
        f"({r['prefix_tokens']:,.0f} cached), {r['output_tokens']:,.0f} output, "
        f"batch {d['batch']:g}; walls on the pure roofline",
        sep="",
    )
    ids = [a["id"] for a in d["accelerators"]]
    for phase in d["phases"]:
        rows = [_row(op["operator"], op, op["wall"], ids) for op in phase["operators"]]
        rows.append(_row("step", phase, phase["wall"], ids))
        title = (
            f"{phase['phase']}: {phase['tokens']:,.0f} tokens, {phase['sequences']:g} sequences"
            f" at {phase['context_tokens']:,.0f} tokens of context"
        )
        out.print(render_rows(rows, title=title))
    accelerators = [
        {
            "id": a["id"],
            "ridge_flop_per_byte": round(a["ridge_flop_per_byte"], 1),
            "memory_gb": round(a["memory_bytes"] / 1e9, 1),
            "tp": a["tp"] or "–",
            "max_batch_prefill": a["max_batch_prefill"],
            "max_batch_decode": a["max_batch_decode"],
            f"tp_for_batch_{d['batch']:g}": a["tp_for_batch"] or "none",
        }
        for a in d["accelerators"]
    ]
    out.print(render_rows(accelerators, title="accelerators (batches per instance of tp devices)"))
    for note in d["notes"]:
        out.print(f"note: {note}")
    if d["plots"]:
        out.print("plots: " + ", ".join(d["plots"]))


def _row(name: str, x: dict, walls: dict, ids: list[str]) -> dict:
    row = {
        "operator": name,
        "flops": x["flops"],
        "bytes_gb": round(x["bytes"] / 1e9, 3),
        "oi_flop_per_byte": round(x["oi_flop_per_byte"], 1),
        "cf_gb": round(x["cf_bytes"] / 1e9, 3),
    }
    return row | {f"wall_{i}": walls[i] for i in ids}
