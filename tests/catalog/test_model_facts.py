"""Parameter counts and KV bytes derived from architecture, checked against hand arithmetic and
the exact counts the Hugging Face checkpoints publish."""

from __future__ import annotations

import pytest

from optimizer.catalog.model_arch import ModelArch
from optimizer.catalog.model_facts import (
    attention_params,
    kv_bytes_per_token,
    local_kv_cap_bytes_per_sequence,
    model_facts,
    n_moe_layers,
    params_active,
    params_total,
)
from optimizer.catalog.precision import Precision

COMMON = {"sources": ("test fixture",), "confidence": "solid", "hf_repo": "x/y"}

LLAMA_2_7B = ModelArch(
    id="llama-2-7b",
    name="Llama 2 7B",
    n_layers=32,
    hidden_size=4096,
    n_heads=32,
    n_kv_heads=32,
    head_dim=128,
    vocab_size=32000,
    intermediate_size=11008,
    ffn_kind="gated",
    attention="mha",
    max_context_tokens=4096,
    params_total_published=6.74e9,
    params_active_published=6.74e9,
    **COMMON,
)
LLAMA_31_8B = ModelArch(
    id="llama-3.1-8b",
    name="Llama 3.1 8B",
    n_layers=32,
    hidden_size=4096,
    n_heads=32,
    n_kv_heads=8,
    head_dim=128,
    vocab_size=128256,
    intermediate_size=14336,
    ffn_kind="gated",
    attention="gqa",
    max_context_tokens=131072,
    params_total_published=8.03e9,
    params_active_published=8.03e9,
    **COMMON,
)
MIXTRAL_8X7B = ModelArch(
    id="mixtral-8x7b",
    name="Mixtral 8x7B",
    n_layers=32,
    hidden_size=4096,
    n_heads=32,
    n_kv_heads=8,
    head_dim=128,
    vocab_size=32000,
    ffn_kind="gated",
    attention="gqa",
    moe={"n_routed_experts": 8, "n_active_experts": 2, "expert_intermediate": 14336},
    max_context_tokens=32768,
    params_total_published=46.7e9,
    params_active_published=12.9e9,
    **COMMON,
)
DEEPSEEK_V3 = ModelArch(
    id="deepseek-v3",
    name="DeepSeek-V3",
    n_layers=61,
    hidden_size=7168,
    n_heads=128,
    n_kv_heads=128,
    head_dim=192,
    vocab_size=129280,
    intermediate_size=18432,
    ffn_kind="gated",
    attention="mla",
    mla={
        "q_lora_rank": 1536,
        "kv_lora_rank": 512,
        "qk_nope_head_dim": 128,
        "qk_rope_head_dim": 64,
        "v_head_dim": 128,
    },
    moe={
        "n_routed_experts": 256,
        "n_active_experts": 8,
        "n_shared_experts": 1,
        "expert_intermediate": 2048,
        "first_dense_layers": 3,
        "router_bias": True,
    },
    max_context_tokens=163840,
    params_total_published=671e9,
    params_active_published=37e9,
    **COMMON,
)


@pytest.mark.parametrize(
    ("model", "exact"),
    [
        # Exact counts of the published safetensors checkpoints.
        (LLAMA_2_7B, 6_738_415_616),
        (LLAMA_31_8B, 8_030_261_248),
        (MIXTRAL_8X7B, 46_702_792_704),
    ],
)
def test_params_total_matches_published_checkpoint_exactly(model, exact):
    assert params_total(model) == exact


def test_params_total_llama_2_7b_by_hand():
    d, f, v, layers = 4096, 11008, 32000, 32
    per_layer = 4 * d * d + 3 * d * f + 2 * d  # q,k,v,o + SwiGLU + two RMSNorms
    assert params_total(LLAMA_2_7B) == layers * per_layer + 2 * v * d + d


def test_params_active_mixtral_counts_two_of_eight_experts():
    expert = 3 * 4096 * 14336
    assert params_total(MIXTRAL_8X7B) - params_active(MIXTRAL_8X7B) == 32 * 6 * expert


def test_attention_params_mla_by_hand():
    q = 7168 * 1536 + 1536 + 1536 * 128 * (128 + 64)
    kv = 7168 * (512 + 64) + 512 + 512 * 128 * (128 + 128)
    o = 128 * 128 * 7168
    assert attention_params(DEEPSEEK_V3) == q + kv + o == 187_107_328


def test_deepseek_v3_moe_layout_and_counts_near_published():
    assert n_moe_layers(DEEPSEEK_V3) == 58
    assert params_total(DEEPSEEK_V3) == pytest.approx(671.0e9, rel=0.005)
    assert params_active(DEEPSEEK_V3) == pytest.approx(37.6e9, rel=0.01)


def test_moe_layer_step_interleaves_dense_and_moe_layers():
    raw = MIXTRAL_8X7B.model_dump()
    raw["moe"]["layer_step"] = 2
    maverick_like = ModelArch.model_validate({**raw, "intermediate_size": 1000})
    assert n_moe_layers(maverick_like) == 16


@pytest.mark.parametrize(
    ("model", "kv", "expected"),
    [
        (LLAMA_31_8B, Precision.BF16, 2 * 8 * 128 * 2 * 32),  # 131,072
        (LLAMA_31_8B, Precision.FP8, 65_536),
        (LLAMA_2_7B, Precision.FP16, 2 * 32 * 128 * 2 * 32),  # MHA: 524,288
        (DEEPSEEK_V3, Precision.BF16, 70_272),  # (512 + 64) * 2 B * 61 layers
        (DEEPSEEK_V3, Precision.FP8, 35_136),
    ],
)
def test_kv_bytes_per_token(model, kv, expected):
    assert kv_bytes_per_token(model, kv) == expected


def test_sliding_layers_leave_kv_per_token_and_add_a_per_sequence_cap():
    local = ModelArch.model_validate(
        {
            **LLAMA_31_8B.model_dump(),
            "local_attention": {"kind": "sliding", "window_tokens": 1024, "n_layers": 24},
        }
    )
    assert kv_bytes_per_token(local, Precision.BF16) == 2 * 8 * 128 * 2 * 8
    assert local_kv_cap_bytes_per_sequence(local, Precision.BF16) == 2 * 8 * 128 * 2 * 24 * 1024
    assert local_kv_cap_bytes_per_sequence(LLAMA_31_8B, Precision.BF16) == 0.0


def test_model_facts_to_dict_has_the_json_keys():
    facts = model_facts(LLAMA_31_8B).to_dict()
    assert facts["params_total"] == 8_030_261_248
    assert facts["kv_bytes_per_token"] == 131_072
    assert facts["kv_precision"] == "bf16"
