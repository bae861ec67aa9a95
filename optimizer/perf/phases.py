"""Prefill, decode and aggregated (chunked-prefill) serving on one instance type (docs/model.md §3,
§5, §8), vectorized over configurations: capacity, step times, the largest batch that meets an
SLO, and queueing at a TTFT target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.perf.capacity import (
    kv_bytes_per_sequence_per_device,
    max_batch,
    weight_bytes_per_device,
)
from optimizer.perf.config import Config
from optimizer.perf.efficiency import Phase
from optimizer.perf.shape import ModelShape
from optimizer.perf.step import StepCost, step_cost


@dataclass(frozen=True, slots=True)
class Memory:
    """Per-device memory of an instance (bytes) and its capacity wall (sequences)."""

    weights_per_device: np.ndarray
    reserve_per_device: np.ndarray  # runtime, activations: the part the engine does not take
    kv_free_per_device: np.ndarray  # what the KV cache may use
    kv_per_sequence_per_device: np.ndarray
    max_batch_hbm: np.ndarray  # sequences that fit in device memory
    max_batch: np.ndarray  # with the tier's share added (spill)

    @property
    def fits(self) -> np.ndarray:
        return self.max_batch >= 1


def memory(s: ModelShape, c: Config, context_tokens, *, spill: bool = False) -> Memory:
    """Weights, reserve and KV room per device, and the largest batch whose sequences of
    ``context_tokens`` fit (``dp · ⌊free / kv_per_sequence⌋``); with ``spill`` the tier's bytes,
    spread over the instance's devices, add to the room."""
    weights = weight_bytes_per_device(s, c.weight_bytes, c.tp, c.pp, c.ep)
    reserve = c.mem_usable_bytes * (1.0 - c.memory_fraction)
    free = c.mem_usable_bytes - reserve - weights
    per_seq = kv_bytes_per_sequence_per_device(s, c.kv_bytes, context_tokens, c.tp, c.pp)
    hbm = max_batch(free, per_seq, c.dp)
    total = hbm
    if spill:
        total = np.where(free > 0, max_batch(free + c.tier_bytes / c.devices, per_seq, c.dp), 0.0)
    return Memory(weights, np.broadcast_to(reserve, np.shape(free)), free, per_seq, hbm, total)


