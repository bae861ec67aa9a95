"""``estimate``: one configuration through the OI/CF model, explained.

Invalid input raises a :class:`FieldError` naming the field; a configuration that cannot work
is an :class:`Estimate` with status ``infeasible`` whose message says why and by how much.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from optimizer.api.context import Context, open_context
from optimizer.api.engines import engine_id
from optimizer.api.fields import (
    FieldError,
    choice,
    count,
    entry,
    positive,
    precision,
    token_request,
    workload_alone,
)
from optimizer.catalog.base import MAX_COUNT
from optimizer.catalog.choices import Mode, TierUse
from optimizer.catalog.host import host_power_w, idle_power_w
from optimizer.catalog.model_arch import AttentionKind
from optimizer.catalog.precision import Precision
from optimizer.catalog.units import GIGA, MILLI
from optimizer.perf.arithmetic import weight_bytes
from optimizer.perf.bound import Bound
from optimizer.perf.capacity import valid_split
from optimizer.perf.config import EngineProfile, TierChoice, build_config
from optimizer.perf.efficiency import SOL
from optimizer.perf.phases import decode_step
from optimizer.perf.serving import (
    Request,
    ServePhase,
    Slo,
    admitted_context,
    batch_limits,
    serve,
)
from optimizer.perf.shape import model_shape
from optimizer.results import Verdict
from optimizer.workload.requests import representative_request


class _Infeasible(Exception):
    """The configuration is valid but cannot serve (carried to the result's message)."""


@dataclass(frozen=True, slots=True)
class EstimateRequest:
    """One configuration to estimate; ids and precision names are checked on use."""

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
    requests_per_s: float | None = None  # arrival rate per instance; None: the highest that fits
    power_cap_w: float | None = None  # per device; None: its TDP
    engine: str | None = None  # serving engine id; None: the vendor's (DEFAULT_ENGINES)


@dataclass(frozen=True, repr=False)
class Estimate(Verdict):
    """The estimate of one instance (SI units); docs/cli.md lists every key. An
    infeasible estimate carries its verdict and the configuration, the figures stay None."""

    status: str
    message: str
    model: str
    accelerator: str
    engine: str
    mode: str
    phase: str
    tp: int
    pp: int
    dp: int
    ep: int
    devices: int
    context_window_tokens: int  # the longest context the model's vendor documents
    within_context_window: bool  # the served input and output tokens fit in it
    precision: dict | None = None
    request: dict | None = None
    batch: float | None = None  # mean sequences per step (prompts per step on prefill)
    capacity_max_batch: int | None = None
    ttft_s: float | None = None  # means
    tpot_s: float | None = None
    ttft_p50_s: float | None = None
    ttft_p99_s: float | None = None
    tpot_p50_s: float | None = None
    tpot_p99_s: float | None = None
    queue_wait_s: float | None = None
    utilization: float | None = None
    requests_per_s: float | None = None
    output_tokens_per_s: float | None = None
    output_tokens_per_s_per_accelerator: float | None = None
    oi: dict | None = None
    cf_bytes_per_request: float | None = None
    memory_bytes_per_device: dict | None = None
    bound: str | None = None
    step_s: dict | None = None
    power_w: float | None = None  # the instance's accelerators (board power)
    host_power_w: float | None = None  # their share of the reference system's host power
    energy_j_per_output_token: float | None = None  # accelerators only
    wall_energy_j_per_output_token: float | None = None  # accelerators and host (no PUE)
    kv_transfer_s: float | None = None
    tier: dict | None = None
    notes: tuple[str, ...] = ()
    _REPR_FIELDS = ("model", "accelerator", "ttft_s", "tpot_s", "batch")


def _check_split(model, req: EstimateRequest) -> None:
    for field in ("tp", "pp", "dp", "ep"):
        _count(field, getattr(req, field))
    if valid_split(model, req.tp, req.pp, req.ep):
        if req.ep > req.tp * req.dp:
            raise FieldError("ep", f"{req.ep} is more expert ranks than the {{tp}} × {{dp}} = "
                                   f"{req.tp * req.dp} devices that hold them")  # fmt: skip
        return
    if model.n_heads % req.tp:
        raise FieldError("tp", f"{req.tp} must divide {model.id}'s {model.n_heads} query heads")
    if model.attention is not AttentionKind.MLA and (
        model.n_kv_heads % req.tp and req.tp % model.n_kv_heads
    ):
        raise FieldError("tp", f"{req.tp} must divide or be a multiple of {model.id}'s "
                               f"{model.n_kv_heads} KV heads")  # fmt: skip
    if req.pp > model.n_layers:
        raise FieldError(
            "pp", f"{req.pp} is more stages than {model.id}'s {model.n_layers} layers"
        )
    experts = model.moe.n_routed_experts if model.moe else 1
    what = f"{experts} routed experts" if model.moe else "no routed experts (dense model)"
    raise FieldError("ep", f"{req.ep} must divide {model.id}'s {what}")


def _count(field: str, value) -> None:
    count(field, value, MAX_COUNT)


def _request(ctx: Context, req: EstimateRequest, tier_use, notes: list[str]) -> Request:
    if req.workload is not None:
        workload_alone(req.input_tokens, req.output_tokens, req.prefix_tokens)
        w = entry(ctx.catalog, "workloads", "workload", req.workload)
        parked = tier_use is TierUse.PARK
        request = Request.mean_turn(representative_request(w))
        notes.append(
            f"{w.id}: mean turn of {request.input_tokens:,.0f} input tokens "
            f"({request.prefix_tokens:,.0f} cached{' in the parked session' if parked else ''})"
            f" and {request.output_tokens:,.0f} output tokens"
        )
        return request
    if req.input_tokens is None or req.output_tokens is None:
        missing = "input_tokens" if req.input_tokens is None else "output_tokens"
        raise FieldError(missing, "give {input_tokens} and {output_tokens}, or {workload}")
    return token_request(req.input_tokens, req.output_tokens, req.prefix_tokens)


def _tier(ctx: Context, req: EstimateRequest):
    given = (req.tier is not None, req.tier_gb is not None, req.tier_use is not None)
    if not any(given):
        return None, None
    if not all(given):
        raise FieldError("tier", "goes with {tier_gb} and {tier_use}: give all three or none")
    positive("tier_gb", req.tier_gb)
    tier = entry(ctx.catalog, "memory", "tier", req.tier)
    return TierChoice(tier, req.tier_gb), choice("tier_use", req.tier_use, TierUse)


def _scalar(x) -> float:
    return float(np.asarray(x))


def estimate(
    request: EstimateRequest,
    *,
    catalog_dirs: tuple[str | Path, ...] = (),
    efficiency: str | Path | None = None,
    context: Context | None = None,
) -> Estimate:
    """TTFT, TPOT, throughput, OI, CF, the binding wall and energy of one instance.

    Args:
        request: the configuration and its request (tokens or a workload), batch or SLOs.
        catalog_dirs: catalog directories loaded on top of the bundled catalog.
        efficiency: an ``[[efficiency]]`` TOML to use instead of the catalog's factors.
        context: an already loaded catalog and factors (replaces the two above).

    Raises:
        FieldError: a field the model cannot take; UnknownIdError: an id the catalog lacks.
    """
    ctx = context or open_context(catalog_dirs, efficiency)
    req = request
    model = entry(ctx.catalog, "models", "model", req.model)
    acc = entry(ctx.catalog, "accelerators", "accelerator", req.accelerator)
    phase = choice("phase", req.phase, ServePhase)
    mode = choice("mode", req.mode, Mode)
    engine = engine_id(ctx, acc, req.engine)
    weights = precision("precision", req.precision)
    kv = precision("kv_precision", req.kv_precision) if req.kv_precision else None
    act = (
        precision("activation_precision", req.activation_precision)
        if req.activation_precision
        else None
    )
    _check_split(model, req)
    _count("batch", req.batch)
    if not 50.0 <= req.slo_percentile < 100.0:
        raise FieldError("slo_percentile", f"must be in [50, 100), got {req.slo_percentile:g}")
    positive("ttft_slo_ms", req.ttft_slo_ms)
    positive("requests_per_s", req.requests_per_s)
    positive("power_cap_w", req.power_cap_w)
    if req.requests_per_s is not None and req.batch is not None:
        raise FieldError("requests_per_s", "give {requests_per_s} or {batch}, not both")
    positive("tpot_slo_ms", req.tpot_slo_ms)
    tier, tier_use = _tier(ctx, req)
    notes: list[str] = []
    ttft_applies, tpot_applies = _targets_apply(phase)
    if req.ttft_slo_ms is not None and not ttft_applies:
        notes.append("TTFT target ignored: a decode instance's first token comes from a "
                     "prefill instance (the TTFT shown is that prefill alone, here)")  # fmt: skip
    if req.tpot_slo_ms is not None and not tpot_applies:
        notes.append("TPOT target ignored: a prefill instance emits only the first token")
    served = _request(ctx, req, tier_use, notes)
    beyond = model.window_note(served.input_tokens + served.output_tokens, "estimated anyway")
    within_window = beyond is None
    if beyond:
        notes.append(beyond)
    if mode is Mode.SOL:
        efficiency_factors = SOL
        notes.append("sol: pure roofline (full peaks, no overheads, no link latency)")
    else:
        efficiency_factors, note = ctx.efficiency.lookup(acc.family, engine)
        notes.append(f"calibrated: {efficiency_factors.origin}")
        if note:
            notes.append(note)
    idle_w, _ = idle_power_w(ctx.catalog, acc)
    if req.power_cap_w is not None and req.power_cap_w <= idle_w:
        raise FieldError(
            "power_cap_w", f"{req.power_cap_w:g} W is not above {acc.id}'s idle {idle_w:g} W"
        )
    config, config_notes = build_config(
        ctx.catalog, acc, tp=req.tp, pp=req.pp, dp=req.dp, ep=req.ep, weights=weights, kv=kv,
        activations=act, efficiency=efficiency_factors, tier=tier, power_cap_w=req.power_cap_w,
        engine=EngineProfile.of(ctx.catalog.engines[engine]),
    )  # fmt: skip
    notes.extend(config_notes)
    host_w, host_source = host_power_w(ctx.catalog, acc)
    notes.append(f"host power: {host_source} per accelerator")
    shape = model_shape(model)
    if shape.bf16_params and weights.bytes_per_element < Precision.BF16.bytes_per_element:
        notes.append(_bf16_note(model, shape, weights))
    slo = Slo.from_ms(req.ttft_slo_ms, req.tpot_slo_ms, req.slo_percentile)
    idle_s = _idle_s(ctx, req, phase, tier_use)
    point = serve(shape, config, served, phase=phase, batch=req.batch, slo=slo,
                  tier_use=tier_use, requests_per_s=req.requests_per_s,
                  idle_s=idle_s)  # fmt: skip
    if idle_s is not None:
        notes.append(_prefix_note(served, point, idle_s, tier_use))
    head = dict(model=model.id, accelerator=acc.id, engine=engine,
                mode=mode.value, phase=phase.value,
                tp=req.tp, pp=req.pp, dp=req.dp, ep=req.ep,
                devices=req.tp * req.pp * req.dp,
                context_window_tokens=model.max_context_tokens,
                within_context_window=within_window)  # fmt: skip
    try:
        _explain_infeasible(point, req, phase, shape, config, served, tier_use, idle_s)
    except _Infeasible as why:
        return Estimate(status="infeasible", message=str(why), notes=tuple(notes), **head)
    figures = _figures(req, phase, served, point, config, shape, notes, weights, tier, tier_use,
                       host_w)  # fmt: skip
    return Estimate(status="ok", message=_verdict(figures), **head, **figures)


def _verdict(f: dict) -> str:
    """The estimate in one line: latencies at the operating point and what binds it."""
    tpot = f", TPOT {f['tpot_s'] / MILLI:.2f} ms" if f["tpot_s"] is not None else ""
    return (
        f"TTFT {f['ttft_s'] / MILLI:.1f} ms{tpot} at {f['requests_per_s']:.3g} requests/s "
        f"per instance ({f['bound']}-bound)"
    )


def _idle_s(ctx: Context, req: EstimateRequest, phase: ServePhase, tier_use) -> float | None:
    """The workload's mean tool time, during which a session's prefix must stay in this
    instance's memory to be a cache hit at its next turn; None where that does not apply (no
    workload, a decode instance, parked sessions)."""
    if req.workload is None or phase is ServePhase.DECODE or tier_use is TierUse.PARK:
        return None
    return entry(ctx.catalog, "workloads", "workload", req.workload).tool_time_s.mean


def _bf16_note(model, shape, weights: Precision) -> str:
    """What a quantized checkpoint keeps in bf16 (docs/model.md §2), so that its weights' size
    does not surprise: Llama-3.1-70B at fp8 holds 72.7 GB, not 70.6."""
    parts = "embedding and lm_head"
    if model.kept_bf16:
        parts = "embedding, lm_head and the blocks its entry keeps (kept_bf16)"
    bf16_gb = shape.bf16_params * Precision.BF16.bytes_per_element / GIGA
    held_gb = weight_bytes(shape.params_total, shape.bf16_params, weights) / GIGA
    return (f"weights at {weights.value}: {model.id}'s {parts} stay bf16, as quantized "
            f"checkpoints keep them: {bf16_gb:.1f} GB of its {held_gb:.1f} GB")  # fmt: skip


def _prefix_note(request, point, idle_s, tier_use) -> str:
    """How much of the cached prefix survives the sessions' tool time in this instance."""
    share = _scalar(point.prefix_hit_share)
    where = "beside the running batch" + (" and in the spill tier" if tier_use else "")
    if share >= 1.0:
        return (
            f"prefix cache: the KV of the sessions waiting {idle_s:g} s between turns fits "
            f"{where}; every cached prefix is kept"
        )
    return (
        f"prefix cache: the KV of the sessions waiting {idle_s:g} s between turns does not fit "
        f"{where}: {share:.1%} of the cached prefix kept "
        f"({share * request.prefix_tokens:,.0f} of {request.prefix_tokens:,.0f} tokens), the "
        "rest prefilled again (share computed at the operating point with every hit kept, "
        "then rated again with it)"
    )


_BATCH_LIMITS = {
    "kv": "the sequences whose KV fits per instance",
    "engine": "the engine's batch cap",
    "tokens": "what a step's {budget:,.0f}-token budget holds, each sequence with its "
    "{chunk:,.1f} prompt tokens a step",
}
"""How an error names each of ``perf.serving.batch_limits``' caps."""


def _explain_infeasible(point, req, phase, shape, config, request, tier_use, idle_s) -> None:
    mem = point.memory
    usable = _scalar(config.mem_usable_bytes * config.memory_fraction)
    weights = _scalar(mem.weights_per_device)
    if weights >= usable:
        raise _Infeasible(
            f"does not fit: {req.model} weights need {weights / GIGA:.1f} GB per device, more "
            f"than the {usable / GIGA:.1f} GB the engine may use on {req.accelerator} by "
            f"{(weights - usable) / GIGA:.1f} GB (use more tensor or pipeline ranks, or "
            "narrower weights)"
        )
    per_seq = _scalar(mem.kv_per_sequence_per_device)
    if _scalar(mem.max_batch) < 1:
        free = _scalar(mem.kv_free_per_device)
        raise _Infeasible(
            f"does not fit: one sequence of {_scalar(admitted_context(request, config)):,.0f}"
            " tokens needs "
            f"{per_seq / GIGA:.2f} GB of KV per device, {free / GIGA:.2f} GB free after weights "
            f"(short by {(per_seq - free) / GIGA:.2f} GB)"
        )
    if req.batch is not None and _scalar(point.batch) < 1:
        limits = batch_limits(config, request, mem, phase is ServePhase.AGGREGATED)
        cap = min(limits, key=lambda name: _scalar(limits[name]))
        what = _BATCH_LIMITS[cap].format(
            budget=_scalar(config.max_tokens_per_step),
            chunk=request.new_tokens / request.output_tokens,
        )
        raise _Infeasible(
            f"does not fit: batch {req.batch} is more than {what} ({_scalar(limits[cap]):.0f})"
        )
    if req.requests_per_s is not None:
        _explain_rate(point, req, phase, shape, config, request, tier_use, idle_s)
        return
    if req.batch is not None:
        _missed_targets(point, req, f"at batch {req.batch}")
        return
    if _scalar(point.requests_per_s) > 0:
        return
    if req.ttft_slo_ms is None and req.tpot_slo_ms is None:
        raise _Infeasible(
            f"serves nothing: one step takes {_scalar(point.step.time_s) / MILLI:.3g} ms, no "
            "finite throughput (check the efficiency factors)"
        )
    if phase is ServePhase.PREFILL and req.ttft_slo_ms is not None:
        service = _scalar(point.step.time_s)
        raise _Infeasible(
            f"TTFT target {req.ttft_slo_ms:g} ms not met: one prefill step takes "
            f"{service / MILLI:.1f} ms before any queueing (over by "
            f"{service / MILLI - req.ttft_slo_ms:.1f} ms)"
        )
    single = serve(shape, config, request, phase=phase, batch=1, tier_use=tier_use)
    tpot_ms = _scalar(single.tpot_s) / MILLI
    ttft_ms = _scalar(single.ttft_s) / MILLI
    if req.ttft_slo_ms is None or (req.tpot_slo_ms is not None and tpot_ms > req.tpot_slo_ms):
        raise _Infeasible(
            f"TPOT target {req.tpot_slo_ms:g} ms not met: even at batch 1 a step takes "
            f"{tpot_ms:.1f} ms (over by {tpot_ms - req.tpot_slo_ms:.1f} ms)"
        )
    raise _Infeasible(
        f"TTFT target {req.ttft_slo_ms:g} ms not met: even at batch 1 TTFT is {ttft_ms:.1f} ms "
        f"(over by {ttft_ms - req.ttft_slo_ms:.1f} ms)"
    )


def _explain_rate(point, req, phase, shape, config, request, tier_use, idle_s) -> None:
    """At a given arrival rate: the instance must sustain it, and its SLO quantiles meet."""
    if _scalar(point.requests_per_s) <= 0:
        most = serve(shape, config, request, phase=phase, tier_use=tier_use, idle_s=idle_s)
        raise _Infeasible(
            f"{req.requests_per_s:g} requests/s is more than the "
            f"{_scalar(most.requests_per_s):.3g} requests/s this instance sustains"
        )
    _missed_targets(point, req, f"at {req.requests_per_s:g} requests/s")


def _missed_targets(point, req, where: str) -> None:
    """At a given rate or batch the SLO quantiles must meet the targets given."""
    percentile = f"p{req.slo_percentile:g}"
    for name, target_ms, value in (
        ("TTFT", req.ttft_slo_ms, point.ttft_q_s),
        ("TPOT", req.tpot_slo_ms, point.tpot_q_s),
    ):
        value_ms = _scalar(value) / MILLI
        if target_ms is not None and value_ms > target_ms:
            raise _Infeasible(
                f"{name} target {target_ms:g} ms not met {where}: {percentile} {name} is "
                f"{value_ms:.1f} ms (over by {value_ms - target_ms:.1f} ms)"
            )


AT_CAP_NOTE = 0.01
"""Above this share of arrivals that find the batch at its cap, the wait to join it, which TTFT
leaves out, is said: it is then at least a 1-in-100 event and lasts until a sequence ends
(docs/model.md §8)."""


def _targets_apply(phase: ServePhase) -> tuple[bool, bool]:
    """Whether a TTFT and a TPOT target bear on ``phase``: a decode instance's first token
    comes from a prefill instance, a prefill instance makes no second token."""
    return phase is not ServePhase.DECODE, phase is not ServePhase.PREFILL


def _queue_notes(req: EstimateRequest, phase: ServePhase) -> list[str]:
    """Which operating point and queue model the figures come from."""
    if req.batch is not None:
        point = f"a fixed batch of {req.batch}"
    elif req.requests_per_s is not None:
        point = f"what the engine reaches at {req.requests_per_s:g} requests/s"
    elif _rated_by_slo(req, phase):
        point = f"the highest rate whose p{req.slo_percentile:g} latencies meet the targets"
    else:
        point = (
            "no batch, rate or SLO that applies: the capacity-limited maximum throughput (offline)"
        )
    queue = {
        ServePhase.PREFILL: "prefill instance: prompts batched per step behind an M/D/1 queue "
        "(Poisson arrivals, deterministic steps); throughput counts first tokens",
        ServePhase.DECODE: "decode instance: sequences in decode are negative binomial (a "
        "birth–death chain whose step grows with the batch) and a token's step holds itself "
        "plus them; TTFT is one prompt's prefill alone on this "
        "hardware, the KV hand-off from a prefill pool is kv_transfer_s",
        ServePhase.AGGREGATED: "aggregated: sequences in decode are negative binomial (a "
        "birth–death chain whose step grows with the batch) and a token's step holds itself "
        "plus them, with the prompt chunk that keeps the batch full; TTFT = a uniform wait for "
        "the next step + the steps that carry the prompt at the token budget the decode "
        "tokens leave, beside the other arrivals' prompts",
    }[phase]
    return [f"operating point: {point}", queue]


LOW_UTILIZATION_NOTE = 0.05
"""Below this utilization at the highest rate the targets allow, the estimate says that the
targets are met only while the instance is mostly idle."""


def _rated_by_slo(req: EstimateRequest, phase: ServePhase) -> bool:
    """Whether the operating point is the highest rate whose SLO quantiles meet the targets."""
    ttft_applies, tpot_applies = _targets_apply(phase)
    targets = (req.ttft_slo_ms is not None and ttft_applies) or (
        req.tpot_slo_ms is not None and tpot_applies
    )
    return targets and req.batch is None and req.requests_per_s is None


def _rated_at_the_wall(req: EstimateRequest, phase: ServePhase, point) -> bool:
    """Whether a decode or aggregated instance was rated by its SLOs and its capacity wall,
    not a target, cut the load (its admission margin is then what keeps the load down)."""
    return (
        _rated_by_slo(req, phase)
        and phase is not ServePhase.PREFILL
        and int(_scalar(point.bound)) == Bound.CAPACITY
        and _scalar(point.batch) > 0
    )


def _figures(
    req, phase, request, point, config, shape, notes, weights, tier, tier_use, host_w
) -> dict:
    """The estimate's figures beyond the configuration, in SI units; ``host_w`` is one
    device's share of its host's power."""
    batch = _scalar(point.batch)
    devices = req.tp * req.pp * req.dp
    mem = point.memory
    decode = decode_step(shape, config, max(batch, 1.0), request.mean_context)
    prefill = point.prefill
    kv_held = _scalar(mem.kv_per_sequence_per_device) * req.tp * req.pp
    weights_held = _scalar(mem.weights_per_device) * devices
    step = point.step
    out_s = _scalar(point.output_tokens_per_s)
    throttle = _scalar(step.throttle)
    if throttle > 1.0:
        notes.append(
            f"power cap {_scalar(config.power_cap_w):,.0f} W: the device would draw more, so "
            f"its clock drops and compute runs {throttle:.2f}× slower"
        )
    notes.extend(_queue_notes(req, phase))
    if _rated_at_the_wall(req, phase, point):
        notes.append(
            f"the capacity wall of {int(_scalar(mem.max_batch))} sequences meets the "
            f"targets, so the load is kept where a p{req.slo_percentile:g} arrival still finds "
            f"a free slot: a mean of {batch:.3g} sequences (docs/model.md §8)"
        )
    util = _scalar(point.utilization)
    if _rated_by_slo(req, phase) and 0 < util < LOW_UTILIZATION_NOTE:
        notes.append(
            f"the targets hold only at {util:.1%} utilization: at a higher rate the "
            f"p{req.slo_percentile:g} latency misses them (more sequences or prompt chunks "
            "share its step, or it waits longer; docs/model.md §8)"
        )
    at_cap = _scalar(point.at_cap_share)
    if at_cap > AT_CAP_NOTE:
        notes.append(
            f"{at_cap:.0%} of arrivals find the decode batch at its cap at this load and "
            "wait to join it, which TTFT leaves out (docs/model.md §8)"
        )
    tpot = _scalar(point.tpot_s)
    result = {
        "precision": {
            "weights": weights.value,
            "kv": req.kv_precision or weights.value,
            "activations": req.activation_precision or "compute dtype",
        },
        "request": {
            "input_tokens": request.input_tokens,
            "output_tokens": request.output_tokens,
            "prefix_tokens": request.prefix_tokens,
            "prefix_kept_tokens": request.prefix_tokens * _scalar(point.prefix_hit_share),
        },
        "batch": batch,
        "capacity_max_batch": int(_scalar(mem.max_batch)),
        "ttft_s": _scalar(point.ttft_s),
        "tpot_s": None if np.isnan(tpot) else tpot,
        "ttft_p50_s": _scalar(point.ttft_p50_s),
        "ttft_p99_s": _scalar(point.ttft_p99_s),
        "tpot_p50_s": _scalar(point.tpot_p50_s),
        "tpot_p99_s": _scalar(point.tpot_p99_s),
        "queue_wait_s": _scalar(point.queue_wait_s),
        "utilization": _scalar(point.utilization),
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
            / req.dp,
            "other": _scalar(mem.reserve_per_device),
        },
        "bound": Bound(int(np.asarray(point.bound))).label,
        "step_s": {
            "compute": _scalar(step.compute_s),
            "memory": _scalar(step.memory_s),
            "tier": _scalar(step.tier_s),
            "communication": _scalar(step.comm_s),
            "launch": _scalar(step.launch_s),  # overlapped with the device terms
            "overhead": _scalar(step.fixed_s),
            "total": _scalar(step.time_s),
        },
        "power_w": _scalar(step.power_w),
        "host_power_w": host_w * devices,
        "energy_j_per_output_token": _scalar(point.energy_j_per_output_token),
        "wall_energy_j_per_output_token": (_scalar(step.power_w) + host_w * devices) / out_s
        if out_s > 0
        else None,
        "kv_transfer_s": _scalar(point.kv_transfer_s),
        "notes": tuple(notes),
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
