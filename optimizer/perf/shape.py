"""A model's architecture reduced to the constants the step model multiplies (computed once)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from optimizer.catalog.model_arch import AttentionKind, ModelArch
from optimizer.catalog.model_facts import (
    bf16_params,
    ffn_params,
    input_embedding_params,
    kept_bf16_params,
    lm_head_params,
    n_global_layers,
    n_moe_layers,
    params_active,
    params_total,
)


@dataclass(frozen=True, slots=True)
class ModelShape:
    """Precision-free constants of one model: parameter and KV *element* counts, FLOPs per token.

    Byte counts are these elements times the bytes per element of the chosen precision, so one
    shape serves every precision of a configuration grid.
    """

    n_layers: int
    hidden: int
    n_heads: int
    n_kv_heads: int
    is_mla: bool
    params_total: float
    bf16_params: float  # of those, held in bf16 at any narrower precision (model_facts)
    dense_read_params: float  # weights every step multiplies, routed experts and input table aside
    bf16_read_params: float  # of those, in bf16 at any narrower precision: lm_head, kept blocks
    routed_params: float  # all routed experts of all MoE layers
    expert_params: float  # one routed expert in one layer
    n_moe_layers: int
    n_routed_experts: int
    n_active_experts: int
    linear_flops_per_token: float  # 2 · (P_active − input embedding), lm_head included
    linear_expert_flops_per_token: float  # of those, the k active routed experts' (MoE layers)
    lm_head_flops_per_token: float  # 2 · V · d (prefill needs logits of the last token only)
    kept_flops_per_token: float  # 2 · the blocks a quantized checkpoint keeps in bf16
    prefill_pair_flops: float  # attention FLOPs per (query, key) pair over the global layers
    decode_pair_flops: float  # the same in decode (MLA attends in the latent space there)
    n_global_layers: int
    n_local_layers: int
    window_tokens: int
    kv_elements_per_token: float  # over the global layers
    local_kv_elements_per_token: float  # over the local layers, up to the window

    @property
    def local_pair_flops_ratio(self) -> float:
        """Pair FLOPs of the local layers relative to the global ones (same head layout)."""
        return self.n_local_layers / self.n_global_layers if self.n_global_layers else 0.0


def _pair_flops(m: ModelArch) -> tuple[float, float]:
    """2·(w_qk + w_v) per token pair per layer, for prefill and for decode."""
    h = m.n_heads
    if m.attention is AttentionKind.MLA:
        a = m.mla
        prefill = 2.0 * h * (a.qk_nope_head_dim + a.qk_rope_head_dim + a.v_head_dim)
        # weight absorption: scores over the latent + RoPE key, values in the latent
        decode = 2.0 * h * (2 * a.kv_lora_rank + a.qk_rope_head_dim)
        return prefill, decode
    per_layer = 2.0 * (2 * h * m.head_dim)
    return per_layer, per_layer


@lru_cache(maxsize=256)
def model_shape(m: ModelArch) -> ModelShape:
    """The constants of ``m`` (cached: the architecture is immutable)."""
    moe_layers = n_moe_layers(m)
    expert = ffn_params(m, m.moe.expert_intermediate) if m.moe else 0
    routed = moe_layers * m.moe.n_routed_experts * expert if m.moe else 0
    prefill_pair, decode_pair = _pair_flops(m)
    # tied embeddings: the lm_head multiplies the input table, so a step reads it after all
    lm_head = m.vocab_size * m.hidden_size
    multiplied = params_total(m) - input_embedding_params(m) - lm_head_params(m) + lm_head
    active = params_active(m) - input_embedding_params(m) - lm_head_params(m) + lm_head
    n_global = n_global_layers(m)
    local = m.local_attention
    if m.attention is AttentionKind.MLA:
        kv_per_layer = m.mla.kv_lora_rank + m.mla.qk_rope_head_dim
    else:
        kv_per_layer = 2 * m.n_kv_heads * m.head_dim
    return ModelShape(
        n_layers=m.n_layers,
        hidden=m.hidden_size,
        n_heads=m.n_heads,
        n_kv_heads=m.n_kv_heads,
        is_mla=m.attention is AttentionKind.MLA,
        params_total=float(params_total(m)),
        bf16_params=float(bf16_params(m)),
        dense_read_params=float(multiplied - routed),
        bf16_read_params=float(lm_head + kept_bf16_params(m)),
        routed_params=float(routed),
        expert_params=float(expert),
        n_moe_layers=moe_layers,
        n_routed_experts=m.moe.n_routed_experts if m.moe else 0,
        n_active_experts=m.moe.n_active_experts if m.moe else 0,
        linear_flops_per_token=2.0 * active,
        linear_expert_flops_per_token=2.0 * moe_layers * m.moe.n_active_experts * expert
        if m.moe
        else 0.0,
        lm_head_flops_per_token=2.0 * lm_head,
        kept_flops_per_token=2.0 * kept_bf16_params(m),
        prefill_pair_flops=prefill_pair * n_global,
        decode_pair_flops=decode_pair * n_global,
        n_global_layers=n_global,
        n_local_layers=local.n_layers if local else 0,
        window_tokens=local.window_tokens if local else 0,
        kv_elements_per_token=float(kv_per_layer * n_global),
        local_kv_elements_per_token=float(2 * m.n_kv_heads * m.head_dim * local.n_layers)
        if local
        else 0.0,
    )
