"""The step model (optimizer.perf.step) and instance configuration (optimizer.perf.config):
hand-computed roofline terms, TP/EP/PP communication, the calibrated TP4-vs-TP8 fact, energy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from optimizer.catalog.engine_spec import MoeExchange
from optimizer.catalog.loader import load_catalog
from optimizer.catalog.precision import Precision
from optimizer.perf.bound import Bound
from optimizer.perf.config import (
    ConfigError,
    EngineProfile,
    TierChoice,
    build_config,
    group_link,
)
from optimizer.perf.efficiency import SOL, Efficiency, Phase, PhaseEfficiency, table_from_entries
from optimizer.perf.phases import decode_step, prefill_step
from optimizer.perf.shape import model_shape
from optimizer.perf.step import step_cost, tdp_clock_derate

# catalog numbers the hand calculations use (checked against the catalog in test_catalog_numbers)
H100_BF16 = 989e12  # dense BF16 FLOP/s
H100_BW = 3.35e12  # HBM3 bytes/s
NVLINK4_BW = 450e9  # bytes/s per direction
NVLINK4_LAT = 10e-6  # s per hop
IB_NDR_BW = 50e9  # H100 scale-out per direction


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


@pytest.fixture(scope="module")
def hopper(cat):
    eff, note = table_from_entries(
        [*cat.efficiency.values(), *cat.overheads.values()], "bundled"
    ).lookup("nvidia-hopper")
    assert note is None
    return eff


def test_catalog_numbers(cat):
    h100 = cat.accelerators["h100-sxm"]
    assert h100.dense_tflops.bf16 * 1e12 == H100_BF16
    assert h100.memory_bandwidth_tb_per_s * 1e12 == pytest.approx(H100_BW)
    assert h100.scale_up_link == "nvlink4" and h100.scale_up_domain == 8
    link = cat.interconnects["nvlink4"]
    assert link.bandwidth_gb_per_s_per_direction * 1e9 == NVLINK4_BW
    assert link.latency_us * 1e-6 == pytest.approx(NVLINK4_LAT)
    assert h100.scale_out_bandwidth_gb_per_s_per_direction * 1e9 == IB_NDR_BW


# ---------------------------------------------------------------- 1. SOL decode, one H100


def test_sol_decode_llama_8b_batch1_on_h100(cat):
    m = cat.models["llama-3.1-8b"]
    s = model_shape(m)
    c, notes = build_config(cat, cat.accelerators["h100-sxm"], efficiency=SOL)
    assert notes == []
    step = decode_step(s, c, 1, 900)

    params_total = 8_030_261_248  # derived Llama-3.1-8B count (published 8.03B)
    embedding = 128_256 * 4_096  # vocab × hidden: indexed, not read
    assert m.vocab_size == 128_256 and m.hidden_size == 4_096
    weights = (params_total - embedding) * 2  # bf16; lm_head is untied and read
    kv_per_token = 2 * 8 * 128 * 32 * 2  # K and V, 8 KV heads, d_h 128, 32 layers, bf16
    assert kv_per_token == 131_072
    kv = 900 * kv_per_token
    assert float(step.weight_bytes) == pytest.approx(weights, rel=1e-12)
    assert float(step.kv_bytes) == pytest.approx(kv, rel=1e-12)
    assert float(step.memory_s) == pytest.approx((weights + kv) / H100_BW, rel=1e-9)
    assert weights / H100_BW == pytest.approx(4.48e-3, rel=0.02)
    assert float(step.memory_s) == pytest.approx(4.48e-3, rel=0.02)

    attention = 4 * 32 * 128 * 32 * 900  # 4·H·d_h per layer per key, 32 layers, 900 keys
    flops = 2 * (params_total - embedding) + attention
    assert float(step.flops) == pytest.approx(flops, rel=1e-12)
    assert float(step.compute_s) == pytest.approx(flops / H100_BF16, rel=1e-9)
    assert float(step.comm_s) == 0.0
    assert float(step.fixed_s) == 0.0
    assert float(step.tier_s) == 0.0
    assert float(step.bubble) == 1.0
    assert float(step.time_s) == pytest.approx(float(step.memory_s), rel=1e-12)
    assert int(step.wall()) == Bound.BANDWIDTH


def test_large_batch_decode_adds_gemm_and_attention_time(cat):
    """1024 sequences of 2000 tokens, Llama-3.1-8B bf16 at SOL on one H100: the GEMMs are
    compute-bound (2·7.5e9·1024 FLOP = 15.5 ms against 4.5 ms of weights) while attention is
    bound by its KV reads (1024·2000·131,072 B = 268 GB = 80.1 ms against 1.1 ms of FLOPs);
    the kernels run in turn, so the step is their sum (95.6 ms), not the larger total (84.6)."""
    s = model_shape(cat.models["llama-3.1-8b"])
    c, _ = build_config(cat, cat.accelerators["h100-sxm"], efficiency=SOL)
    step = decode_step(s, c, 1024, 2000)
    weights = (8_030_261_248 - 128_256 * 4_096) * 2
    linear_s = 2 * (8_030_261_248 - 128_256 * 4_096) * 1024 / H100_BF16
    attention_s = 4 * 32 * 128 * 32 * 2000 * 1024 / H100_BF16
    kv_s = 1024 * 2000 * 131_072 / H100_BW
    assert linear_s == pytest.approx(15.5e-3, rel=0.01)
    assert kv_s == pytest.approx(80.1e-3, rel=0.01)
    assert float(step.linear_compute_s) == pytest.approx(linear_s, rel=1e-9)
    assert float(step.attention_compute_s) == pytest.approx(attention_s, rel=1e-9)
    assert float(step.weight_memory_s) == pytest.approx(weights / H100_BW, rel=1e-9)
    assert float(step.kv_memory_s) == pytest.approx(kv_s, rel=1e-9)
    assert float(step.time_s) == pytest.approx(linear_s + kv_s, rel=1e-9)
    assert float(step.time_s) > max(float(step.compute_s), float(step.memory_s)) * 1.1


def test_sol_prefill_compute_hand_calc(cat):
    """2048 new tokens over 1000 cached: 2·P·n + 4·H·d_h·L·n·(p + n/2), compute-bound."""
    s = model_shape(cat.models["llama-3.1-8b"])
    c, _ = build_config(cat, cat.accelerators["h100-sxm"], efficiency=SOL)
    step = prefill_step(s, c, 1, 2048, 1000, pipelined=False)
    head = 2 * 128_256 * 4_096  # logits of the prompt's last token only
    linear = (2 * (8_030_261_248 - 128_256 * 4_096) - head) * 2048 + head
    attention = 4 * 32 * 128 * 32 * 2048 * (1000 + 1024)
    assert float(step.flops) == pytest.approx(linear + attention, rel=1e-12)
    assert float(step.compute_s) == pytest.approx((linear + attention) / H100_BF16, rel=1e-9)
    # KV: writes 2048 tokens, reads the span (1000 + 1024 tokens) once per 128-query tile
    kv = (2048 + (1000 + 1024) * 2048 / 128) * 131_072
    assert float(step.kv_bytes) == pytest.approx(kv, rel=1e-12)
    assert int(step.wall()) == Bound.COMPUTE
    assert float(step.bubble) == 1.0


def test_efficiency_factors_scale_the_terms(cat):
    """mfu halves → compute doubles; mbu 0.8 → memory /0.8; the host launches L·o_layer ahead
    of the device (the two overlap, in quadrature under calibrated factors) and adds B·o_seq."""
    s = model_shape(cat.models["llama-3.1-8b"])
    acc = cat.accelerators["h100-sxm"]
    eff = Efficiency(
        PhaseEfficiency(),
        PhaseEfficiency(
            compute=0.5, memory=0.8, overhead_us_per_layer=100.0, overhead_us_per_sequence=7.0
        ),
        "test",
    )
    sol, _ = build_config(cat, acc, efficiency=SOL)
    cal, _ = build_config(cat, acc, efficiency=eff)
    a = decode_step(s, sol, 16, 2000)
    b = decode_step(s, cal, 16, 2000)
    assert float(b.compute_s) == pytest.approx(2 * float(a.compute_s), rel=1e-12)
    assert float(b.memory_s) == pytest.approx(float(a.memory_s) / 0.8, rel=1e-12)
    assert float(b.launch_s) == pytest.approx(32 * 100e-6, rel=1e-12)
    assert float(b.fixed_s) == pytest.approx(16 * 7e-6, rel=1e-12)
    device = math.hypot(float(b.linear_compute_s), float(b.weight_memory_s)) + math.hypot(
        float(b.attention_compute_s), float(b.kv_memory_s)
    )
    assert device > float(b.launch_s)  # 16 sequences of 2000 tokens: the device is longer
    step = math.hypot(device, 32 * 100e-6) + 16 * 7e-6
    assert float(b.time_s) == pytest.approx(step, rel=1e-12)
    # with launches far slower than the device (10 ms a layer) the host bounds the step
    slow = Efficiency(PhaseEfficiency(), PhaseEfficiency(overhead_us_per_layer=10_000.0), "t")
    c, _ = build_config(cat, acc, efficiency=slow)
    assert float(decode_step(s, c, 16, 2000).time_s) == pytest.approx(32 * 10e-3, rel=1e-3)


def test_calibrated_kernels_overlap_in_quadrature_and_sol_keeps_the_roofline(cat):
    """Llama-3.1-8B bf16 on one H100 at the batch where its GEMMs' FLOPs and weight reads take
    equally long (B = 989e12 / 3.35e12 ≈ 295: 2·P·B FLOPs against 2·P bytes): the roofline
    takes the longer of the two, the calibrated model (here with the roofline's own factors,
    so only the combination differs) their quadrature sum, √2 × at that balance; attention,
    far below its ridge (GQA's 4 FLOPs per KV byte against 295), barely moves."""
    s = model_shape(cat.models["llama-3.1-8b"])
    acc = cat.accelerators["h100-sxm"]
    sol, _ = build_config(cat, acc, efficiency=SOL)
    roofline_factors = Efficiency(PhaseEfficiency(), PhaseEfficiency(), "smooth")
    same, _ = build_config(cat, acc, efficiency=roofline_factors)
    batch = H100_BF16 / H100_BW
    a, b = decode_step(s, sol, batch, 2000), decode_step(s, same, batch, 2000)
    lin, w = float(a.linear_compute_s), float(a.weight_memory_s)
    att, kv = float(a.attention_compute_s), float(a.kv_memory_s)
    assert lin == pytest.approx(w, rel=0.1)  # the balance (lm_head and embeddings aside)
    assert float(a.time_s) == pytest.approx(max(lin, w) + max(att, kv), rel=1e-12)
    assert float(b.time_s) == pytest.approx(math.hypot(lin, w) + math.hypot(att, kv), rel=1e-12)
    assert math.hypot(lin, w) == pytest.approx(math.sqrt(2) * max(lin, w), rel=0.01)
    assert math.hypot(att, kv) == pytest.approx(kv, rel=0.01)


def test_host_time_per_sequence_splits_over_attention_dp_ranks(cat):
    """Each attention-DP rank schedules and samples its own sequences, side by side: 64
    sequences over 4 ranks at 7 µs a sequence are 16 · 7 = 112 µs of host time a step, not
    64 · 7 = 448 µs; over TP the ranks all step every sequence (448 µs)."""
    s = model_shape(cat.models["llama-3.1-8b"])
    acc = cat.accelerators["h100-sxm"]
    eff = Efficiency(PhaseEfficiency(), PhaseEfficiency(overhead_us_per_sequence=7.0), "test")
    dp4, _ = build_config(cat, acc, dp=4, efficiency=eff)
    tp4, _ = build_config(cat, acc, tp=4, efficiency=eff)
    assert float(decode_step(s, dp4, 64, 2000).fixed_s) == pytest.approx(112e-6, rel=1e-12)
    assert float(decode_step(s, tp4, 64, 2000).fixed_s) == pytest.approx(448e-6, rel=1e-12)


# ---------------------------------------------------------------- 2. TP communication


def _decode_eff(**kw) -> Efficiency:
    return Efficiency(PhaseEfficiency(), PhaseEfficiency(**kw), "test")


@pytest.mark.parametrize("batch", [1, 16, 256])
def test_tp8_ring_all_reduce_time(cat, batch):
    s = model_shape(cat.models["llama-3.1-70b"])
    acc = cat.accelerators["h100-sxm"]
    layers, d = 80, 8192
    size = batch * d * 2  # activations bf16
    bandwidth_term = 2 * layers * (2 * 7 / 8) * size / NVLINK4_BW

    c, _ = build_config(cat, acc, tp=8, efficiency=_decode_eff(link=1.0, hop_latency_scale=0.0))
    step = decode_step(s, c, batch, 1000)
    assert float(step.comm_s) == pytest.approx(bandwidth_term, rel=1e-9)
    assert float(step.link_bytes) == pytest.approx(2 * layers * (2 * 7 / 8) * size * 8, rel=1e-9)

    c, _ = build_config(cat, acc, tp=8, efficiency=_decode_eff(link=1.0, hop_latency_scale=1.0))
    step = decode_step(s, c, batch, 1000)
    latency = 2 * layers * 2 * 7 * NVLINK4_LAT  # 22.4 ms: 2(tp−1) hops per all-reduce
    assert float(step.comm_s) == pytest.approx(bandwidth_term + latency, rel=1e-9)

    c, _ = build_config(cat, acc, tp=8, efficiency=_decode_eff(link=0.5, hop_latency_scale=0.0))
    assert float(decode_step(s, c, batch, 1000).comm_s) == pytest.approx(
        2 * bandwidth_term, rel=1e-9
    )


def test_tp16_leaves_the_nvlink_domain(cat):
    """16 H100s exceed the HGX domain of 8: the all-reduce runs at the NIC's 50 GB/s."""
    acc = cat.accelerators["h100-sxm"]
    bw, link = group_link(cat, acc, 8)
    assert (bw, link.id) == (NVLINK4_BW, "nvlink4")
    bw, link = group_link(cat, acc, 16)
    assert (bw, link.id) == (IB_NDR_BW, "ib-ndr")
    s = model_shape(cat.models["llama-3.1-70b"])
    c, _ = build_config(cat, acc, tp=16, efficiency=SOL)
    step = decode_step(s, c, 4, 1000)
    expected = 2 * 80 * (2 * 15 / 16) * 4 * 8192 * 2 / IB_NDR_BW
    assert float(step.comm_s) == pytest.approx(expected, rel=1e-9)


def test_group_link_pcie_card_and_missing_scale_out(cat):
    l40s = cat.accelerators["l40s"]
    bw, link = group_link(cat, l40s, 4)  # no NVLink: PCIe 4 inside the server
    assert (
        link.id == "pcie4"
        and bw == cat.interconnects["pcie4"].bandwidth_gb_per_s_per_direction * 1e9
    )
    with pytest.raises(ConfigError, match="l40s"):
        group_link(cat, l40s, 16)  # beyond one server and no scale-out link


def test_tp1_has_no_communication_even_with_latency(cat):
    s = model_shape(cat.models["llama-3.1-8b"])
    c, _ = build_config(
        cat, cat.accelerators["h100-sxm"], efficiency=_decode_eff(hop_latency_scale=5.0)
    )
    step = decode_step(s, c, 8, 1000)
    assert float(step.comm_s) == 0.0 and float(step.link_bytes) == 0.0


def test_ep_all_to_all_and_touched_experts(cat):
    """Mixtral-8x7B, EP 8 (tp 1, dp 8), batch 4, on an engine with all-to-all MoE exchange:
    each MoE layer touches 8·(1 − (6/8)^4) experts, a device reads its dense weights plus 1/8 of
    them; dispatch + combine exchange (ep−1)/ep of tokens·k·d·b_a / ep per device per layer."""
    m = cat.models["mixtral-8x7b"]
    s = model_shape(m)
    acc = cat.accelerators["h100-sxm"]
    engine = EngineProfile(moe_exchange=MoeExchange.ALL_TO_ALL)
    c, _ = build_config(cat, acc, tp=1, dp=8, ep=8, efficiency=SOL, engine=engine)
    step = decode_step(s, c, 4, 500)
    expert = 3 * 4096 * 14336
    routed = 32 * 8 * expert
    dense = 46_702_792_704 - 32_000 * 4096 - routed  # total − input embedding − experts
    touched = 32 * 8 * (1 - (1 - 2 / 8) ** 4) * expert
    assert float(step.weight_bytes) == pytest.approx((dense + touched / 8) * 2, rel=1e-9)
    a2a = 2 * 4 * 2 * 4096 * 2 / 8 * (7 / 8) * 32 / NVLINK4_BW
    assert float(step.comm_s) == pytest.approx(a2a, rel=1e-9)


def test_ep_gather_moves_every_token_to_every_rank(cat):
    """The engines' default exchange: with attention DP 8 each device receives the other 7
    ranks' share of all 4 tokens' 4096-wide inputs (bf16 GEMMs: 2 bytes) and reduce-scatters
    as much of the bf16 outputs: 4 · 4096 · (2 + 2) · 7/8 bytes per MoE layer, 32 layers, at
    SOL's full NVLink 4 rate (k = 2 of 8 experts: 4× the all-to-all's). Without attention DP
    the TP all-reduce already leaves every token on every rank: no EP traffic at all."""
    s = model_shape(cat.models["mixtral-8x7b"])
    acc = cat.accelerators["h100-sxm"]
    c, _ = build_config(cat, acc, tp=1, dp=8, ep=8, efficiency=SOL)
    step = decode_step(s, c, 4, 500)
    gathered = 4 * 4096 * (2 + 2) * (7 / 8) * 32 / NVLINK4_BW
    assert float(step.comm_s) == pytest.approx(gathered, rel=1e-9)
    tp_only, _ = build_config(cat, acc, tp=8, ep=8, efficiency=SOL)
    with_ep = decode_step(s, tp_only, 4, 500)
    tp_alone, _ = build_config(cat, acc, tp=8, ep=1, efficiency=SOL)
    assert float(with_ep.comm_s) == pytest.approx(float(decode_step(s, tp_alone, 4, 500).comm_s))


def test_moe_decode_batch1_reads_k_experts(cat):
    m = cat.models["mixtral-8x7b"]
    s = model_shape(m)
    c, _ = build_config(cat, cat.accelerators["h200-sxm"], efficiency=SOL)
    step = decode_step(s, c, 1, 100)
    expert = 3 * 4096 * 14336
    dense = 46_702_792_704 - 32_000 * 4096 - 32 * 8 * expert
    assert float(step.weight_bytes) == pytest.approx((dense + 32 * 2 * expert) * 2, rel=1e-9)
    # a huge batch touches every expert: the whole model minus the input table
    big = decode_step(s, c, 10_000, 100)
    assert float(big.weight_bytes) == pytest.approx((dense + 32 * 8 * expert) * 2, rel=1e-9)


def test_routed_experts_run_at_the_expert_share_of_the_dense_rate(cat):
    """Mixtral-8x7B prefill of 4096 tokens on one H200 with expert = 0.5: the k = 2 active
    experts' 2·3·d·f FLOPs per token per layer take twice a dense FLOP's time, everything else
    (attention projections, router, lm_head, attention) as before; a dense model is untouched."""
    m = cat.models["mixtral-8x7b"]
    s = model_shape(m)
    acc = cat.accelerators["h200-sxm"]
    half = Efficiency(PhaseEfficiency(expert=0.5), PhaseEfficiency(expert=0.5), "t")
    sol, _ = build_config(cat, acc, efficiency=SOL)
    slow, _ = build_config(cat, acc, efficiency=half)
    expert_flops = 2 * 32 * 2 * (3 * 4096 * 14336)  # 2 FLOPs · layers · k · expert weights
    a = prefill_step(s, sol, 1, 4096, 0, pipelined=False)
    b = prefill_step(s, slow, 1, 4096, 0, pipelined=False)
    derate = float(tdp_clock_derate(sol))  # H200's GEMM clock under its TDP: 1.004
    added = expert_flops * 4096 * derate / 989e12  # bf16 on H200: 989 TFLOP/s dense
    assert float(b.linear_compute_s) == pytest.approx(float(a.linear_compute_s) + added, rel=1e-9)
    assert float(b.attention_compute_s) == float(a.attention_compute_s)
    assert float(b.flops) == float(a.flops)  # the work is the same; only its rate falls
    d = decode_step(s, slow, 64, 1000)
    assert float(d.linear_compute_s) == pytest.approx(
        float(decode_step(s, sol, 64, 1000).linear_compute_s)
        + expert_flops * 64 * derate / 989e12,
        rel=1e-9,
    )
    dense = model_shape(cat.models["llama-3.1-8b"])
    assert float(prefill_step(dense, slow, 1, 4096, 0, pipelined=False).compute_s) == float(
        prefill_step(dense, sol, 1, 4096, 0, pipelined=False).compute_s
    )


def test_attention_runs_at_the_peak_of_its_format(cat):
    """Llama-3.1-8B fp4 with an fp8 KV cache on a B200: the GEMMs at the fp4 peak (9,000
    TFLOP/s), attention's QK and PV matmuls at the fp8 one (4,500); with a bf16 cache at the
    bf16 one (2,250); fp8 weights with an fp8 cache attend at fp8. The lm_head stays bf16 in
    a quantized checkpoint: the prompt's one logit row multiplies at the bf16 peak."""
    s = model_shape(cat.models["llama-3.1-8b"])
    acc = cat.accelerators["b200"]
    attention = 4 * 32 * 128 * 32 * 8192 * 4096  # 8192 new tokens, a 4096-key mean span
    for weights, kv, peak in ((Precision.FP4, Precision.FP8, 4500e12),
                              (Precision.FP4, Precision.BF16, 2250e12),
                              (Precision.FP8, Precision.FP8, 4500e12),
                              (Precision.FP4, Precision.FP4, 4500e12)):  # fmt: skip
        c, _ = build_config(cat, acc, weights=weights, kv=kv, efficiency=SOL)
        step = prefill_step(s, c, 1, 8192, 0, pipelined=False)
        assert float(step.attention_compute_s) == pytest.approx(attention / peak, rel=1e-9)
    c, _ = build_config(cat, acc, weights=Precision.FP4, kv=Precision.FP8, efficiency=SOL)
    linear = float(prefill_step(s, c, 1, 8192, 0, pipelined=False).linear_compute_s)
    head = 2 * 128_256 * 4_096
    gemm = (2 * (8_030_261_248 - 128_256 * 4_096) - head) * 8192
    assert linear == pytest.approx(gemm / 9000e12 + head / 2250e12, rel=1e-9)


def test_kept_bf16_weights_stream_two_bytes_and_multiply_at_the_bf16_peak(cat):
    """Meta's FP8 Llama 3.1 405B on eight H100s, a decode step of 8 sequences under the
    roofline: the 124 fp8 FFNs stream one byte a weight and multiply at 1,979 TFLOP/s; every
    attention block, the first and last FFNs and the lm_head stream two and multiply at 989."""
    attention = 2 * 16_384 * 16_384 + 2 * 16_384 * 1_024
    ffn = 3 * 16_384 * 53_248
    lm_head = 128_256 * 16_384
    multiplied = 126 * (attention + ffn + 2 * 16_384) + 16_384 + lm_head  # no input table
    bf16 = 126 * attention + 2 * ffn + lm_head
    acc = cat.accelerators["h100-sxm"]
    c, _ = build_config(cat, acc, tp=8, weights=Precision.FP8, kv=Precision.BF16, efficiency=SOL)
    meta = model_shape(cat.models["llama-3.1-405b-fp8-meta"])
    step = decode_step(meta, c, 8, 1000)
    assert float(step.weight_bytes) == pytest.approx((multiplied + bf16) / 8, rel=1e-12)
    narrow = 2 * (multiplied - bf16) * 8
    assert float(step.linear_compute_s) == pytest.approx(
        narrow / (8 * 1979e12) + 2 * bf16 * 8 / (8 * 989e12), rel=1e-9
    )
    # the checkpoint whose every block is fp8 keeps only its lm_head (and embedding) in bf16
    plain = decode_step(model_shape(cat.models["llama-3.1-405b"]), c, 8, 1000)
    assert float(plain.weight_bytes) == pytest.approx((multiplied + lm_head) / 8, rel=1e-12)
    # at bf16 the two are the same weights, at the bf16 peak
    c16, _ = build_config(cat, acc, tp=8, weights=Precision.BF16, efficiency=SOL)
    step16 = decode_step(meta, c16, 8, 1000)
    assert float(step16.weight_bytes) == pytest.approx(2 * multiplied / 8, rel=1e-12)
    assert float(step16.linear_compute_s) == pytest.approx(
        2 * multiplied * 8 / (8 * 989e12), rel=1e-9
    )


# ---------------------------------------------------------------- 3. the calibrated fact


def test_calibrated_tp8_barely_beats_tp4_on_h100(cat):
    """Splitwise llama-2-70b fp16 on its research stack, batch 1, ~600 tokens: TP4 ≈ TP8 (29.4
    vs 30.6 ms measured), while the pure roofline says TP8 is twice as fast."""
    s = model_shape(cat.models["llama-2-70b"])
    acc = cat.accelerators["h100-sxm"]
    entries = [*cat.efficiency.values(), *cat.overheads.values()]
    research, _ = table_from_entries(entries, "bundled").lookup("nvidia-hopper", "research")
    engine = EngineProfile.of(cat.engines["research"])
    times = {}
    for mode, eff in (("sol", SOL), ("cal", research)):
        for tp in (4, 8):
            c, _ = build_config(cat, acc, tp=tp, weights=Precision.FP16, efficiency=eff,
                                engine=engine)  # fmt: skip
            times[mode, tp] = float(decode_step(s, c, 1, 576).time_s)
    # issue 13's target: TP8 at least 0.9 × TP4 (measured 1.04 ×; the model gives 1.20 ×, each
    # within 8 % of its measurement: 27.6 and 33.1 ms)
    assert 0.9 * times["cal", 4] <= times["cal", 8] <= 1.25 * times["cal", 4]
    for tp in (4, 8):
        assert 29.4e-3 * 0.85 <= times["cal", tp] <= 30.6e-3 * 1.15
    ratio = times["sol", 4] / times["sol", 8]
    assert 1.8 <= ratio <= 2.1
    # the roofline is far optimistic against the measured ~30 ms
    assert times["sol", 8] < 0.25 * times["cal", 8]


# ---------------------------------------------------------------- 9. pipeline parallelism


def test_pipeline_bubble_and_series_prefill(cat):
    """32 sequences fill both stages of PP 2 with micro-batches: no bubble, and the step is the
    kernels' time (linear kernels, then attention, then collectives)."""
    s = model_shape(cat.models["llama-3.1-70b"])
    acc = cat.accelerators["h100-sxm"]
    c1, _ = build_config(cat, acc, tp=2, efficiency=SOL)
    c2, _ = build_config(cat, acc, tp=2, pp=2, efficiency=SOL)
    dec = decode_step(s, c2, 32, 2000)
    assert float(dec.bubble) == 1.0
    inner = (
        max(float(dec.linear_compute_s), float(dec.weight_memory_s))
        + max(float(dec.attention_compute_s), float(dec.kv_memory_s))
        + float(dec.comm_s)
    )
    assert float(dec.time_s) == pytest.approx(inner, rel=1e-12)
    # pipelined: the FLOPs spread over all 4 devices, half the per-device time of tp2 alone
    one = decode_step(s, c1, 32, 2000)
    assert float(dec.compute_s) == pytest.approx(float(one.compute_s) / 2, rel=1e-12)

    pre = prefill_step(s, c2, 1, 4000, 0, pipelined=False)
    assert float(pre.bubble) == 1.0
    # in series only one stage (tp ranks) works at a time: same compute term as pp=1
    pre1 = prefill_step(s, c1, 1, 4000, 0, pipelined=False)
    assert float(pre.compute_s) == pytest.approx(float(pre1.compute_s), rel=1e-12)
    # a pipelined prefill batch has no decode token to wait on: no bubble either
    assert float(prefill_step(s, c2, 4, 4000, 0, pipelined=True).bubble) == 1.0


def test_one_sequence_through_a_pipeline_is_a_series_pass(cat):
    """One decoding sequence on PP 4 is one micro-batch: it visits the stages one after
    another, so its kernels take what the same step run in series takes (each stage reads a
    quarter of the weights and KV and does a quarter of the FLOPs, four times over): bubble 4
    on a quarter of the work."""
    s = model_shape(cat.models["llama-3.1-70b"])
    c, _ = build_config(cat, cat.accelerators["h100-sxm"], tp=2, pp=4, efficiency=SOL)
    piped = decode_step(s, c, 1, 2000)
    series = step_cost(s, c, decode_batch=1, decode_context=2000, phase=Phase.DECODE,
                       pipelined=False)  # fmt: skip
    assert float(piped.bubble) == 4.0 and float(series.bubble) == 1.0

    def kernels(step):
        return (max(float(step.linear_compute_s), float(step.weight_memory_s))
                + max(float(step.attention_compute_s), float(step.kv_memory_s)))  # fmt: skip

    assert kernels(piped) * 4 == pytest.approx(kernels(series), rel=1e-12)
    # two sequences: two micro-batches, half of every pp turns idle
    assert float(decode_step(s, c, 2, 2000).bubble) == 2.0


def test_pp_handoff_time(cat):
    """PP hands tokens·d·b_a to the next stage: (pp−1)·act / bw (+ pp·latency when scaled)."""
    s = model_shape(cat.models["llama-3.1-70b"])
    acc = cat.accelerators["h100-sxm"]
    c, _ = build_config(cat, acc, pp=4, efficiency=_decode_eff(hop_latency_scale=1.0))
    step = decode_step(s, c, 8, 1000)
    expected = 3 * 8 * 8192 * 2 / NVLINK4_BW + 4 * NVLINK4_LAT
    assert float(step.comm_s) == pytest.approx(expected, rel=1e-9)


# ---------------------------------------------------------------- config


def test_build_config_fp8_peak_and_fallback_note(cat):
    c, notes = build_config(
        cat, cat.accelerators["h100-sxm"], weights=Precision.FP8, efficiency=SOL
    )
    assert float(c.peak_flop_per_s) == 1979e12 and float(c.weight_bytes) == 1.0
    assert float(c.kv_bytes) == 1.0  # kv defaults to the weights' precision
    assert notes == []
    c, notes = build_config(
        cat, cat.accelerators["a100-sxm-80gb"], weights=Precision.FP8, efficiency=SOL
    )
    assert float(c.peak_flop_per_s) == 312e12  # no fp8 on Ampere: the bf16 peak
    assert any("fp8" in n and "bf16" in n for n in notes)


def test_build_config_tier_numbers(cat):
    tier = cat.memory["cxl-expander"]
    c, _ = build_config(
        cat, cat.accelerators["h100-sxm"], tp=4, efficiency=SOL, tier=TierChoice(tier, 512)
    )
    assert float(c.tier_bytes) == 512e9
    # 512 GB fill two 256 GB modules of 36 GB/s: 72 GB/s, below four 64 GB/s CXL links
    assert float(c.tier_bw_bytes_per_s) == pytest.approx(min(2 * 36.0, 4 * 64.0) * 1e9)
    one, _ = build_config(
        cat, cat.accelerators["h100-sxm"], tp=4, efficiency=SOL, tier=TierChoice(tier, 100)
    )
    assert float(one.tier_bw_bytes_per_s) == pytest.approx(36e9)  # one module, shared by 4
    assert float(c.tier_latency_s) == pytest.approx(190e-9 + 0.09e-6)
    assert float(c.tier_energy_j_per_byte) == pytest.approx((20.0 + 6.5) * 1e-12 * 8)
    c0, _ = build_config(
        cat, cat.accelerators["h100-sxm"], efficiency=SOL, tier=TierChoice(tier, 0)
    )
    assert float(c0.tier_bytes) == 0.0 and float(c0.tier_bw_bytes_per_s) == 0.0


def test_one_link_in_two_roles_keeps_each_roles_rate(cat):
    # Gaudi2's 24 x 100 GbE RoCE ports serve both roles: 21 ports scale up (262.5 GB/s per
    # direction) and 3 scale out (37.5 GB/s); the link id alone cannot tell them apart.
    gaudi2 = cat.accelerators["gaudi2"]
    assert gaudi2.scale_up_link == gaudi2.scale_out_link
    bw, _ = group_link(cat, gaudi2, 8)
    assert bw == 262.5e9
    c, _ = build_config(cat, gaudi2, tp=4, efficiency=SOL)
    assert float(c.xfer_bw_bytes_per_s) == 4 * 37.5e9


def test_a_devices_own_host_link_share_caps_its_host_tier(cat):
    # GB300 reaches Grace's LPDDR5X (500 GB/s per socket) over NVLink-C2C; the device's own
    # host-link share, not the generic 450 GB/s link entry, bounds it. A superchip that split
    # its 900 GB/s bidirectional C2C between two GPUs would give each 225 GB/s per direction.
    gb300 = cat.accelerators["gb300"].model_copy(
        update={"host_bandwidth_gb_per_s_per_direction": 225.0}
    )
    tier = TierChoice(cat.memory["lpddr5x"], 100)
    c, _ = build_config(cat, gb300, tp=2, efficiency=SOL, tier=tier)
    assert float(c.tier_bw_bytes_per_s) == pytest.approx(min(500.0, 2 * 225.0) * 1e9)
    # at 450 GB/s each, two GPUs could pull 900 GB/s, but 100 GB sit in one socket of 500
    c, _ = build_config(cat, cat.accelerators["gb300"], tp=2, efficiency=SOL, tier=tier)
    assert float(c.tier_bw_bytes_per_s) == pytest.approx(min(500.0, 2 * 450.0) * 1e9)


def test_a_pcie4_card_reads_a_pcie5_hosts_ddr5_at_gen4_speed(cat):
    """A100's host link is PCIe 4.0 (32 GB/s per direction), the DDR5 tier's PCIe 5.0 (64):
    four A100s holding 1,024 GB (16 modules of 64 GB, 38.4 GB/s each: 614 GB/s) read it at
    4 × 32 = 128 GB/s, the slower link, not 4 × 64. A CXL expander through the same link too."""
    a100 = cat.accelerators["a100-sxm-80gb"]
    c, _ = build_config(cat, a100, tp=4, efficiency=SOL,
                        tier=TierChoice(cat.memory["ddr5"], 1024))  # fmt: skip
    assert float(c.tier_bw_bytes_per_s) == pytest.approx(min(4 * 32.0, 16 * 38.4) * 1e9)
    cxl, _ = build_config(cat, a100, tp=4, efficiency=SOL,
                          tier=TierChoice(cat.memory["cxl-expander"], 2048))  # fmt: skip
    assert float(cxl.tier_bw_bytes_per_s) == pytest.approx(min(4 * 32.0, 8 * 36.0) * 1e9)


def test_a_pooled_unit_shares_its_bandwidth_over_its_radix(cat):
    # one photonic-fabric appliance: 14,375 GB/s over up to 16 attached devices = 898.4 GB/s
    # each, as its 898 GB/s optical link; eight B200s get eight shares whatever GB they hold
    tier = cat.memory["optical-memory-pool"]
    assert tier.max_devices_per_unit == 16
    c, _ = build_config(cat, cat.accelerators["b200"], tp=8, efficiency=SOL,
                        tier=TierChoice(tier, 4000))  # fmt: skip
    assert float(c.tier_bw_bytes_per_s) == pytest.approx(8 * min(14_375 / 16, 898.0) * 1e9)


# ---------------------------------------------------------------- energy


_MODELS = ["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b", "qwen3-30b-a3b", "gemma-3-27b"]
_ACCS = ["h100-sxm", "h200-sxm", "a100-sxm-80gb", "b200", "l40s", "mi300x", "h100-nvl"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    model=st.sampled_from(_MODELS),
    acc=st.sampled_from(_ACCS),
    tp=st.sampled_from([1, 2, 4, 8]),
    pp=st.sampled_from([1, 2]),
    precision=st.sampled_from([Precision.BF16, Precision.FP8]),
    batch=st.integers(1, 512),
    context=st.integers(1, 32_000),
    chunk=st.integers(0, 8192),
    calibrated=st.booleans(),
)
def test_power_never_above_tdp(
    cat, hopper, model, acc, tp, pp, precision, batch, context, chunk, calibrated
):
    a = cat.accelerators[acc]
    assume(tp * pp <= 8 or a.scale_out_link)  # cards without a NIC: one 8-card server
    c, _ = build_config(
        cat, a, tp=tp, pp=pp, weights=precision, efficiency=hopper if calibrated else SOL
    )
    s = model_shape(cat.models[model])
    step = step_cost(
        s,
        c,
        decode_batch=batch,
        decode_context=context,
        prefill_tokens=chunk,
        prefill_span=chunk / 2,
        prefill_requests=1 if chunk else 0,
        phase=Phase.DECODE,
    )
    devices = tp * pp
    idle = float(c.idle_w)  # the published idle, or the catalog median share of TDP
    assert float(step.power_w) <= a.tdp_w * devices * (1 + 1e-12)
    assert float(step.power_w) >= idle * devices * (1 - 1e-12)
    assert idle <= float(step.device_power_w) <= a.tdp_w
    assert float(step.time_s) > 0


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    model=st.sampled_from(_MODELS),
    acc=st.sampled_from(_ACCS),
    tp=st.sampled_from([1, 2, 4, 8]),
    dp=st.sampled_from([1, 2]),
    calibrated=st.booleans(),
    context=st.integers(1, 64_000),
    batch=st.integers(1, 1024),
)
def test_decode_step_monotone(cat, hopper, model, acc, tp, dp, calibrated, context, batch):
    """Step time never falls as the batch or the context grows; throughput B/t never falls
    with the batch (every term is concave in B with a non-negative intercept)."""
    c, _ = build_config(
        cat, cat.accelerators[acc], tp=tp, dp=dp, efficiency=hopper if calibrated else SOL
    )
    s = model_shape(cat.models[model])
    batches = np.arange(1, batch + 1, dtype=np.float64)
    t = decode_step(s, c, batches, context).time_s
    assert np.all(np.diff(t) >= -1e-15 * t[1:])
    throughput = batches / t
    assert np.all(np.diff(throughput) >= -1e-9 * throughput[1:])
    contexts = np.linspace(1, context, 50)
    tc = decode_step(s, c, batch, contexts).time_s
    assert np.all(np.diff(tc) >= -1e-15 * tc[1:])