def spill_fraction(batch, max_batch_hbm) -> np.ndarray:
    """Share of a batch's KV that lives in the tier once device memory is full."""
    batch = np.asarray(batch, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(batch > max_batch_hbm, 1.0 - max_batch_hbm / batch, 0.0)


def prefill_step(s: ModelShape, c: Config, requests, new_tokens, cached_tokens, *, pipelined):
    """``requests`` prompts of ``new_tokens`` on top of ``cached_tokens`` in one pass."""
    new = np.asarray(new_tokens, dtype=np.float64)
    return step_cost(
        s,
        c,
        prefill_tokens=np.asarray(requests, dtype=np.float64) * new,
        prefill_span=np.asarray(cached_tokens, dtype=np.float64) + new / 2.0,
        prefill_requests=requests,
        phase=Phase.PREFILL,
        pipelined=pipelined,
    )


def decode_step(s: ModelShape, c: Config, batch, context_tokens, spill_frac=0.0) -> StepCost:
    """One decode iteration of ``batch`` sequences at ``context_tokens``."""
    return step_cost(
        s,
        c,
        decode_batch=batch,
        decode_context=context_tokens,
        phase=Phase.DECODE,
        spill_frac=spill_frac,
    )


def mixed_step(
    s: ModelShape, c: Config, batch, new_tokens, cached_tokens, output_tokens, spill_frac=0.0
) -> StepCost:
    """A steady aggregated step: ``batch`` decode tokens plus the prompt chunk that keeps the
    batch full, ``batch · new / output`` tokens (a request finishes every ``output`` steps)."""
    new = np.asarray(new_tokens, dtype=np.float64)
    cached = np.asarray(cached_tokens, dtype=np.float64)
    out = np.asarray(output_tokens, dtype=np.float64)
    batch = np.asarray(batch, dtype=np.float64)
    return step_cost(
        s,
        c,
        decode_batch=batch,
        decode_context=cached + new + out / 2.0,
        prefill_tokens=batch * new / out,
        prefill_span=cached + new / 2.0,
        prefill_requests=batch / out,
        phase=Phase.DECODE,
        spill_frac=spill_frac,
    )


def own_prompt_steps(
    s: ModelShape, c: Config, batch, new_tokens, cached_tokens, output_tokens, spill_frac=0.0
) -> tuple[np.ndarray, StepCost]:
    """(k, one of the k steps) that carry one request's own prompt on an aggregated instance
    running ``batch`` decode sequences. The engine gives the token budget left after the
    decode tokens to the waiting prompts, so this one takes ``k = ⌈new / (budget − batch)⌉``
    steps, each with ``new / k`` of its tokens over the cached prefix; the rest of each step's
    room holds the prompt tokens the other ``batch − 1`` sequences' arrivals bring on average
    (``(batch − 1) · new / output``, the mixed step's share), so an engine with no one else
    runs the prompt alone."""
    new = np.asarray(new_tokens, dtype=np.float64)
    cached = np.asarray(cached_tokens, dtype=np.float64)
    batch = np.asarray(batch, dtype=np.float64)
    out = np.asarray(output_tokens, dtype=np.float64)
    room = np.maximum(c.max_tokens_per_step - batch, 1.0)
    k = np.maximum(np.ceil(new / room), 1.0)
    others = np.minimum(np.maximum(batch - 1.0, 0.0) * new / out, room - new / k)
    step = step_cost(
        s,
        c,
        decode_batch=batch,
        decode_context=cached + new + out / 2.0,
        prefill_tokens=new / k + others,
        prefill_span=cached + new / 2.0,
        prefill_requests=1.0 / k + others / np.maximum(new, 1.0),
        phase=Phase.DECODE,
        spill_frac=spill_frac,
    )
    return k, step


def largest_batch(time_at, upper, target_s) -> np.ndarray:
    """Largest integer batch in ``[1, upper]`` whose step time ``time_at(batch)`` is within
    ``target_s`` (0 where even batch 1 misses it). Step time grows with the batch, so a
    vectorized bisection takes ``log2(upper)`` model evaluations."""
    upper = np.floor(np.asarray(upper, dtype=np.float64))
    target = np.asarray(target_s, dtype=np.float64)
    lo = np.zeros(np.broadcast_shapes(upper.shape, target.shape))  # known good (0 = none)
    hi = np.broadcast_to(upper, lo.shape).copy()  # candidates above lo
    ok_hi = (hi >= 1) & (time_at(np.maximum(hi, 1.0)) <= target)
    lo = np.where(ok_hi, hi, lo)
    hi = np.where(ok_hi, hi, hi - 1)
    for _ in range(64):
        open_ = hi > lo
        if not open_.any():
            break
        mid = np.where(open_, np.ceil((lo + hi) / 2.0), lo)
        good = time_at(np.maximum(mid, 1.0)) <= target
        lo = np.where(open_ & good, mid, lo)
        hi = np.where(open_ & ~good, mid - 1, hi)
    return lo


def md1_wait_quantile_s(utilization, service_s, quantile) -> np.ndarray:
    """Queueing wait at ``quantile`` for Poisson arrivals to a deterministic server (M/D/1),
    with the exponential tail ``P(W > t) ≈ ρ · exp(−t / θ)``, ``θ = S / (2(1 − ρ))``, which keeps
    the exact M/D/1 mean wait ``ρS / (2(1 − ρ))``."""
    rho = np.asarray(utilization, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = np.asarray(service_s) / (2.0 * (1.0 - rho))
        wait = theta * np.log(rho / (1.0 - quantile))
    return np.where(rho > 1.0 - quantile, wait, 0.0)


def md1_mean_wait_s(utilization, service_s) -> np.ndarray:
    """Mean queueing wait of an M/D/1 queue, ``ρS / (2(1 − ρ))`` (Pollaczek–Khinchine)."""
    rho = np.asarray(utilization, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(rho < 1.0, rho * np.asarray(service_s) / (2.0 * (1.0 - rho)), np.inf)


def best_integer(value_at, upper) -> np.ndarray:
    """The integer in ``[1, upper]`` where ``value_at`` peaks, for a ``value_at`` that rises
    then falls (quasi-concave): a bisection on the sign of ``value_at(b + 1) − value_at(b)``,
    ``2·log2(upper)`` vectorized evaluations. Ties go to the smaller integer."""
    upper = np.maximum(np.floor(np.asarray(upper, dtype=np.float64)), 1.0)
    lo = np.ones_like(upper)
    hi = upper.copy()
    for _ in range(64):
        open_ = hi > lo
        if not open_.any():
            break
        mid = np.floor((lo + hi) / 2.0)
        rising = value_at(mid + 1.0) > value_at(mid)
        lo = np.where(open_ & rising, mid + 1.0, lo)
        hi = np.where(open_ & ~rising, mid, hi)
    return lo


def max_utilization(service_s, target_s, quantile) -> np.ndarray:
    """Highest utilization whose ``quantile`` TTFT (M/D/1 wait + service) meets ``target_s``;
    0 where the service alone misses it."""
    service = np.asarray(service_s, dtype=np.float64)
    target = np.asarray(target_s, dtype=np.float64)
    lo = np.zeros(np.broadcast_shapes(service.shape, target.shape))
    hi = np.full_like(lo, 0.999)
    for _ in range(40):
        mid = (lo + hi) / 2.0
        good = service + md1_wait_quantile_s(mid, service, quantile) <= target
        lo = np.where(good, mid, lo)
        hi = np.where(good, hi, mid)
    return np.where(service <= target, lo, 0.0)
