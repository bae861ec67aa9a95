"""An instance's operating point: the batch it runs, its TTFT, TPOT and throughput, and the wall
that limits it (docs/model.md §8), vectorized over configurations."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from optimizer.catalog.choices import TierUse
from optimizer.catalog.units import MILLI
from optimizer.perf.arithmetic import kv_elements_per_sequence
from optimizer.perf.bound import NONE_CODE, Bound
from optimizer.perf.config import Config
from optimizer.perf.phases import (
    ENGINE_MAX_BATCH,
    ENGINE_MAX_TOKENS_PER_STEP,
    Memory,
    decode_step,
    largest_batch,
    max_utilization,
    md1_wait_quantile_s,
    memory,
    mixed_step,
    prefill_step,
    spill_fraction,
)
from optimizer.perf.shape import ModelShape
from optimizer.perf.step import StepCost
from optimizer.workload.requests import RequestShape


class ServePhase(StrEnum):
    PREFILL = "prefill"
    DECODE = "decode"
    AGGREGATED = "aggregated"


@dataclass(frozen=True, slots=True)
class Request:
    """One request: ``prefix_tokens`` of its ``input_tokens`` are already cached."""

    input_tokens: float
    output_tokens: float
    prefix_tokens: float = 0.0

    @property
    def new_tokens(self) -> float:
        return self.input_tokens - self.prefix_tokens

    @property
    def mean_context(self) -> float:
        """Live context averaged over the generation: input + output / 2."""
        return self.input_tokens + self.output_tokens / 2.0

    @classmethod
    def mean_turn(cls, shape: RequestShape, *, parked: bool = False) -> Request:
        """A workload's mean turn; a parked session brings its history back from the tier,
        so its cached part is the whole history instead of the prefix-cache hits."""
        prefix = shape.parkable_tokens if parked else shape.prefix_tokens
        return cls(shape.input_tokens, shape.output_tokens, prefix)


@dataclass(frozen=True, slots=True)
class Slo:
    """Latency targets (seconds, None = none) at a percentile (e.g. 0.99)."""

    ttft_s: float | None = None
    tpot_s: float | None = None
    quantile: float = 0.99

    @classmethod
    def from_ms(cls, ttft_ms: float | None, tpot_ms: float | None, percentile: float) -> Slo:
        """Targets as users write them: milliseconds at a percentile (99 = p99)."""
        return cls(
            ttft_s=ttft_ms * MILLI if ttft_ms is not None else None,
            tpot_s=tpot_ms * MILLI if tpot_ms is not None else None,
            quantile=percentile / 100.0,
        )


@dataclass(frozen=True, slots=True)
class ServingPoint:
    """Arrays over configurations; ``batch`` 0 marks a configuration that cannot serve."""

    batch: np.ndarray
    ttft_s: np.ndarray
    tpot_s: np.ndarray  # NaN for a prefill-only instance
    requests_per_s: np.ndarray
    output_tokens_per_s: np.ndarray
    utilization: np.ndarray  # of a prefill instance at its TTFT target (1 otherwise)
    bound: np.ndarray  # Bound codes
    spill_frac: np.ndarray
    kv_transfer_s: np.ndarray
    park_reload_s: np.ndarray
    step: StepCost  # the step the throughput comes from
    prefill: StepCost  # one request's prefill alone
    memory: Memory

    @property
    def energy_j_per_output_token(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.step.power_w / self.output_tokens_per_s


def _tier_reload_s(s: ModelShape, c: Config, tokens) -> np.ndarray:
    """Time to bring ``tokens`` of parked KV back from the tier (plus its latency)."""
    kv = kv_elements_per_sequence(s, tokens) * c.kv_bytes
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(kv > 0, kv / c.tier_bw_bytes_per_s + c.tier_latency_s, 0.0)


def kv_transfer_s(s: ModelShape, c: Config, context_tokens) -> np.ndarray:
    """Time to hand one request's KV to another instance over this one's scale-out links
    (infinite without any)."""
    kv = kv_elements_per_sequence(s, context_tokens) * c.kv_bytes
    with np.errstate(divide="ignore", invalid="ignore"):
        return kv / c.xfer_bw_bytes_per_s + c.xfer_latency_s


def serve(
    s: ModelShape,
    c: Config,
    request: Request,
    *,
    phase: ServePhase,
    batch=None,
    slo: Slo | None = None,
    tier_use: TierUse | None = None,
    max_batch: float = ENGINE_MAX_BATCH,
) -> ServingPoint:
    """The operating point of instances ``c`` serving ``request``: with ``batch`` given, that
    batch; with SLOs, the largest batch (or prefill utilization) meeting them; otherwise the
    largest batch that fits (capacity wall, at most ``max_batch``)."""
    slo = slo or Slo()
    spill = tier_use is TierUse.SPILL
    mem = memory(s, c, request.mean_context, spill=spill)
    single = prefill_step(s, c, 1.0, request.new_tokens, request.prefix_tokens, pipelined=False)
    park = (
        _tier_reload_s(s, c, request.prefix_tokens)
        if tier_use is TierUse.PARK
        else np.zeros_like(single.time_s)
    )
    transfer = kv_transfer_s(s, c, request.input_tokens)
    if phase is ServePhase.PREFILL:
        point = _prefill(s, c, request, mem, batch, slo)
    else:
        point = _decoding(s, c, request, mem, single, phase, batch, slo, spill, max_batch)
    batch_, ttft, tpot, req_s, out_s, util, bound, spill_frac, step = point
    return ServingPoint(
        batch=batch_,
        ttft_s=ttft + park,
        tpot_s=tpot,
        requests_per_s=req_s,
        output_tokens_per_s=out_s,
        utilization=util,
        bound=bound,
        spill_frac=spill_frac,
        kv_transfer_s=np.broadcast_to(transfer, np.shape(ttft)),
        park_reload_s=park,
        step=step,
        prefill=single,
        memory=mem,
    )


def _prefill(s, c, request, mem, batch, slo):
    """A prefill-only instance: prompts batched up to the step's token budget."""
    if batch is None:
        batch = np.maximum(
            1.0, np.floor(ENGINE_MAX_TOKENS_PER_STEP / np.maximum(request.new_tokens, 1.0))
        )
    per_step = np.minimum(np.asarray(batch, dtype=np.float64), mem.max_batch)
    step = prefill_step(s, c, per_step, request.new_tokens, request.prefix_tokens, pipelined=True)
    service = step.time_s
    if slo.ttft_s is not None:
        util = max_utilization(service, slo.ttft_s, slo.quantile)
        ttft = service + md1_wait_quantile_s(util, service, slo.quantile)
        bound = np.full(np.shape(service), Bound.SLO)
    else:
        util = np.ones_like(service)
        ttft = service
        bound = step.wall()
    bound = np.where(per_step < np.asarray(batch), Bound.CAPACITY, bound)
    with np.errstate(divide="ignore", invalid="ignore"):
        req_s = np.where(per_step >= 1, util * per_step / service, 0.0)
    nan = np.full_like(service, np.nan)
    return per_step, ttft, nan, req_s, req_s, util, bound, np.zeros_like(service), step


