"""FLOPs and bytes of one forward step, vectorized over batch and context (MODEL.md §2–3).

Every function broadcasts its array arguments (``batch``, ``new_tokens``, ``context_tokens``:
any matching shapes) and returns float64 arrays of that shape.
"""

from __future__ import annotations

import numpy as np

from optimizer.catalog.model_arch import AttentionKind, ModelArch
from optimizer.catalog.model_facts import (
    ffn_params,
    input_embedding_params,
    kv_bytes_per_token,
    local_kv_cap_bytes_per_sequence,
    n_global_layers,
    n_moe_layers,
    params_active,
    params_total,
)
from optimizer.catalog.precision import Precision


def expected_experts_touched(m: ModelArch, batch) -> np.ndarray:
    """Distinct routed experts one MoE layer reads for ``batch`` tokens under uniform routing:
    ``E · (1 − (1 − k/E)^B)``."""
    batch = np.asarray(batch, dtype=np.float64)
    if m.moe is None:
        return np.zeros_like(batch)
    e, k = m.moe.n_routed_experts, m.moe.n_active_experts
    return e * (1.0 - (1.0 - k / e) ** batch)


def decode_weight_bytes(m: ModelArch, weights: Precision, batch) -> np.ndarray:
    """Weight bytes one decode step reads: every multiplied weight (lm_head included) once,
    routed experts only where a token of the batch touches them; the input embedding is only
    indexed, so it is not read in full."""
    batch = np.asarray(batch, dtype=np.float64)
    dense = params_total(m) - input_embedding_params(m)
    if m.moe is not None:
        expert = ffn_params(m, m.moe.expert_intermediate)
        all_routed = n_moe_layers(m) * m.moe.n_routed_experts * expert
        touched = n_moe_layers(m) * expected_experts_touched(m, batch) * expert
        return (dense - all_routed + touched) * weights.bytes_per_element
    return np.full_like(batch, dense * weights.bytes_per_element)


def linear_flops(m: ModelArch, tokens) -> np.ndarray:
    """FLOPs of the weight matmuls for ``tokens`` tokens: ``2 · P_active · tokens``, without the
    input embedding (a lookup, not a matmul)."""
    tokens = np.asarray(tokens, dtype=np.float64)
    return 2.0 * (params_active(m) - input_embedding_params(m)) * tokens


def _attention_widths(m: ModelArch) -> tuple[int, int]:
    """(query-key width, value width) per layer summed over heads."""
    if m.attention is AttentionKind.MLA:
        a = m.mla
        return m.n_heads * (a.qk_nope_head_dim + a.qk_rope_head_dim), m.n_heads * a.v_head_dim
    return m.n_heads * m.head_dim, m.n_heads * m.head_dim


def attention_flops(m: ModelArch, new_tokens, cached_tokens) -> np.ndarray:
    """Score and value FLOPs for ``new_tokens`` attending over ``cached_tokens`` plus themselves
    (causal): ``2 · (w_qk + w_v) · n · (p + n/2)`` per full layer; local layers see at most
    their window."""
    n = np.asarray(new_tokens, dtype=np.float64)
    p = np.asarray(cached_tokens, dtype=np.float64)
    w_qk, w_v = _attention_widths(m)
    per_pair = 2.0 * (w_qk + w_v)
    flops = n_global_layers(m) * per_pair * n * (p + n / 2.0)
    if m.local_attention is not None:
        window = m.local_attention.window_tokens
        span = np.minimum(p + n / 2.0, window)
        flops = flops + m.local_attention.n_layers * per_pair * n * span
    return flops


def kv_bytes_per_sequence(m: ModelArch, kv: Precision, context_tokens) -> np.ndarray:
    """KV-cache bytes of one sequence of ``context_tokens``: every token in the full-attention
    layers, at most the window in the local ones."""
    context = np.asarray(context_tokens, dtype=np.float64)
    full = kv_bytes_per_token(m, kv) * context
    if m.local_attention is None:
        return full
    window = m.local_attention.window_tokens
    return full + local_kv_cap_bytes_per_sequence(m, kv) * np.minimum(context, window) / window


def kv_bytes_read(m: ModelArch, kv: Precision, batch, context_tokens) -> np.ndarray:
    """KV-cache bytes one decode step reads for ``batch`` sequences of ``context_tokens``."""
    return np.asarray(batch, dtype=np.float64) * kv_bytes_per_sequence(m, kv, context_tokens)
