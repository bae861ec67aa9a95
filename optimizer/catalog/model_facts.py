"""Facts derived from a model's architecture: parameter counts and KV-cache bytes per token.

Counted from the ``config.json`` shape, never typed in, so that a catalog entry cannot disagree
with itself. Conventions follow the Hugging Face implementations named in each entry's sources.
"""

from __future__ import annotations

from dataclasses import dataclass

from optimizer.catalog.model_arch import AttentionKind, ModelArch, ParamsCounts
from optimizer.catalog.precision import Precision


def _is_moe_layer(m: ModelArch, layer: int) -> bool:
    return (
        m.moe is not None
        and layer >= m.moe.first_dense_layers
        and (layer + 1) % m.moe.layer_step == 0
    )


def n_moe_layers(m: ModelArch) -> int:
    """Layers whose FFN is a mixture of experts."""
    return sum(_is_moe_layer(m, i) for i in range(m.n_layers))


def n_dense_layers(m: ModelArch) -> int:
    """Layers whose FFN is the dense one of width ``intermediate_size``."""
    return m.n_layers - n_moe_layers(m)


def n_global_layers(m: ModelArch) -> int:
    """Layers that attend over the whole context (and so hold KV for every token)."""
    return m.n_layers - (m.local_attention.n_layers if m.local_attention else 0)


def _norm_params(m: ModelArch) -> int:
    return m.hidden_size * (2 if m.norm == "layernorm" else 1)


def attention_params(m: ModelArch) -> int:
    """Weights of one attention block (projections, biases, q/k norms, sinks)."""
    d, h = m.hidden_size, m.n_heads
    if m.attention is AttentionKind.MLA:
        a = m.mla
        qk_dim = a.qk_nope_head_dim + a.qk_rope_head_dim
        if a.q_lora_rank:  # down-projection, its norm, up-projection
            q = d * a.q_lora_rank + a.q_lora_rank + a.q_lora_rank * h * qk_dim
        else:
            q = d * h * qk_dim
        kv = (
            d * (a.kv_lora_rank + a.qk_rope_head_dim)  # kv_a_proj_with_mqa
            + a.kv_lora_rank  # kv_a_layernorm
            + a.kv_lora_rank * h * (a.qk_nope_head_dim + a.v_head_dim)  # kv_b_proj
        )
        return q + kv + h * a.v_head_dim * d
    q_width, kv_width = h * m.head_dim, m.n_kv_heads * m.head_dim
    total = d * q_width + 2 * d * kv_width + q_width * d
    if m.attention_bias in ("qkv", "all"):
        total += q_width + 2 * kv_width
    if m.attention_bias == "all":
        total += d
    if m.qk_norm:
        total += 2 * m.head_dim
    if m.attention_sinks:
        total += h
    return total


def ffn_params(m: ModelArch, width: int) -> int:
    """Weights of one FFN (dense layer or one expert) of the given intermediate width."""
    d = m.hidden_size
    if m.ffn_kind == "gated":
        return 3 * d * width + ((2 * width + d) if m.mlp_bias else 0)
    return 2 * d * width + ((width + d) if m.mlp_bias else 0)


def _moe_layer_params(m: ModelArch, n_routed: int) -> int:
    e = m.moe
    shared_width = e.shared_expert_intermediate or e.expert_intermediate
    router = m.hidden_size * e.n_routed_experts + (e.n_routed_experts if e.router_bias else 0)
    return (
        n_routed * ffn_params(m, e.expert_intermediate)
        + e.n_shared_experts * ffn_params(m, shared_width)
        + router
    )


def input_embedding_params(m: ModelArch) -> int:
    """Input token embedding plus any learned position table: indexed, never multiplied."""
    return m.vocab_size * m.hidden_size + (m.learned_positions or 0) * m.hidden_size


def lm_head_params(m: ModelArch) -> int:
    """Output projection weights held separately (0 when tied to the input embedding)."""
    return 0 if m.tie_embeddings else m.vocab_size * m.hidden_size


def kept_bf16_attention_params(m: ModelArch) -> int:
    """Attention weights a quantized checkpoint keeps in bf16 (every layer's, or none)."""
    return m.n_layers * attention_params(m) if m.kept_bf16 and m.kept_bf16.attention else 0


def kept_bf16_ffn_params(m: ModelArch) -> int:
    """FFN weights a quantized checkpoint keeps in bf16 (whole dense layers' FFNs)."""
    kept = m.kept_bf16
    return kept.ffn_layers * ffn_params(m, m.intermediate_size or 0) if kept else 0


def kept_bf16_params(m: ModelArch) -> int:
    """Weights inside the transformer blocks that a quantized checkpoint keeps in bf16."""
    return kept_bf16_attention_params(m) + kept_bf16_ffn_params(m)


