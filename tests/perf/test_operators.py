"""Per-operator FLOPs, bytes, OI and CF against hand arithmetic and against the step model."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.api import FieldError
from optimizer.api.analysis import analysis_dict, build_analysis
from optimizer.catalog import Precision, load_catalog
from optimizer.perf import SOL, build_config, model_shape, step_cost
from optimizer.perf.efficiency import Phase
from optimizer.perf.operators import (
    Operator,
    decode_operators,
    operator_params,
    prefill_operators,
    request_cf_bytes,
    ridge_flop_per_byte,
    roofline_wall,
)
from optimizer.perf.serving import Request
from optimizer.workload.requests import representative_request

CATALOG = load_catalog()
LLAMA_8B = CATALOG.models["llama-3.1-8b"]
BF16 = Precision.BF16

# Llama-3.1-8B: 32 layers, d 4096, 32 query heads and 8 KV heads of 128, FFN 14336, vocab 128256
LAYERS, D, FFN, VOCAB = 32, 4096, 14336, 128_256
ATTN_PARAMS = LAYERS * (D * 4096 + 2 * D * 1024 + 4096 * D)
FFN_PARAMS = LAYERS * 3 * D * FFN
KV_BYTES_PER_TOKEN = LAYERS * 2 * 8 * 128 * 2  # 131,072


def test_operator_params_llama_8b_by_hand():
    p = operator_params(LLAMA_8B)
    assert p.attention_projections == ATTN_PARAMS
    assert p.ffn_fixed == FFN_PARAMS and p.routed == 0
    assert p.lm_head == VOCAB * D and not p.lm_head_tied
    assert p.norms == (LAYERS * 2 + 1) * D
    assert p.total == 8_030_261_248


def test_decode_llama_8b_batch1_by_hand():
    context = 1000
    b = decode_operators(LLAMA_8B, 1, context, weights=BF16)
    ffn = b.operator(Operator.FFN)
    assert ffn.flops == 2 * 32 * 3 * 4096 * 14336
    assert ffn.weight_bytes == FFN_PARAMS * 2
    # one token multiplies each weight once (2 FLOPs) and reads it once (2 bytes)
    assert ffn.oi_flop_per_byte == pytest.approx(1.0)
    assert b.operator(Operator.ATTENTION_PROJECTIONS).oi_flop_per_byte == pytest.approx(1.0)
    attention = b.operator(Operator.ATTENTION)
    # scores and values: 2 · (2 · 32 heads · 128) FLOPs per key per layer
    assert attention.flops == 2 * 2 * 32 * 128 * LAYERS * context
    assert attention.kv_bytes == KV_BYTES_PER_TOKEN * context
    # GQA with 4 query heads per KV head, bf16: 4 · 2 FLOPs per 2-byte element
    assert attention.oi_flop_per_byte == pytest.approx(4.0)
    lm = b.operator(Operator.LM_HEAD)
    assert lm.flops == 2 * VOCAB * D and lm.weight_bytes == VOCAB * D * 2


def test_meta_fp8_405b_operators_by_hand():
    """Meta's FP8 405B at batch 1: its attention projections, first and last FFNs and lm_head
    are read at two bytes a weight, the other 124 FFNs at one (docs/model.md section 2)."""
    m = CATALOG.models["llama-3.1-405b-fp8-meta"]
    b = decode_operators(m, 1, 1000, weights=Precision.FP8, kv=BF16)
    attention = 2 * 16_384 * 16_384 + 2 * 16_384 * 1_024
    ffn = 3 * 16_384 * 53_248
    assert b.operator(Operator.ATTENTION_PROJECTIONS).weight_bytes == 126 * attention * 2
    assert b.operator(Operator.FFN).weight_bytes == 124 * ffn + 2 * ffn * 2
    assert b.operator(Operator.LM_HEAD).weight_bytes == 128_256 * 16_384 * 2
    plain = decode_operators(CATALOG.models["llama-3.1-405b"], 1, 1000, weights=Precision.FP8)
    assert plain.operator(Operator.FFN).weight_bytes == 126 * ffn
    assert plain.operator(Operator.ATTENTION_PROJECTIONS).weight_bytes == 126 * attention


def test_decode_ffn_oi_grows_with_batch_and_attention_oi_does_not():
    batch = np.array([1.0, 8.0, 64.0])
    b = decode_operators(LLAMA_8B, batch, 4096, weights=BF16)
    np.testing.assert_allclose(b.operator(Operator.FFN).oi_flop_per_byte, batch)
    np.testing.assert_allclose(b.operator(Operator.ATTENTION).oi_flop_per_byte, 4.0)


def test_prefill_ffn_oi_grows_linearly_with_tokens():
    new = np.array([128.0, 1024.0, 8192.0])
    b = prefill_operators(LLAMA_8B, new, 0, weights=BF16)
    np.testing.assert_allclose(b.operator(Operator.FFN).oi_flop_per_byte, new)
    # logits only for the last token of each prompt
    assert np.all(b.operator(Operator.LM_HEAD).flops == 2 * VOCAB * D)


def test_prefill_attention_writes_new_kv_and_reads_cache_per_query_tile():
    b = prefill_operators(LLAMA_8B, 256, 4096, weights=BF16)
    attention = b.operator(Operator.ATTENTION)
    span = 4096 + 128
    expected = (256 + span * 256 / 128) * KV_BYTES_PER_TOKEN
    assert attention.kv_bytes == pytest.approx(expected)
    assert attention.flops == pytest.approx(2 * 2 * 32 * 128 * LAYERS * 256 * span)


def test_moe_decode_batch1_reads_only_active_experts():
    mixtral = CATALOG.models["mixtral-8x7b"]
    p = operator_params(mixtral)
    one = decode_operators(mixtral, 1, 1000, weights=BF16).operator(Operator.FFN)
    many = decode_operators(mixtral, 10_000, 1000, weights=BF16).operator(Operator.FFN)
    assert one.weight_bytes == pytest.approx((p.ffn_fixed + 32 * 2 * p.routed_expert) * 2)
    assert one.weight_bytes < p.ffn_resident * 2
    assert many.weight_bytes == pytest.approx(p.ffn_resident * 2)
    # FLOPs count the 2 active experts per token whatever the batch
    assert one.flops == pytest.approx(2 * p.ffn_active_per_token)
    # the CF still holds every expert
    assert one.cf_bytes == pytest.approx(p.ffn_resident * 2)


@pytest.mark.parametrize(
    "model_id",
    ["llama-3.1-8b", "mixtral-8x7b", "deepseek-v3", "gpt-oss-20b", "qwen2.5-7b",
     "llama-3.1-405b-fp8-meta"],
)  # fmt: skip
@pytest.mark.parametrize("batch", [1.0, 37.0])
@pytest.mark.parametrize("weights", [BF16, Precision.FP8])
def test_operators_sum_to_the_step_model(model_id, batch, weights):
    m = CATALOG.models[model_id]
    s = model_shape(m)
    config, _ = build_config(
        CATALOG, CATALOG.accelerators["h200-sxm"], weights=weights, efficiency=SOL
    )
    context = 5000.0
    decode = decode_operators(m, batch, context, weights=weights)
    step = step_cost(s, config, decode_batch=batch, decode_context=context, phase=Phase.DECODE)
    assert decode.flops == pytest.approx(float(step.flops), rel=1e-12)
    assert decode.bytes == pytest.approx(float(step.hbm_bytes), rel=1e-12)

    new, cached = 700.0, 3000.0
    prefill = prefill_operators(m, new, cached, requests=batch, weights=weights)
    step = step_cost(
        s,
        config,
        prefill_tokens=batch * new,
        prefill_span=cached + new / 2,
        prefill_requests=batch,
        phase=Phase.PREFILL,
    )
    assert prefill.bytes == pytest.approx(float(step.hbm_bytes), rel=1e-12)
    # both multiply the lm_head for each prompt's last token only
    assert prefill.flops == pytest.approx(float(step.flops), rel=1e-12)


def test_tied_lm_head_is_the_embedding_table():
    gemma = CATALOG.models["gemma-3-27b"]
    p = operator_params(gemma)
    assert p.lm_head_tied and p.lm_head == gemma.vocab_size * gemma.hidden_size
    lm = decode_operators(gemma, 1, 100, weights=BF16).operator(Operator.LM_HEAD)
    assert lm.flops == 2 * p.lm_head


def test_cf_is_kv_plus_weight_share():
    batch, context = 16.0, 10_000.0
    cf = request_cf_bytes(LLAMA_8B, context, batch, weights=BF16)
    assert cf == pytest.approx(KV_BYTES_PER_TOKEN * context + 8_030_261_248 * 2 / batch)
    b = decode_operators(LLAMA_8B, batch, context, weights=BF16)
    assert float(b.cf_bytes) == pytest.approx(cf)
    # operator CFs cover everything but the input embedding table (indexed, not multiplied)
    operators_cf = sum(float(op.cf_bytes) for op in b.operators)
    assert operators_cf + VOCAB * D * 2 / batch == pytest.approx(cf)


def test_roofline_wall_at_the_ridge():
    ridge = ridge_flop_per_byte(989e12, 3.35e12)
    assert ridge == pytest.approx(295.2, rel=1e-3)
    assert list(roofline_wall(np.array([1.0, ridge, 1e4]), ridge)) == [
        "bandwidth",
        "compute",
        "compute",
    ]


def test_mean_turn_request_uses_measured_context_else_accumulated_history():
    coding = Request.mean_turn(representative_request(CATALOG.workloads["coding-agent"]))
    assert coding.input_tokens == pytest.approx(8012.51)
    assert coding.prefix_tokens == pytest.approx(0.9 * 8012.51)
    # workloads.toml: 2,000 + 1,500 + 12 · (1,500 + 200) = 23,900 tokens mean context
    web = Request.mean_turn(representative_request(CATALOG.workloads["web-agent"]))
    assert web.input_tokens == pytest.approx(23_900)
    assert web.output_tokens == 200


def test_build_analysis_capacity_wall_and_curves():
    a = build_analysis(
        CATALOG, "llama-3.1-70b", workload_id="coding-agent-long", accelerator_ids=["h100-sxm"]
    )
    (h100,) = a.devices
    # ~154K tokens of 320 KiB: 50 GB of KV per sequence. TP4 is the smallest H100 instance
    # holding one: 0.9 · 85.52 GB − 141 GB / 4 leaves 41.7 GB per device, 12.6 GB per sequence
    # per device (8 KV heads over 4 ranks) -> 3 sequences. Even TP8 holds 9 < 16.
    assert (h100.tp, h100.max_batch_decode, h100.tp_for_batch) == (4, 3, 0)
    assert analysis_dict(a)["phases"][1]["wall"]["h100-sxm"] == "capacity"
    assert np.all(np.diff(h100.max_batch_curve) <= 0)
    kinds = {c.attention for c in a.kv_curves}
    assert kinds == {"mha", "gqa", "mla"}
    assert {v.workload for v in a.workloads} >= {"chat", "coding-agent", "coding-agent-long"}


def test_build_analysis_rejects_bad_inputs():
    with pytest.raises(FieldError, match="^model: no models entry with id 'llama-9'"):
        build_analysis(CATALOG, "llama-9")
    with pytest.raises(FieldError, match="^accelerators: no accelerators entry with id 'h900'"):
        build_analysis(CATALOG, "llama-3.1-8b", accelerator_ids=["h900"])
    with pytest.raises(FieldError, match="batch"):
        build_analysis(CATALOG, "llama-3.1-8b", batch=0)
