"""One configuration, end to end: catalog entries in, an explained estimate out (``hetplan
estimate``). Invalid input raises a :class:`HetplanError` (exit 2); a configuration that cannot
work raises :class:`InfeasibleError` (exit 1) saying why and by how much."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.catalog.catalog import Catalog
from optimizer.catalog.model_arch import AttentionKind
from optimizer.catalog.precision import Precision
from optimizer.catalog.units import GIGA, MILLI
from optimizer.errors import HetplanError
from optimizer.perf.capacity import valid_split
from optimizer.perf.config import ENGINE_MEMORY_FRACTION, TierChoice, build_config
from optimizer.perf.efficiency import SOL, EfficiencyTable, Mode
from optimizer.perf.phases import decode_step
from optimizer.perf.serving import BOUNDS, Request, ServePhase, Slo, TierUse, serve
from optimizer.perf.shape import model_shape
from optimizer.workload.requests import representative_request


class InfeasibleError(HetplanError):
    """The configuration is valid but cannot serve: it does not fit or misses an SLO."""

    exit_code = 1


@dataclass(frozen=True, slots=True)
class EstimateInput:
    """Everything ``hetplan estimate`` takes; ids and precision names are checked on use."""

    model: str
    accelerator: str
    tp: int = 1
    pp: int = 1
    dp: int = 1
    ep: int = 1
    precision: str = "bf16"
    kv_precision: str | None = None
    activation_precision: str | None = None
    input_tokens: float | None = None
    output_tokens: float | None = None
    prefix_tokens: float = 0.0
    workload: str | None = None
    batch: int | None = None
    ttft_slo_ms: float | None = None
    tpot_slo_ms: float | None = None
    slo_percentile: float = 99.0
    phase: str = "aggregated"
    mode: str = "calibrated"
    tier: str | None = None
    tier_gb: float | None = None
    tier_use: str | None = None


def _choice(value: str, enum, flag: str):
    try:
        return enum(value)
    except ValueError:
        options = ", ".join(e.value for e in enum)
        raise HetplanError(f"{flag}: unknown value {value!r}; use one of {options}") from None


def _check_split(model, inp: EstimateInput) -> None:
    for flag, value in (("--tp", inp.tp), ("--pp", inp.pp), ("--dp", inp.dp), ("--ep", inp.ep)):
        if value < 1:
            raise HetplanError(f"{flag}: must be at least 1, got {value}")
    if valid_split(model, inp.tp, inp.pp, inp.ep):
        _check_expert_ranks(inp)
        return
    if model.n_heads % inp.tp:
        raise HetplanError(f"--tp {inp.tp}: must divide {model.id}'s {model.n_heads} query heads")
    elif model.attention is not AttentionKind.MLA and (
        model.n_kv_heads % inp.tp and inp.tp % model.n_kv_heads
    ):
        raise HetplanError(
            f"--tp {inp.tp}: must divide or be a multiple of {model.id}'s "
            f"{model.n_kv_heads} KV heads"
        )
    elif inp.pp > model.n_layers:
        raise HetplanError(f"--pp {inp.pp}: more stages than {model.id}'s {model.n_layers} layers")
    else:
        experts = model.moe.n_routed_experts if model.moe else 1
        what = f"{experts} routed experts" if model.moe else "no routed experts (dense model)"
        raise HetplanError(f"--ep {inp.ep}: must divide {model.id}'s {what}")


def _check_expert_ranks(inp: EstimateInput) -> None:
    if inp.ep > inp.tp * inp.dp:
        raise HetplanError(f"--ep {inp.ep}: more expert ranks than the tp × dp = "
                           f"{inp.tp * inp.dp} devices that hold them")  # fmt: skip


def _request(catalog: Catalog, inp: EstimateInput, tier_use, notes: list[str]) -> Request:
    if inp.workload is not None:
        if inp.input_tokens is not None or inp.output_tokens is not None:
            raise HetplanError("--workload replaces --input-tokens/--output-tokens; give one")
        w = catalog.get("workloads", inp.workload)
        shape = representative_request(w)
        prefix = shape.parkable_tokens if tier_use is TierUse.PARK else shape.prefix_tokens
        notes.append(
            f"{w.id}: mean turn of {shape.input_tokens:,.0f} input tokens "
            f"({prefix:,.0f} cached{' in the parked session' if tier_use is TierUse.PARK else ''})"
            f" and {shape.output_tokens:,.0f} output tokens"
        )
        return Request(shape.input_tokens, shape.output_tokens, prefix)
    if inp.input_tokens is None or inp.output_tokens is None:
        raise HetplanError("give --input-tokens and --output-tokens, or --workload")
    for flag, v in (("--input-tokens", inp.input_tokens), ("--output-tokens", inp.output_tokens)):
        if v < 1:
            raise HetplanError(f"{flag}: must be at least 1, got {v:g}")
    if not 0 <= inp.prefix_tokens < inp.input_tokens:
        raise HetplanError(
            f"--prefix-tokens: must be in [0, input tokens {inp.input_tokens:g}), "
            f"got {inp.prefix_tokens:g}"
        )
    return Request(float(inp.input_tokens), float(inp.output_tokens), float(inp.prefix_tokens))


def _tier(catalog: Catalog, inp: EstimateInput):
    given = (inp.tier is not None, inp.tier_gb is not None, inp.tier_use is not None)
    if not any(given):
        return None, None
    if not all(given):
        raise HetplanError("--tier, --tier-gb and --tier-use go together")
    if inp.tier_gb <= 0:
        raise HetplanError(f"--tier-gb: must be positive, got {inp.tier_gb:g}")
    tier = catalog.get("memory", inp.tier)
    return TierChoice(tier, inp.tier_gb), _choice(inp.tier_use, TierUse, "--tier-use")


def _scalar(x) -> float:
    return float(np.asarray(x))


def estimate(catalog: Catalog, inp: EstimateInput, table: EfficiencyTable) -> dict:
    """The estimate of one configuration as a JSON-ready dict (keys documented in README)."""
    model = catalog.get("models", inp.model)
    acc = catalog.get("accelerators", inp.accelerator)
    phase = _choice(inp.phase, ServePhase, "--phase")
    mode = _choice(inp.mode, Mode, "--mode")
    weights = Precision.parse(inp.precision, "--precision")
    kv = Precision.parse(inp.kv_precision, "--kv-precision") if inp.kv_precision else None
    act = (
        Precision.parse(inp.activation_precision, "--activation-precision")
        if inp.activation_precision
        else None
    )
    _check_split(model, inp)
    if inp.batch is not None and inp.batch < 1:
        raise HetplanError(f"--batch: must be at least 1, got {inp.batch}")
    if not 50.0 <= inp.slo_percentile < 100.0:
        raise HetplanError(f"--slo-percentile: must be in [50, 100), got {inp.slo_percentile:g}")
    for flag, v in (("--ttft-slo-ms", inp.ttft_slo_ms), ("--tpot-slo-ms", inp.tpot_slo_ms)):
        if v is not None and v <= 0:
            raise HetplanError(f"{flag}: must be positive, got {v:g}")
    tier, tier_use = _tier(catalog, inp)
    notes: list[str] = []
    request = _request(catalog, inp, tier_use, notes)
    if mode is Mode.SOL:
        efficiency = SOL
        notes.append("sol: pure roofline (full peaks, no overheads, no link latency)")
    else:
        efficiency, note = table.lookup(acc.family)
        notes.append(f"calibrated: {efficiency.origin}")
        if note:
            notes.append(note)
    config, config_notes = build_config(
        catalog, acc, tp=inp.tp, pp=inp.pp, dp=inp.dp, ep=inp.ep, weights=weights, kv=kv,
        activations=act, efficiency=efficiency, tier=tier,
    )  # fmt: skip
    notes.extend(config_notes)
    shape = model_shape(model)
    slo = Slo(
        ttft_s=inp.ttft_slo_ms * MILLI if inp.ttft_slo_ms is not None else None,
        tpot_s=inp.tpot_slo_ms * MILLI if inp.tpot_slo_ms is not None else None,
        quantile=inp.slo_percentile / 100.0,
    )
    point = serve(shape, config, request, phase=phase, batch=inp.batch, slo=slo, tier_use=tier_use)
    _explain_infeasible(point, inp, phase, shape, config, request, tier_use)
    return _result(catalog, inp, model, acc, phase, mode, request, point, config, shape, notes,
                   weights, tier, tier_use)  # fmt: skip


def _explain_infeasible(point, inp, phase, shape, config, request, tier_use) -> None:
    mem = point.memory
    usable = _scalar(config.mem_usable_bytes) * ENGINE_MEMORY_FRACTION
    weights = _scalar(mem.weights_per_device)
    if weights >= usable:
        raise InfeasibleError(
            f"does not fit: {inp.model} weights need {weights / GIGA:.1f} GB per device, more "
            f"than the {usable / GIGA:.1f} GB the engine may use on {inp.accelerator} by "
            f"{(weights - usable) / GIGA:.1f} GB (raise --tp/--pp or use a narrower --precision)"
        )
    per_seq = _scalar(mem.kv_per_sequence_per_device)
    if _scalar(mem.max_batch) < 1:
        free = _scalar(mem.kv_free_per_device)
        raise InfeasibleError(
            f"does not fit: one sequence of {request.mean_context:,.0f} tokens needs "
            f"{per_seq / GIGA:.2f} GB of KV per device, {free / GIGA:.2f} GB free after weights "
            f"(short by {(per_seq - free) / GIGA:.2f} GB)"
        )
    if inp.batch is not None and _scalar(point.batch) < 1:
        raise InfeasibleError(
            f"does not fit: batch {inp.batch} needs more KV room than the "
            f"{_scalar(mem.max_batch):.0f} sequences that fit per instance"
        )
    if _scalar(point.batch) >= 1 and _scalar(point.utilization) > 0:
        return
    if phase is ServePhase.PREFILL:
        service = _scalar(point.step.time_s)
        raise InfeasibleError(
            f"TTFT target {inp.ttft_slo_ms:g} ms not met: one prefill step takes "
            f"{service / MILLI:.1f} ms before any queueing (over by "
            f"{service / MILLI - inp.ttft_slo_ms:.1f} ms)"
        )
    single = serve(shape, config, request, phase=phase, batch=1, tier_use=tier_use)
    tpot_ms = _scalar(single.tpot_s) / MILLI
    ttft_ms = _scalar(single.ttft_s) / MILLI
    if inp.tpot_slo_ms is not None and tpot_ms > inp.tpot_slo_ms:
        raise InfeasibleError(
            f"TPOT target {inp.tpot_slo_ms:g} ms not met: even at batch 1 a step takes "
            f"{tpot_ms:.1f} ms (over by {tpot_ms - inp.tpot_slo_ms:.1f} ms)"
        )
    raise InfeasibleError(
        f"TTFT target {inp.ttft_slo_ms:g} ms not met: even at batch 1 TTFT is {ttft_ms:.1f} ms "
        f"(over by {ttft_ms - inp.ttft_slo_ms:.1f} ms)"
    )


def _result(catalog, inp, model, acc, phase, mode, request, point, config, shape, notes,
            weights, tier, tier_use) -> dict:  # fmt: skip
    batch = _scalar(point.batch)
    devices = inp.tp * inp.pp * inp.dp
    mem = point.memory
    decode = decode_step(shape, config, max(batch, 1.0), request.mean_context)
    prefill = point.prefill
    kv_held = _scalar(mem.kv_per_sequence_per_device) * inp.tp * inp.pp
    weights_held = _scalar(mem.weights_per_device) * devices
    step = point.step
    out_s = _scalar(point.output_tokens_per_s)
    if bool(np.asarray(step.tdp_capped)):
        notes.append("the energy model exceeded the TDP; power capped at TDP")
    if phase is ServePhase.PREFILL:
        notes.append(
            "prefill instance: throughput counts first tokens (one per request); TTFT includes "
            f"an M/D/1 queueing wait at the p{inp.slo_percentile:g} target"
            if inp.ttft_slo_ms
            else "prefill instance: throughput counts first tokens (one per request)"
        )
    elif phase is ServePhase.AGGREGATED:
        notes.append(
            "aggregated: each step carries the batch's decode tokens plus the prompt chunk that "
            "keeps it full (batch · new / output tokens); TTFT = prefill steps + half a step"
        )
    else:
        notes.append("decode instance: TTFT is the prefill alone on this hardware; the KV "
                     "hand-off from a prefill pool is kv_transfer_s")  # fmt: skip
    if inp.batch is None and inp.ttft_slo_ms is None and inp.tpot_slo_ms is None:
        notes.append("no batch or SLO: the capacity-limited maximum throughput (offline)")
    tpot = _scalar(point.tpot_s)
    result = {
        "model": model.id,
        "accelerator": acc.id,
        "mode": mode.value,
        "phase": phase.value,
        "tp": inp.tp,
        "pp": inp.pp,
        "dp": inp.dp,
        "ep": inp.ep,
        "devices": devices,
        "precision": {
            "weights": weights.value,
            "kv": inp.kv_precision or weights.value,
            "activations": inp.activation_precision or "compute dtype",
        },
        "request": {
            "input_tokens": request.input_tokens,
            "output_tokens": request.output_tokens,
            "prefix_tokens": request.prefix_tokens,
        },
        "batch": int(batch),
        "capacity_max_batch": int(_scalar(mem.max_batch)),
        "ttft_s": _scalar(point.ttft_s),
        "tpot_s": None if np.isnan(tpot) else tpot,
        "requests_per_s": _scalar(point.requests_per_s),
        "output_tokens_per_s": out_s,
        "output_tokens_per_s_per_accelerator": out_s / devices,
        "oi": {
            "prefill": _scalar(prefill.flops / prefill.hbm_bytes),
            "decode": _scalar(decode.flops / decode.hbm_bytes),
        },
        "cf_bytes_per_request": kv_held + weights_held / max(batch, 1.0),
        "memory_bytes_per_device": {
            "weights": _scalar(mem.weights_per_device),
            "kv": _scalar(mem.kv_per_sequence_per_device)
            * min(batch, _scalar(mem.max_batch_hbm))
            / inp.dp,
            "other": _scalar(mem.reserve_per_device),
        },
        "bound": BOUNDS[int(np.asarray(point.bound))],
        "step_s": {
            "compute": _scalar(step.compute_s),
            "memory": _scalar(step.memory_s),
            "tier": _scalar(step.tier_s),
            "communication": _scalar(step.comm_s),
            "overhead": _scalar(step.fixed_s),
            "total": _scalar(step.time_s),
        },
        "power_w": _scalar(step.power_w),
        "energy_j_per_output_token": _scalar(point.energy_j_per_output_token),
        "kv_transfer_s": _scalar(point.kv_transfer_s),
        "notes": notes,
    }
    if tier is not None:
        result["tier"] = {
            "id": tier.tier.id,
            "gb": tier.gb,
            "use": tier_use.value,
            "spill_frac": _scalar(point.spill_frac),
            "park_reload_s": _scalar(point.park_reload_s),
        }
    return result
