"""Model architecture entries: attention layout, FFN / MoE shape, published parameter counts."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import StrictBool, model_validator

from optimizer.catalog.base import Entry, NonNegativeInt, PositiveFloat, PositiveInt, StrictModel

PARAMS_TOLERANCE_FRAC = 0.03
"""Largest relative gap allowed between derived and published parameter counts (issue 2)."""


class AttentionKind(StrEnum):
    MHA = "mha"  # one KV head per query head
    GQA = "gqa"  # query heads share fewer KV heads
    MLA = "mla"  # multi-head latent attention: a compressed latent is cached


class ParamsCounts(StrEnum):
    """What a published parameter count includes."""

    ALL = "all"  # every weight, input embedding and lm_head included
    NO_INPUT_EMBEDDING = "no-input-embedding"  # input embedding (and learned positions) left out
    NO_EMBEDDINGS = "no-embeddings"  # input embedding and lm_head both left out


class MLA(StrictModel):
    """Ranks of multi-head latent attention (DeepSeek-V2/V3 config names)."""

    q_lora_rank: PositiveInt | None = None  # None: queries are not compressed
    kv_lora_rank: PositiveInt
    qk_nope_head_dim: PositiveInt
    qk_rope_head_dim: PositiveInt
    v_head_dim: PositiveInt


class LocalAttention(StrictModel):
    """Layers that attend only within a window (sliding) or a fixed block (chunked)."""

    kind: Literal["sliding", "chunked"]
    window_tokens: PositiveInt
    n_layers: PositiveInt  # how many of the model's layers are local; the rest attend globally


class MoE(StrictModel):
    """Mixture-of-experts layout.

    Layer ``i`` (0-based) is a MoE layer when ``i >= first_dense_layers`` and
    ``(i + 1) % layer_step == 0`` (DeepSeek ``first_k_dense_replace``; Llama-4
    ``interleave_moe_layer_step``); other layers use the dense FFN of width
    ``intermediate_size``.
    """

    n_routed_experts: PositiveInt
    n_active_experts: PositiveInt
    n_shared_experts: NonNegativeInt = 0
    expert_intermediate: PositiveInt
    shared_expert_intermediate: PositiveInt | None = None  # default: expert_intermediate
    first_dense_layers: NonNegativeInt = 0
    layer_step: PositiveInt = 1
    router_bias: StrictBool = False

    @model_validator(mode="after")
    def _active_within_routed(self) -> MoE:
        if self.n_active_experts > self.n_routed_experts:
            raise ValueError(
                f"n_active_experts: must be <= n_routed_experts ({self.n_routed_experts}),"
                f" got {self.n_active_experts}"
            )
        return self


class KeptBf16(StrictModel):
    """Weights a quantized checkpoint keeps in bf16 inside its transformer blocks.

    The embedding and the lm_head stay in bf16 in every quantized checkpoint (quantizers
    convert "the linear operators within transformer blocks"); a checkpoint may keep more, as
    Meta's FP8 Llama 3.1 405B keeps every attention block and its first and last layers'
    FFNs. At a weight precision narrower than bf16 these stay 2 bytes and multiply at the bf16
    peak."""

    attention: StrictBool = False  # every layer's attention block
    ffn_layers: NonNegativeInt = 0  # the FFNs of this many dense layers


class ModelArch(Entry):
    """A served model, described by its ``config.json`` facts."""

    hf_repo: str
    n_layers: PositiveInt
    hidden_size: PositiveInt
    n_heads: PositiveInt
    n_kv_heads: PositiveInt
    head_dim: PositiveInt
    vocab_size: PositiveInt
    intermediate_size: PositiveInt | None = None  # dense FFN width; None when every layer is MoE
    ffn_kind: Literal["gated", "plain"]  # gated: SwiGLU/GeGLU (3 matrices); plain: 2 matrices
    mlp_bias: StrictBool = False
    attention: AttentionKind
    attention_bias: Literal["none", "qkv", "all"] = "none"
    attention_sinks: StrictBool = False  # learned per-head sink logits (gpt-oss)
    qk_norm: StrictBool = False
    mla: MLA | None = None
    local_attention: LocalAttention | None = None
    moe: MoE | None = None
    norm: Literal["rmsnorm", "layernorm"] = "rmsnorm"
    norms_per_layer: PositiveInt = 2
    embedding_norm: StrictBool = False  # a norm right after the input embedding (BLOOM)
    tie_embeddings: StrictBool = False
    position_embedding: Literal["rope", "learned", "alibi"] = "rope"
    learned_positions: PositiveInt | None = None  # rows of a learned position table
    max_context_tokens: PositiveInt
    params_total_published: PositiveFloat
    params_active_published: PositiveFloat
    params_total_counts: ParamsCounts = ParamsCounts.ALL
    params_active_counts: ParamsCounts = ParamsCounts.ALL
    params_note: str | None = None
    kept_bf16: KeptBf16 | None = None  # a quantized checkpoint's blocks left in bf16

    def window_note(self, tokens: float, anyway: str) -> str | None:
        """A note when ``tokens`` (a request's input and output) exceed the context window the
        vendor documents, saying what was done ``anyway``; None within it."""
        if tokens <= self.max_context_tokens:
            return None
        return (f"{self.id}: {tokens:,.0f} tokens exceed its {self.max_context_tokens:,}-token "
                f"context window ({anyway})")  # fmt: skip

    @model_validator(mode="after")
    def _consistent(self) -> ModelArch:
        if (self.attention is AttentionKind.MLA) != (self.mla is not None):
            raise ValueError("mla: ranks are required exactly when attention = 'mla'")
        if self.attention is AttentionKind.MHA and self.n_kv_heads != self.n_heads:
            raise ValueError(
                f"n_kv_heads: MHA needs n_kv_heads == n_heads ({self.n_heads}),"
                f" got {self.n_kv_heads}"
            )
        if self.n_heads % self.n_kv_heads:
            raise ValueError(
                f"n_kv_heads: must divide n_heads ({self.n_heads}), got {self.n_kv_heads}"
            )
        if self.local_attention and self.local_attention.n_layers >= self.n_layers:
            raise ValueError(
                f"local_attention.n_layers: must be < n_layers ({self.n_layers}),"
                f" got {self.local_attention.n_layers}"
            )
        if (self.position_embedding == "learned") != (self.learned_positions is not None):
            raise ValueError(
                "learned_positions: required exactly when position_embedding = 'learned'"
            )
        if (
            self.kept_bf16
            and self.kept_bf16.ffn_layers
            and (self.moe is not None or self.kept_bf16.ffn_layers > self.n_layers)
        ):
            raise ValueError(
                f"kept_bf16.ffn_layers: must count dense layers (at most {self.n_layers},"
                " none of them MoE)"
            )
        if self.params_active_published > self.params_total_published:
            raise ValueError("params_active_published: must be <= params_total_published")
        return self
