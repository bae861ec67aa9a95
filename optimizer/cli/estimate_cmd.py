"""``hetplan estimate``: one configuration through the OI/CF model."""

from __future__ import annotations

from typing import Annotated

import typer

from optimizer.cli.common import (
    MAX_AMOUNT,
    MAX_TOKENS,
    MAX_WATTS,
    EfficiencyOption,
    JsonFlag,
    Unmet,
    console,
    context,
    echo_json,
    finite,
)

Opt = typer.Option


def estimate(
    ctx: typer.Context,
    model: Annotated[str, Opt("--model", help="Model id.")],
    accelerator: Annotated[str, Opt("--accelerator", help="Accelerator id.")],
    tp: Annotated[int, Opt("--tp", help="Tensor-parallel ranks.")] = 1,
    pp: Annotated[int, Opt("--pp", help="Pipeline stages.")] = 1,
    dp: Annotated[int, Opt("--dp", help="Attention data-parallel ranks.")] = 1,
    ep: Annotated[int, Opt("--ep", help="Expert-parallel ranks (divides routed experts).")] = 1,
    precision: Annotated[str, Opt("--precision", help="Weight precision.")] = "bf16",
    kv_precision: Annotated[str | None, Opt("--kv-precision", help="KV cache precision.")] = None,
    activation_precision: Annotated[
        str | None, Opt("--activation-precision", help="Activations (default: compute dtype).")
    ] = None,
    input_tokens: Annotated[
        float | None, Opt("--input-tokens", help="Prompt tokens.", parser=finite(1, MAX_TOKENS))
    ] = None,
    output_tokens: Annotated[
        float | None,
        Opt("--output-tokens", help="Generated tokens.", parser=finite(1, MAX_TOKENS)),
    ] = None,
    prefix_tokens: Annotated[
        float,
        Opt("--prefix-tokens", help="Cached part of the input.", parser=finite(0, MAX_TOKENS)),
    ] = 0,
    workload: Annotated[str | None, Opt("--workload", help="Workload id (mean turn).")] = None,
    batch: Annotated[int | None, Opt("--batch", help="Fixed batch (sequences).")] = None,
    requests_per_s: Annotated[
        float | None,
        Opt(
            "--requests-per-s",
            help="Arrival rate per instance (default: the highest that meets the SLOs).",
            parser=finite(0, MAX_AMOUNT, above=True),
        ),
    ] = None,
    ttft_slo_ms: Annotated[
        float | None,
        Opt("--ttft-slo-ms", help="TTFT target.", parser=finite(0, MAX_AMOUNT, above=True)),
    ] = None,
    tpot_slo_ms: Annotated[
        float | None,
        Opt("--tpot-slo-ms", help="TPOT target.", parser=finite(0, MAX_AMOUNT, above=True)),
    ] = None,
    slo_percentile: Annotated[
        float, Opt("--slo-percentile", help="SLO percentile.", parser=finite(50, 100))
    ] = 99.0,
    phase: Annotated[str, Opt("--phase", help="prefill, decode or aggregated.")] = "aggregated",
    mode: Annotated[str, Opt("--mode", help="sol or calibrated.")] = "calibrated",
    tier: Annotated[str | None, Opt("--tier", help="Memory tier id.")] = None,
    tier_gb: Annotated[
        float | None,
        Opt("--tier-gb", help="Tier GB per instance.", parser=finite(0, MAX_AMOUNT)),
    ] = None,
    tier_use: Annotated[str | None, Opt("--tier-use", help="spill or park.")] = None,
    power_cap_w: Annotated[
        float | None,
        Opt(
            "--power-cap-w",
            help="Power limit per device (default: its TDP).",
            parser=finite(0, MAX_WATTS, above=True),
        ),
    ] = None,
    engine: Annotated[
        str | None, Opt("--engine", help="Serving engine id (default: the vendor's).")
    ] = None,
    efficiency: EfficiencyOption = None,
    json: JsonFlag = False,
) -> None:
    """Predict TTFT, TPOT, throughput, OI, CF, the binding wall and energy of one instance."""
    from optimizer.api import EstimateRequest
    from optimizer.api import estimate as run_estimate

    request = EstimateRequest(
        model=model, accelerator=accelerator, tp=tp, pp=pp, dp=dp, ep=ep, precision=precision,
        kv_precision=kv_precision, activation_precision=activation_precision,
        input_tokens=input_tokens, output_tokens=output_tokens, prefix_tokens=prefix_tokens,
        workload=workload, batch=batch, ttft_slo_ms=ttft_slo_ms, tpot_slo_ms=tpot_slo_ms,
        slo_percentile=slo_percentile, phase=phase, mode=mode, tier=tier, tier_gb=tier_gb,
        tier_use=tier_use, requests_per_s=requests_per_s, power_cap_w=power_cap_w, engine=engine,
    )  # fmt: skip
    result = run_estimate(request, context=context(ctx, efficiency))
    if json:
        echo_json(result.to_dict())
    elif result.success:
        _render(result.to_dict())
    if not result.success:
        raise Unmet(result.message)


