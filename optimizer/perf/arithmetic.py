"""FLOPs and bytes of one forward step, vectorized over batch and context (docs/model.md §2–3).

Every function takes a model (its :class:`~optimizer.catalog.model_arch.ModelArch` or the
precomputed :class:`~optimizer.perf.shape.ModelShape`), precisions as a
:class:`~optimizer.catalog.precision.Precision` or bytes per element (scalars or arrays), and
broadcasts its array arguments; results are float64 arrays.
"""

from __future__ import annotations

import numpy as np

from optimizer.catalog.model_arch import ModelArch
from optimizer.catalog.precision import Precision
from optimizer.perf.shape import ModelShape, model_shape

ModelLike = ModelArch | ModelShape


def shape_of(m: ModelLike) -> ModelShape:
    """The step-model constants of ``m``."""
    return m if isinstance(m, ModelShape) else model_shape(m)


def bytes_per_element(precision) -> np.ndarray | float:
    """Bytes per element of a Precision, or the number(s) given."""
    return precision.bytes_per_element if isinstance(precision, Precision) else precision


def weight_bytes(params, bf16_params, weights) -> np.ndarray | float:
    """Bytes of ``params`` weights of which ``bf16_params`` stay in bf16 (2 bytes) when the
    rest are narrower: a quantized checkpoint's embedding, lm_head and kept blocks."""
    w = bytes_per_element(weights)
    bf16 = Precision.BF16.bytes_per_element
    return (params - bf16_params) * w + bf16_params * np.maximum(w, bf16)


def expected_experts_touched(m: ModelLike, tokens) -> np.ndarray:
    """Distinct routed experts one MoE layer reads for ``tokens`` tokens under uniform routing:
    ``E · (1 − (1 − k/E)^B)``."""
    s = shape_of(m)
    tokens = np.asarray(tokens, dtype=np.float64)
    if not s.n_routed_experts:
        return np.zeros_like(tokens)
    e, k = s.n_routed_experts, s.n_active_experts
    return e * (1.0 - (1.0 - k / e) ** tokens)


def decode_weight_bytes(m: ModelLike, weights, tokens) -> np.ndarray:
    """Weight bytes one step over ``tokens`` tokens reads: every multiplied weight (lm_head
    included) once, routed experts only where a token touches them; the input embedding is
    only indexed, so it is not read in full; the lm_head and kept blocks in bf16."""
    s = shape_of(m)
    touched = s.n_moe_layers * expected_experts_touched(s, tokens) * s.expert_params
    dense = weight_bytes(s.dense_read_params, s.bf16_read_params, weights)
    return dense + touched * bytes_per_element(weights)


def linear_flops(m: ModelLike, tokens) -> np.ndarray:
    """FLOPs of the weight matmuls for ``tokens`` tokens: ``2 · P_active · tokens``, without the
    input embedding (a lookup, not a matmul)."""
    return shape_of(m).linear_flops_per_token * np.asarray(tokens, dtype=np.float64)


def attention_flops(m: ModelLike, new_tokens, cached_tokens, *, decode: bool = False):
    """Score and value FLOPs for ``new_tokens`` attending over ``cached_tokens`` plus themselves
    (causal): ``2 · (w_qk + w_v) · n · (p + n/2)`` per full layer; local layers see at most
    their window. ``decode=True`` uses MLA's absorbed (latent-space) widths."""
    s = shape_of(m)
    n = np.asarray(new_tokens, dtype=np.float64)
    span = np.asarray(cached_tokens, dtype=np.float64) + n / 2.0
    return attention_flops_over_span(s, n, span, decode=decode)


def attention_flops_over_span(s: ModelShape, tokens, span, *, decode: bool) -> np.ndarray:
    """Attention FLOPs of ``tokens`` queries that each see ``span`` keys on average."""
    pair = s.decode_pair_flops if decode else s.prefill_pair_flops
    flops = pair * tokens * span
    if s.n_local_layers:
        flops = flops + pair * s.local_pair_flops_ratio * tokens * np.minimum(
            span, s.window_tokens
        )
    return flops


def kv_elements_per_sequence(s: ModelShape, context_tokens) -> np.ndarray:
    """KV-cache elements of one sequence: every token in the full-attention layers, at most the
    window in the local ones."""
    context = np.asarray(context_tokens, dtype=np.float64)
    full = s.kv_elements_per_token * context
    if not s.n_local_layers:
        return full
    return full + s.local_kv_elements_per_token * np.minimum(context, s.window_tokens)


ATTENTION_QUERY_TILE = 128
"""Query rows a FlashAttention block processes per pass over the keys (FlashAttention-2, Dao
2023, block size 128): a long prefill reads the cached KV once per tile of queries."""


def prefill_kv_elements(s: ModelShape, tokens, span) -> np.ndarray:
    """KV elements a prompt pass of ``tokens`` moves: it writes its own and reads the ``span``
    keys it attends over once per query tile."""
    return tokens * s.kv_elements_per_token + kv_elements_per_sequence(s, span) * np.ceil(
        tokens / ATTENTION_QUERY_TILE
    )


def kv_bytes_per_sequence(m: ModelLike, kv, context_tokens) -> np.ndarray:
    """KV-cache bytes of one sequence of ``context_tokens``."""
    return kv_elements_per_sequence(shape_of(m), context_tokens) * bytes_per_element(kv)


def kv_bytes_read(m: ModelLike, kv, batch, context_tokens) -> np.ndarray:
    """KV-cache bytes one decode step reads for ``batch`` sequences of ``context_tokens``."""
    return np.asarray(batch, dtype=np.float64) * kv_bytes_per_sequence(m, kv, context_tokens)