def bf16_params(m: ModelArch) -> int:
    """Weights held in bf16 at any narrower weight precision: the input embedding, an untied
    lm_head and the blocks the checkpoint keeps (:class:`KeptBf16`)."""
    return input_embedding_params(m) + lm_head_params(m) + kept_bf16_params(m)


def _params(m: ModelArch, n_routed: int) -> int:
    dense_ffn = ffn_params(m, m.intermediate_size) if m.intermediate_size else 0
    per_layer = attention_params(m) + m.norms_per_layer * _norm_params(m)
    total = m.n_layers * per_layer + n_dense_layers(m) * dense_ffn
    if m.moe:
        total += n_moe_layers(m) * _moe_layer_params(m, n_routed)
    total += _norm_params(m) * (2 if m.embedding_norm else 1)  # final (and embedding) norm
    return total + input_embedding_params(m) + lm_head_params(m)


def params_total(m: ModelArch) -> int:
    """Every weight of the model, input embedding and lm_head included."""
    return _params(m, m.moe.n_routed_experts if m.moe else 0)


def params_active(m: ModelArch) -> int:
    """Weights one token passes through: routed experts counted ``n_active_experts`` times."""
    return _params(m, m.moe.n_active_experts if m.moe else 0)


def params_under(m: ModelArch, count: int, counts: ParamsCounts) -> int:
    """A full count (embeddings included) restated under a published counting convention."""
    if counts is ParamsCounts.NO_INPUT_EMBEDDING:
        return count - input_embedding_params(m)
    if counts is ParamsCounts.NO_EMBEDDINGS:
        return count - input_embedding_params(m) - lm_head_params(m)
    return count


def kv_bytes_per_token(m: ModelArch, kv: Precision) -> float:
    """KV-cache bytes one token adds across the full-attention layers.

    GQA/MHA: ``2 · n_kv_heads · head_dim · bytes`` per layer; MLA caches the latent plus the
    decoupled RoPE key, ``(kv_lora_rank + qk_rope_head_dim) · bytes``, shared by all heads.
    Windowed layers are left out: they hold at most :func:`local_kv_cap_bytes_per_sequence`.
    """
    if m.attention is AttentionKind.MLA:
        per_layer = m.mla.kv_lora_rank + m.mla.qk_rope_head_dim
    else:
        per_layer = 2 * m.n_kv_heads * m.head_dim
    return per_layer * kv.bytes_per_element * n_global_layers(m)


def local_kv_cap_bytes_per_sequence(m: ModelArch, kv: Precision) -> float:
    """Most KV bytes one sequence can hold in the windowed layers (0 without local attention)."""
    if m.local_attention is None:
        return 0.0
    per_token_layer = 2 * m.n_kv_heads * m.head_dim * kv.bytes_per_element
    return per_token_layer * m.local_attention.n_layers * m.local_attention.window_tokens


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """What a model's architecture implies; ``kv_*`` figures are for the stated KV precision."""

    params_total: int
    params_active: int
    kv_precision: str
    kv_bytes_per_token: float
    local_kv_cap_bytes_per_sequence: float
    n_global_layers: int
    n_moe_layers: int

    def to_dict(self) -> dict:
        """JSON-ready fields; whole byte counts print as integers."""
        return {
            name: int(v) if isinstance(v, float) and v.is_integer() else v
            for name in self.__slots__
            for v in [getattr(self, name)]
        }


def model_facts(m: ModelArch, kv: Precision = Precision.BF16) -> ModelFacts:
    """Derive the facts of ``m`` for KV stored in ``kv``."""
    return ModelFacts(
        params_total=params_total(m),
        params_active=params_active(m),
        kv_precision=kv.value,
        kv_bytes_per_token=kv_bytes_per_token(m, kv),
        local_kv_cap_bytes_per_sequence=local_kv_cap_bytes_per_sequence(m, kv),
        n_global_layers=n_global_layers(m),
        n_moe_layers=n_moe_layers(m),
    )


def params_mismatches(m: ModelArch, tolerance_frac: float) -> list[tuple[str, str]]:
    """(field, message) for each published count the architecture misses by more than the
    tolerance, under the entry's counting convention."""
    problems = []
    checks = (
        ("params_total_published", params_total(m), m.params_total_counts),
        ("params_active_published", params_active(m), m.params_active_counts),
    )
    for field, derived, counts in checks:
        published = getattr(m, field)
        restated = params_under(m, derived, counts)
        gap = abs(restated - published) / published
        if gap > tolerance_frac:
            problems.append(
                (
                    field,
                    f"derived {restated / 1e9:.4g}B ({counts.value}) differs from published"
                    f" {published / 1e9:.4g}B by {gap:.1%} (> {tolerance_frac:.0%});"
                    " fix the architecture or explain the gap in params_note",
                )
            )
    return problems