def _render(r: dict) -> None:
    from rich.table import Table

    tpot = (
        f"{r['tpot_s'] * 1e3:.2f} ms mean, {r['tpot_p50_s'] * 1e3:.2f} p50, "
        f"{r['tpot_p99_s'] * 1e3:.2f} p99"
        if r["tpot_s"] is not None
        else "—"
    )
    table = Table(
        title=f"{r['model']} on {r['devices']} × {r['accelerator']} (tp {r['tp']}, pp {r['pp']}, "
        f"dp {r['dp']}, ep {r['ep']}) on {r['engine']}, {r['phase']}, {r['mode']}",
        show_header=False,
    )
    mem = r["memory_bytes_per_device"]
    rows = [
        ("batch", f"{r['batch']:,.1f} (capacity wall {r['capacity_max_batch']})"),
        ("rate", f"{r['requests_per_s']:,.3g} requests/s ({r['utilization']:.0%} of the most)"),
        ("TTFT", f"{r['ttft_s'] * 1e3:.1f} ms mean, {r['ttft_p50_s'] * 1e3:.1f} p50, "
                 f"{r['ttft_p99_s'] * 1e3:.1f} p99 (queue {r['queue_wait_s'] * 1e3:.1f} ms)"),
        ("TPOT", tpot),
        ("throughput", f"{r['output_tokens_per_s']:,.0f} tok/s "
                       f"({r['output_tokens_per_s_per_accelerator']:,.0f} per accelerator)"),
        ("bound", r["bound"]),
        ("OI (FLOP/byte)", f"prefill {r['oi']['prefill']:,.1f}, decode {r['oi']['decode']:,.1f}"),
        ("CF per request", f"{r['cf_bytes_per_request'] / 1e9:,.2f} GB"),
        ("memory per device", f"weights {mem['weights'] / 1e9:.1f} GB, KV {mem['kv'] / 1e9:.1f}"
                              f" GB, other {mem['other'] / 1e9:.1f} GB"),
        ("power", f"{r['power_w']:,.0f} W accelerators + {r['host_power_w']:,.0f} W host "
                  "per instance"),
        ("energy", f"{r['energy_j_per_output_token']:.3f} J per output token "
                   f"({r['wall_energy_j_per_output_token']:.3f} with the host)"),
    ]  # fmt: skip
    if r["tier"] is not None:
        t = r["tier"]
        reload_ms = t["park_reload_s"] * 1e3
        line = f"{t['gb']:,.0f} GB of {t['id']} ({t['use']}): {t['spill_frac']:.0%} of KV"
        rows.append(("tier", f"{line} spilled, reload {reload_ms:.1f} ms"))
    for name, value in rows:
        table.add_row(name, value)
    out = console()
    out.print(table)
    for note in r["notes"]:
        out.print(f"  note: {note}")