def test_replicated_kv_is_streamed_from_the_tier_once_per_rank(cat):
    """MLA's latent KV sits on every TP rank, so each rank streams its own copy of the spilled
    part over its own link; the instance's ranks do not share the reading out."""
    deepseek = model_shape(cat.models["deepseek-v3"])
    tier = TierChoice(cat.memory["optical-memory-pool"], 4000)
    config, _ = build_config(cat, cat.accelerators["b200"], tp=8, ep=8, weights=Precision.FP8,
                             efficiency=SOL, tier=tier)  # fmt: skip
    batch, context, spill = 64.0, 150_000.0, 0.8
    step = decode_step(deepseek, config, batch, context, spill_frac=spill)
    # latent (512) + rope key (64) per layer × 61 layers, fp8: 35,136 bytes per token
    spilled_bytes = batch * 35_136 * context * spill
    # each device reaches the pool at min(14,375 GB/s unit, 898 GB/s optical link) = 898 GB/s
    assert float(step.tier_s) == pytest.approx(spilled_bytes / 898e9, rel=1e-9)
    assert float(step.tier_bytes) == pytest.approx(8 * spilled_bytes, rel=1e-9)
    # a GQA model splits its KV heads over the ranks: the ranks share the reading out
    llama = model_shape(cat.models["llama-3.1-70b"])
    gqa, _ = build_config(cat, cat.accelerators["b200"], tp=8, weights=Precision.FP8,
                          efficiency=SOL, tier=tier)  # fmt: skip
    step = decode_step(llama, gqa, batch, context, spill_frac=spill)
    # 80 layers × 8 KV heads × 128 × 2 (K, V), fp8 weights → fp8 KV: 163,840 bytes per token
    spilled_bytes = batch * 163_840 * context * spill
    assert float(step.tier_s) == pytest.approx(spilled_bytes / (8 * 898e9), rel=1e-9)


def test_one_prompt_runs_on_one_attention_dp_rank(cat):
    """dp = 8: one prompt's FLOPs run on its own rank (the compute of one device), eight
    prompts on all eight ranks (an eighth each), as with eight separate instances."""
    s = model_shape(cat.models["llama-3.1-8b"])
    acc = cat.accelerators["h100-sxm"]
    one, _ = build_config(cat, acc, efficiency=SOL)
    dp8, _ = build_config(cat, acc, dp=8, efficiency=SOL)
    alone = float(prefill_step(s, one, 1, 4000, 0, pipelined=False).compute_s)
    assert float(prefill_step(s, dp8, 1, 4000, 0, pipelined=False).compute_s) == pytest.approx(
        alone, rel=1e-12
    )
    assert float(prefill_step(s, dp8, 8, 4000, 0, pipelined=True).compute_s) == pytest.approx(
        alone, rel=1e-12
    )
