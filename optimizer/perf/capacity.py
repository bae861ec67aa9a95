"""Device memory per parallel split, and the capacity wall: the largest batch that fits (§5).

Arrays broadcast: ``tp``, ``pp``, ``ep``, ``dp``, ``context_tokens`` and bytes per element may
be scalars or matching arrays over a configuration grid.
"""

from __future__ import annotations

import numpy as np

from optimizer.catalog.model_arch import AttentionKind, ModelArch
from optimizer.perf.arithmetic import (
    ModelLike,
    bytes_per_element,
    kv_bytes_per_sequence,
    shape_of,
    weight_bytes,
)


def valid_split(m: ModelArch, tp, pp, ep) -> np.ndarray:
    """Whether a parallel split is allowed: TP divides the query heads and divides or is a
    multiple of the KV heads; EP divides the routed experts (EP 1 without MoE); PP ≤ layers."""
    tp, pp, ep = (np.asarray(x, dtype=np.int64) for x in (tp, pp, ep))
    ok = (tp >= 1) & (pp >= 1) & (ep >= 1) & (m.n_heads % tp == 0) & (pp <= m.n_layers)
    if m.attention is not AttentionKind.MLA:
        ok &= (m.n_kv_heads % tp == 0) | (tp % m.n_kv_heads == 0)
    experts = m.moe.n_routed_experts if m.moe else 1
    return ok & (experts % ep == 0)


def expert_shards(tp, ep) -> np.ndarray:
    """Ways the routed experts split: over EP ranks, or across TP (each expert cut) when EP = 1."""
    return np.where(np.asarray(ep) > 1, ep, tp).astype(np.float64)


def weight_bytes_per_device(m: ModelLike, weights, tp, pp, ep) -> np.ndarray:
    """Weight bytes one device holds: routed experts split over EP (over TP when EP is 1),
    everything else over TP; both over PP stages. The embedding, lm_head and kept blocks stay
    in bf16 at a narrower precision."""
    s = shape_of(m)
    tp, pp = (np.asarray(x, dtype=np.float64) for x in (tp, pp))
    shared = weight_bytes(s.params_total - s.routed_params, s.bf16_params, weights)
    routed = s.routed_params * bytes_per_element(weights)
    return (shared / tp + routed / expert_shards(tp, ep)) / pp


def kv_shards(m: ModelLike, tp) -> np.ndarray:
    """Ways the KV cache of one sequence splits across TP ranks: the KV heads split up to their
    number (replicated beyond it); MLA's latent is replicated on every rank."""
    s = shape_of(m)
    tp = np.asarray(tp, dtype=np.float64)
    if s.is_mla:
        return np.ones_like(tp)
    return np.minimum(tp, s.n_kv_heads)


def kv_bytes_per_sequence_per_device(m: ModelLike, kv, context_tokens, tp, pp) -> np.ndarray:
    """KV bytes one sequence of ``context_tokens`` occupies on each device that holds it."""
    per_sequence = kv_bytes_per_sequence(m, kv, context_tokens)
    return per_sequence / kv_shards(m, tp) / np.asarray(pp, dtype=np.float64)


def max_batch(free_bytes_per_device, kv_bytes_per_sequence_per_device, dp=1) -> np.ndarray:
    """The capacity wall: most sequences an instance holds, ``dp · ⌊free / kv_per_seq⌋``
    (attention-data-parallel ranks each hold their own sequences); 0 where nothing fits."""
    free = np.asarray(free_bytes_per_device, dtype=np.float64)
    per_seq = np.asarray(kv_bytes_per_sequence_per_device, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_rank = np.floor(np.where(free > 0, free / per_seq, 0.0))
    return np.asarray(dp, dtype=np.float64) * per_rank