def _decoding(s, c, request, mem, single, phase, batch, slo, spill, max_batch):
    """Decode-only or aggregated instances: the batch from the caller, the SLOs or capacity."""
    aggregated = phase is ServePhase.AGGREGATED
    prefill_steps = np.ceil(request.new_tokens / ENGINE_MAX_TOKENS_PER_STEP)

    def step_at(b):
        frac = spill_fraction(b, mem.max_batch_hbm) if spill else 0.0
        if aggregated:
            return mixed_step(
                s,
                c,
                b,
                request.new_tokens,
                request.prefix_tokens,
                request.output_tokens,
                spill_frac=frac,
            )
        return decode_step(s, c, b, request.mean_context, spill_frac=frac)

    upper = np.minimum(mem.max_batch, max_batch)
    if aggregated:  # the step's token budget holds the decode tokens and the prompt chunk
        per_sequence = 1.0 + request.new_tokens / request.output_tokens
        upper = np.minimum(upper, np.floor(ENGINE_MAX_TOKENS_PER_STEP / per_sequence))
    target = np.inf
    if slo.tpot_s is not None:
        target = slo.tpot_s
    if aggregated and slo.ttft_s is not None:
        # a prompt waits for a step boundary, then takes its prefill steps
        target = np.minimum(target, slo.ttft_s / (prefill_steps + 0.5))
    if batch is not None:
        chosen = np.where(np.asarray(batch, dtype=np.float64) <= upper, batch, 0.0)
        bound_cut = np.full(np.shape(chosen), NONE_CODE)
    elif np.any(np.isfinite(target)):
        chosen = largest_batch(lambda b: step_at(b).time_s, upper, target)
        capacity = np.where(mem.max_batch <= upper, Bound.CAPACITY, NONE_CODE)
        bound_cut = np.where(chosen < upper, Bound.SLO, capacity)
    else:
        chosen = upper
        bound_cut = np.where(mem.max_batch <= upper, Bound.CAPACITY, NONE_CODE)
    step = step_at(np.maximum(chosen, 1.0))
    tpot = step.time_s
    ttft = (prefill_steps + 0.5) * tpot if aggregated else single.time_s
    with np.errstate(divide="ignore", invalid="ignore"):
        out_s = np.where(chosen >= 1, chosen / tpot, 0.0)
    req_s = out_s / request.output_tokens
    bound = np.where(bound_cut != NONE_CODE, bound_cut, step.wall())
    frac = spill_fraction(chosen, mem.max_batch_hbm) if spill else np.zeros_like(tpot)
    return chosen, ttft, tpot, req_s, out_s, np.ones_like(tpot), bound, frac, step
