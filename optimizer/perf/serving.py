"""An instance's operating point: the batch it runs, its TTFT, TPOT and throughput, and the wall
that limits it (docs/model.md §8), vectorized over configurations."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np

from optimizer.catalog.choices import TierUse
from optimizer.catalog.units import MILLI
from optimizer.perf.arithmetic import kv_elements_per_sequence
from optimizer.perf.bound import NONE_CODE, Bound
from optimizer.perf.config import Config
from optimizer.perf.occupancy import (
    count_cdf,
    count_mean_within,
    count_quantile,
    dispersion_size,
)
from optimizer.perf.phases import (
    Memory,
    best_integer,
    decode_step,
    largest_batch,
    max_utilization,
    md1_mean_wait_s,
    md1_wait_quantile_s,
    memory,
    mixed_step,
    own_prompt_steps,
    prefill_step,
    spill_fraction,
)
from optimizer.perf.prefix import prefix_hit_share
from optimizer.perf.shape import ModelShape
from optimizer.perf.step import StepCost
from optimizer.workload.requests import RequestShape


class ServePhase(StrEnum):
    PREFILL = "prefill"
    DECODE = "decode"
    AGGREGATED = "aggregated"


@dataclass(frozen=True, slots=True)
class Request:
    """One request: ``prefix_tokens`` of its ``input_tokens`` are already cached (each field
    a number or an array over configurations)."""

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
    def mean_turn(cls, shape: RequestShape) -> Request:
        """A workload's mean turn, its cached part kept since the session's last turn."""
        return cls(shape.input_tokens, shape.output_tokens, shape.prefix_tokens)


def admitted_context(request: Request, c: Config):
    """Tokens of KV one running sequence holds against the capacity wall: its mean context
    plus the share of its output the engine reserves on admission that it has not generated
    yet, ``input + output · (1 + r) / 2`` (r = ``kv_reserved_output_share``). An engine that
    reserves the whole output (r = 1, TensorRT-LLM's guaranteed-no-evict) holds ``input +
    output`` per sequence; one that allocates as tokens come (r = 0, vLLM) the mean context."""
    return request.input_tokens + request.output_tokens * (1.0 + c.kv_reserved_output_share) / 2


@dataclass(frozen=True, slots=True)
class Slo:
    """Latency targets (seconds, None = none) at a percentile (e.g. 0.99); each a number or an
    array over configurations."""

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


P50, P99 = 0.5, 0.99


@dataclass(frozen=True, slots=True)
class ServingPoint:
    """Arrays over configurations; ``batch`` 0 marks a configuration that cannot serve.

    Latencies are means (``ttft_s``, ``tpot_s``), medians, 99th percentiles and values at the
    SLO's quantile (``*_q_s``); a prefill-only instance has no TPOT (NaN)."""

    batch: np.ndarray  # mean sequences per step (decode) or prompts per step (prefill)
    ttft_s: np.ndarray
    tpot_s: np.ndarray
    ttft_p50_s: np.ndarray
    ttft_p99_s: np.ndarray
    ttft_q_s: np.ndarray
    tpot_p50_s: np.ndarray
    tpot_p99_s: np.ndarray
    tpot_q_s: np.ndarray
    queue_wait_s: np.ndarray  # mean wait before a request's prompt starts
    requests_per_s: np.ndarray
    output_tokens_per_s: np.ndarray
    utilization: np.ndarray  # request rate / the highest rate the instance sustains
    bound: np.ndarray  # Bound codes
    spill_frac: np.ndarray
    kv_transfer_s: np.ndarray
    park_reload_s: np.ndarray
    step: StepCost  # the step the throughput comes from
    prefill: StepCost  # one request's prefill alone
    memory: Memory
    prefix_hit_share: np.ndarray  # share of sessions whose cached prefix survived (§6)
    at_cap_share: np.ndarray  # of arrivals, those that find the decode batch full and wait
    # to join it, which TTFT leaves out (docs/model.md §8); 0 for a prefill instance

    @property
    def energy_j_per_output_token(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.step.power_w / self.output_tokens_per_s


@dataclass(frozen=True, slots=True)
class _Latency:
    """TTFT and TPOT of one operating point: mean, p50, p99 and at the SLO's quantile."""

    ttft: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    tpot: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    queue_wait_s: np.ndarray


def _tier_reload_s(s: ModelShape, c: Config, tokens) -> np.ndarray:
    """Time to bring ``tokens`` of parked KV back from the tier (plus its latency)."""
    kv = kv_elements_per_sequence(s, tokens) * c.kv_bytes
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(kv > 0, kv / c.tier_bw_bytes_per_s + c.tier_latency_s, 0.0)


def kv_transfer_s(s: ModelShape, c: Config, context_tokens) -> np.ndarray:
    """Time to hand one request's KV to another instance over the scale-out links of the one
    DP rank that holds it (infinite without any)."""
    kv = kv_elements_per_sequence(s, context_tokens) * c.kv_bytes
    with np.errstate(divide="ignore", invalid="ignore"):
        return kv / (c.xfer_bw_bytes_per_s / c.dp) + c.xfer_latency_s


def serve(
    s: ModelShape,
    c: Config,
    request: Request,
    *,
    phase: ServePhase,
    batch=None,
    slo: Slo | None = None,
    tier_use: TierUse | None = None,
    max_batch=None,
    requests_per_s=None,
    idle_s: float | None = None,
) -> ServingPoint:
    """The operating point of instances ``c`` serving ``request`` (docs/model.md §8).

    The batch is given (``batch``), or what the engine reaches at an arrival rate
    (``requests_per_s`` per instance), or the one that serves the highest rate whose SLO
    quantiles meet ``slo``, or else the largest that fits (capacity wall, at most
    ``max_batch``, the engine's own when None). A rate beyond what the instance sustains gives
    batch 0.

    ``idle_s`` is the mean time a session waits between turns. Given, a prefill or aggregated
    instance that does not park sessions keeps a session's prefix only while its KV fits in the
    room the running batch leaves (:func:`perf.prefix.prefix_hit_share`, docs/model.md §6): the
    instance is rated with every hit kept, the surviving share ``h`` is computed at that
    operating point, and the instance is rated again with ``h · prefix`` cached (one step of the
    fixed point). None keeps every hit.
    """
    point = _serve_once(s, c, request, phase, batch, slo, tier_use, max_batch, requests_per_s)
    if idle_s is None or phase is ServePhase.DECODE or tier_use is TierUse.PARK:
        return point
    rate = point.requests_per_s if requests_per_s is None else requests_per_s
    served = np.where(point.batch > 0, point.batch, 0.0)
    share = prefix_hit_share(s, c, request, point.memory, served, rate, idle_s,
                             spill=tier_use is TierUse.SPILL)  # fmt: skip
    if np.all(share >= 1.0):
        return replace(point, prefix_hit_share=share)
    kept = Request(request.input_tokens, request.output_tokens, request.prefix_tokens * share)
    point = _serve_once(s, c, kept, phase, batch, slo, tier_use, max_batch, requests_per_s)
    return replace(point, prefix_hit_share=share)


def _serve_once(s, c, request, phase, batch, slo, tier_use, max_batch, requests_per_s):
    slo = slo or Slo()
    spill = tier_use is TierUse.SPILL
    mem = memory(s, c, admitted_context(request, c), spill=spill)
    single = prefill_step(s, c, 1.0, request.new_tokens, request.prefix_tokens, pipelined=False)
    park = (
        _tier_reload_s(s, c, request.prefix_tokens)
        if tier_use is TierUse.PARK
        else np.zeros_like(single.time_s)
    )
    transfer = kv_transfer_s(s, c, request.input_tokens)
    if slo.ttft_s is not None and tier_use is TierUse.PARK:  # the reload is part of the TTFT
        slo = replace(slo, ttft_s=np.maximum(slo.ttft_s - park, 0.0))
    if phase is ServePhase.PREFILL:
        point = _prefill(s, c, request, mem, batch, slo, requests_per_s)
    else:
        point = _decoding(
            s, c, request, mem, single, phase, batch, slo, spill, max_batch, requests_per_s
        )
    batch_, latency, req_s, out_s, util, bound, spill_frac, step, at_cap = point
    ttft = [np.where(batch_ > 0, x + park, np.nan) for x in latency.ttft]
    tpot = [np.where(batch_ > 0, x, np.nan) for x in latency.tpot]
    return ServingPoint(
        batch=batch_,
        ttft_s=ttft[0],
        tpot_s=tpot[0],
        ttft_p50_s=ttft[1],
        ttft_p99_s=ttft[2],
        ttft_q_s=ttft[3],
        tpot_p50_s=tpot[1],
        tpot_p99_s=tpot[2],
        tpot_q_s=tpot[3],
        queue_wait_s=np.where(batch_ > 0, latency.queue_wait_s, np.nan),
        requests_per_s=req_s,
        output_tokens_per_s=out_s,
        utilization=util,
        bound=bound,
        spill_frac=spill_frac,
        kv_transfer_s=np.broadcast_to(transfer, np.shape(batch_)),
        park_reload_s=park,
        step=step,
        prefill=single,
        memory=mem,
        prefix_hit_share=np.ones(np.shape(batch_)),
        at_cap_share=np.broadcast_to(at_cap, np.shape(batch_)),
    )


def _prefill(s, c, request, mem, batch, slo, rate):
    """A prefill-only instance: ``b`` prompts per step, an M/D/1 queue of steps in front.

    With a TTFT target and no batch, ``b`` is the one that serves the highest rate whose TTFT
    quantile meets it; with a rate, the one with the lowest mean TTFT at that rate; else the
    step's token budget (highest throughput)."""
    most = np.minimum(
        np.maximum(np.floor(c.max_tokens_per_step / np.maximum(request.new_tokens, 1.0)), 1),
        mem.max_batch,
    )

    def service(b):
        return prefill_step(s, c, b, request.new_tokens, request.prefix_tokens, pipelined=True)

    def slo_rate(b):
        time = service(b).time_s
        return max_utilization(time, slo.ttft_s, slo.quantile) * b / time

    def keeps_up_then_fast(b):
        """Rises with ``b`` while ``b`` prompts a step cannot keep up with the rate (toward
        batches that can), then falls as the mean TTFT grows: quasi-concave."""
        time = service(b).time_s
        with np.errstate(divide="ignore", invalid="ignore"):
            ttft = time + md1_mean_wait_s(rate * time / b, time)
        return np.where(np.isfinite(ttft), -ttft, -1e12 + b / time)

    if batch is not None:  # within the token budget and the capacity wall
        per_step = np.minimum(np.asarray(batch, dtype=np.float64), most)
    elif slo.ttft_s is not None and rate is None:
        per_step = np.where(most >= 1, best_integer(slo_rate, most), 0.0)
    elif rate is not None:
        per_step = np.where(most >= 1, best_integer(keeps_up_then_fast, most), 0.0)
    else:
        per_step = most
    step = service(np.maximum(per_step, 1.0))
    time = step.time_s
    with np.errstate(divide="ignore", invalid="ignore"):
        capacity_rate = np.where(per_step >= 1, per_step / time, 0.0)
    if rate is not None:
        req_s = np.where(np.asarray(rate) < capacity_rate, rate, 0.0)
        rho = np.where(capacity_rate > 0, req_s / capacity_rate, 0.0)
        bound = step.wall()
    elif slo.ttft_s is not None:
        rho = max_utilization(time, slo.ttft_s, slo.quantile)
        req_s = rho * capacity_rate
        bound = np.full(np.shape(time), Bound.SLO)
    else:  # saturated: a throughput, with no queue counted in its latencies
        rho = np.ones_like(time)
        req_s = capacity_rate
        bound = step.wall()
    bound = np.where(per_step < np.asarray(batch if batch is not None else 0), Bound.CAPACITY,
                     bound)  # fmt: skip
    served = np.where(req_s > 0, per_step, 0.0)
    queued = np.where(rho < 1.0, rho, 0.0)
    ttft = tuple(time + md1_wait_quantile_s(queued, time, q) for q in (P50, P99, slo.quantile))
    wait = md1_mean_wait_s(queued, time)
    latency = _Latency((time + wait, *ttft), (np.full_like(time, np.nan),) * 4, wait)
    # utilization against the most the instance sustains (prompts at the full budget), not
    # against the batch chosen, which changes with the load
    with np.errstate(divide="ignore", invalid="ignore"):
        most_req_s = np.where(most >= 1, most / service(np.maximum(most, 1.0)).time_s, 0.0)
        util = np.where(most_req_s > 0, req_s / most_req_s, 0.0)
    none = np.zeros_like(time)
    return served, latency, req_s, req_s, util, bound, none, step, none


def _decoding(s, c, request, mem, single, phase, batch, slo, spill, max_batch, rate):
    """Decode-only or aggregated instances with continuous batching.

    Under Poisson arrivals the sequences in decode are a birth–death chain whose count is
    negative binomial with mean ``B`` and size ``r = t(1) / β`` (:mod:`perf.occupancy`), and a
    token is generated in a step of itself plus those others: TPOT is the step time at batch
    ``1 + N``, and Little's law ``B = λ · O · t(1 + B)`` ties ``B`` to the arrival rate λ. An
    aggregated prompt waits for the next step boundary, then rides ``k`` steps at the token
    budget the decode tokens leave, beside the other arrivals' prompts. A given batch, or an
    engine saturated at its capacity, runs that batch in every step."""
    aggregated = phase is ServePhase.AGGREGATED
    out = request.output_tokens

    def frac(b):
        return spill_fraction(b, mem.max_batch_hbm) if spill else 0.0

    def step_at(b):
        if aggregated:
            return mixed_step(s, c, b, request.new_tokens, request.prefix_tokens, out,
                              spill_frac=frac(b))  # fmt: skip
        return decode_step(s, c, b, request.mean_context, spill_frac=frac(b))

    upper = functools.reduce(
        np.minimum, batch_limits(c, request, mem, aggregated, max_batch).values()
    )

    top = np.maximum(upper, 1.0)
    top_step = step_at(top)
    size = dispersion_size(step_at(1.0).time_s, top_step.time_s, top)

    def seen(b, q):
        """The batch a token is generated in at the ``q`` quantile (None: on average)."""
        others = b if q is None else count_quantile(b, size, q)
        return np.clip(1.0 + others, 1.0, np.maximum(upper, 1.0))

    def ttft_at(b, wait_share, step):
        """TTFT in steps of batch ``b`` (``step``, its step): a share of a step's wait, then
        the prompt's own steps (decode-only: the prompt's prefill alone, handed over from
        elsewhere)."""
        if not aggregated:
            return np.broadcast_to(single.time_s, np.shape(b))
        k, own = own_prompt_steps(s, c, b, request.new_tokens, request.prefix_tokens, out,
                                  spill_frac=frac(b))  # fmt: skip
        return wait_share * step.time_s + k * own.time_s

    def slack(batch_q):
        """The worst ratio of an SLO quantile to its target when a token's step holds
        ``batch_q`` sequences at the SLO's quantile (≤ 1 meets)."""
        worst = np.zeros(np.shape(batch_q))
        step = step_at(batch_q)
        if slo.tpot_s is not None:
            worst = np.maximum(worst, step.time_s / slo.tpot_s)
        if aggregated and slo.ttft_s is not None:
            with np.errstate(divide="ignore"):  # a target a parked reload used up: never met
                worst = np.maximum(worst, ttft_at(batch_q, slo.quantile, step) / slo.ttft_s)
        return worst

    capacity = np.where(mem.max_batch <= upper, Bound.CAPACITY, NONE_CODE)
    fixed = batch is not None or (rate is None and slo.tpot_s is None
                                  and not (aggregated and slo.ttft_s is not None))  # fmt: skip
    if batch is not None:
        mean_batch = np.where(np.asarray(batch, dtype=np.float64) <= upper, batch, 0.0)
        bound_cut = np.full(np.shape(mean_batch), NONE_CODE)
    elif rate is not None:
        mean_batch = _batch_at_rate(lambda b: step_at(seen(b, None)).time_s, upper,
                                    np.asarray(rate) * out)  # fmt: skip
        bound_cut = np.full(np.shape(mean_batch), NONE_CODE)
    elif not fixed:  # the largest step the SLO quantiles allow, then the load that keeps to it
        # s ≤ U: at the cap, the quantile arrival still finds a free slot (no admission queue)
        steps_within = largest_batch(slack, upper, 1.0)
        mean_batch = np.where(
            steps_within >= 1, count_mean_within(steps_within - 1.0, size, slo.quantile), 0.0
        )
        bound_cut = np.where(steps_within < upper, Bound.SLO, capacity)
    else:
        mean_batch = upper
        bound_cut = capacity
    # the batches a token sees on average, at p50, p99 and the SLO's quantile: each distinct
    # one evaluated once (a fixed batch is all four; an SLO is at p99 as a rule)
    if fixed:
        batches, pick = (np.maximum(mean_batch, 1.0),), (0, 0, 0, 0)
    elif np.all(np.asarray(slo.quantile) == P99):
        batches, pick = tuple(seen(mean_batch, q) for q in (None, P50, P99)), (0, 1, 2, 2)
    else:
        batches = tuple(seen(mean_batch, q) for q in (None, P50, P99, slo.quantile))
        pick = (0, 1, 2, 3)
    steps = [step_at(b) for b in batches]
    at = tuple(batches[i] for i in pick)
    step, tpot = steps[0], tuple(steps[i].time_s for i in pick)
    serving = (mean_batch > 0) & (upper >= 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out_s = np.where(serving, mean_batch / tpot[0], 0.0)
        most_out_s = np.where(upper >= 1, upper / top_step.time_s, 0.0)
        util = np.where(most_out_s > 0, out_s / most_out_s, 0.0)
    shares = (0.5, P50, P99, slo.quantile)  # of a step's wait: uniform over one step
    ttft = tuple(
        ttft_at(batches[i], share, steps[i]) for i, share in zip(pick, shares, strict=True)
    )
    wait = 0.5 * tpot[0] if aggregated else np.zeros_like(tpot[0])
    latency = _Latency(ttft, tpot, wait)
    bound = np.where(bound_cut != NONE_CODE, bound_cut, step.wall())
    spilled = spill_fraction(at[0], mem.max_batch_hbm) if spill else np.zeros_like(tpot[0])
    served = np.where(serving, mean_batch, 0.0)
    # an arrival finds the batch full when N ≥ upper others run (a fixed batch has no count)
    at_cap = (
        0.0 if fixed else np.where(serving, 1.0 - count_cdf(upper - 1.0, mean_batch, size), 0.0)
    )
    return served, latency, out_s / out, out_s, util, bound, spilled, step, at_cap


def batch_limits(c: Config, request: Request, mem, aggregated: bool, max_batch=None) -> dict:
    """The caps on a decode or aggregated step's batch, whose minimum is the step's cap U:
    ``kv`` the sequences whose KV fits, ``engine`` the engine's ``max_batch`` (or the one
    given), and, aggregated, ``tokens``: what the step's token budget holds, each sequence
    with the prompt chunk it brings (``new / output`` tokens a step)."""
    limits = {"kv": mem.max_batch, "engine": c.max_batch if max_batch is None else max_batch}
    if aggregated:
        per_sequence = 1.0 + request.new_tokens / request.output_tokens
        limits["tokens"] = np.floor(c.max_tokens_per_step / per_sequence)
    return limits


def _batch_at_rate(time_at, upper, tokens_per_s) -> np.ndarray:
    """The mean batch ``B`` in ``(0, upper]`` whose output rate ``B / t(B)`` equals
    ``tokens_per_s`` (Little's law; the rate grows with the batch), by bisection; 0 where even
    ``upper`` falls short."""
    upper = np.asarray(upper, dtype=np.float64)
    target = np.asarray(tokens_per_s, dtype=np.float64)
    shape = np.broadcast_shapes(upper.shape, target.shape)
    lo = np.zeros(shape)
    hi = np.broadcast_to(upper, shape).copy()
    reachable = (hi > 0) & (hi / time_at(np.maximum(hi, 1e-9)) >= target)
    for _ in range(40):
        mid = (lo + hi) / 2.0
        enough = mid / time_at(np.maximum(mid, 1e-9)) >= target
        hi = np.where(enough, mid, hi)
        lo = np.where(enough, lo, mid)
    return np.where(reachable & (target > 0), hi, 0.0)
