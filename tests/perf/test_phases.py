"""Serving phases (optimizer.perf.phases): the capacity wall, spill, the aggregated step, the
batch search against a brute-force scan and the M/D/1 queueing formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

from optimizer.catalog.loader import load_catalog
from optimizer.catalog.precision import Precision
from optimizer.perf.config import TierChoice, build_config
from optimizer.perf.efficiency import SOL, Phase, table_from_entries
from optimizer.perf.phases import (
    decode_step,
    largest_batch,
    max_utilization,
    md1_wait_quantile_s,
    memory,
    mixed_step,
    spill_fraction,
)
from optimizer.perf.shape import model_shape
from optimizer.perf.step import step_cost

LLAMA_70B_PARAMS = 70_553_706_496  # derived Llama-3.1-70B count (see test_capacity)
LLAMA_70B_KV_BF16 = 327_680  # bytes per token, docs/model.md §2
LLAMA_70B_TABLES = 2 * 128_256 * 8_192  # embedding and lm_head: bf16 in an fp8 checkpoint
LLAMA_70B_FP8_BYTES = LLAMA_70B_PARAMS + LLAMA_70B_TABLES  # one byte a weight, two the tables


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


@pytest.fixture(scope="module")
def hopper(cat):
    return table_from_entries(
        [*cat.efficiency.values(), *cat.overheads.values()], "bundled"
    ).lookup("nvidia-hopper")[0]


# ---------------------------------------------------------------- 4. capacity wall


@pytest.mark.parametrize("dp", [1, 3])
def test_capacity_wall_llama_70b_fp8_tp2_h200(cat, dp):
    s = model_shape(cat.models["llama-3.1-70b"])
    h200 = cat.accelerators["h200-sxm"]
    c, _ = build_config(cat, h200, tp=2, dp=dp, weights=Precision.FP8, efficiency=SOL)
    mem = memory(s, c, 4000)

    usable = 150.76e9
    assert h200.memory_usable_gb * 1e9 == pytest.approx(usable)
    weights = LLAMA_70B_FP8_BYTES / 2  # split over tp 2
    kv_per_seq = LLAMA_70B_KV_BF16 / 2 * 4000 / 2  # fp8 half; 8 KV heads split over tp 2
    free = 0.9 * usable - weights
    expected = dp * math.floor(free / kv_per_seq)
    assert float(mem.weights_per_device) == pytest.approx(weights, rel=1e-12)
    assert float(mem.kv_per_sequence_per_device) == pytest.approx(kv_per_seq, rel=1e-12)
    assert float(mem.kv_free_per_device) == pytest.approx(free, rel=1e-12)
    assert float(mem.reserve_per_device) == pytest.approx(0.1 * usable, rel=1e-12)
    assert float(mem.max_batch) == expected == float(mem.max_batch_hbm)
    assert expected == dp * 303  # (135.684e9 − 36.328e9) / 327.68e6 = 303.2


def test_kv_replicated_beyond_kv_heads(cat):
    """Llama-3.1-70B has 8 KV heads: TP 16 holds the same KV per device as TP 8."""
    s = model_shape(cat.models["llama-3.1-70b"])
    acc = cat.accelerators["h100-sxm"]
    per_seq = {}
    for tp in (1, 8, 16):
        c, _ = build_config(cat, acc, tp=tp, efficiency=SOL)
        per_seq[tp] = float(memory(s, c, 8192).kv_per_sequence_per_device)
        step = decode_step(s, c, 4, 8192)
        assert float(step.kv_bytes) == pytest.approx(4 * per_seq[tp], rel=1e-12)
    assert per_seq[1] == pytest.approx(LLAMA_70B_KV_BF16 * 8192, rel=1e-12)
    assert per_seq[8] == pytest.approx(per_seq[1] / 8, rel=1e-12)
    assert per_seq[16] == pytest.approx(per_seq[8], rel=1e-12)


def test_mla_kv_replicated_on_every_tp_rank(cat):
    """DeepSeek-V3's latent KV (70,272 B/token at bf16) is on every TP rank."""
    s = model_shape(cat.models["deepseek-v3"])
    c, _ = build_config(cat, cat.accelerators["h200-sxm"], tp=8, ep=8, efficiency=SOL)
    assert float(memory(s, c, 1000).kv_per_sequence_per_device) == pytest.approx(
        70_272 * 1000, rel=1e-12
    )


def test_model_that_does_not_fit(cat):
    s = model_shape(cat.models["llama-3.1-70b"])
    c, _ = build_config(cat, cat.accelerators["h100-sxm"], efficiency=SOL)  # 141 GB on 80
    mem = memory(s, c, 1000)
    assert float(mem.max_batch) == 0 and not bool(mem.fits)


def test_spill_fraction():
    np.testing.assert_allclose(
        spill_fraction([10, 100, 200, 5], [100, 100, 100, 0]), [0.0, 0.0, 0.5, 1.0]
    )


# ---------------------------------------------------------------- 8. tier capacity


def test_tier_adds_its_share_to_the_capacity_wall(cat):
    s = model_shape(cat.models["llama-3.1-70b"])
    h200 = cat.accelerators["h200-sxm"]
    tier = TierChoice(cat.memory["cxl-expander"], 512)
    c, _ = build_config(cat, h200, tp=2, weights=Precision.FP8, efficiency=SOL, tier=tier)
    mem = memory(s, c, 4000, spill=True)
    kv_per_seq = LLAMA_70B_KV_BF16 / 2 * 4000 / 2
    free = 0.9 * 150.76e9 - LLAMA_70B_FP8_BYTES / 2
    assert float(mem.max_batch_hbm) == 303
    assert float(mem.max_batch) == math.floor((free + 512e9 / 2) / kv_per_seq) == 1084
    # without spill the tier does not count
    assert float(memory(s, c, 4000).max_batch) == 303


# ---------------------------------------------------------------- 7. aggregated step


def test_mixed_step_chunk_is_batch_times_new_over_output(cat):
    s = model_shape(cat.models["llama-3.1-8b"])
    c, _ = build_config(cat, cat.accelerators["h100-sxm"], efficiency=SOL)
    batch, new, cached, out = 64, 1000, 200, 250
    mixed = mixed_step(s, c, batch, new, cached, out)
    chunk = batch * new / out  # 256 prompt tokens per step
    linear = 2 * (8_030_261_248 - 128_256 * 4_096)
    pair = 4 * 32 * 128 * 32
    head = 2 * 128_256 * 4_096  # each prompt's logits come from its last token only
    flops = (
        linear * batch
        + (linear - head) * chunk
        + head * batch / out
        + pair * batch * (cached + new + out / 2)  # decode over the mean live context
        + pair * chunk * (cached + new / 2)  # the prompt chunk's keys
    )
    assert float(mixed.flops) == pytest.approx(flops, rel=1e-12)
    explicit = step_cost(
        s,
        c,
        decode_batch=batch,
        decode_context=cached + new + out / 2,
        prefill_tokens=chunk,
        prefill_span=cached + new / 2,
        prefill_requests=batch / out,
        phase=Phase.DECODE,
    )
    assert float(mixed.time_s) == pytest.approx(float(explicit.time_s), rel=1e-12)


@pytest.mark.parametrize("calibrated", [False, True])
def test_mixed_step_tends_to_decode_for_long_outputs(cat, hopper, calibrated):
    s = model_shape(cat.models["llama-3.1-70b"])
    c, _ = build_config(
        cat, cat.accelerators["h100-sxm"], tp=4, efficiency=hopper if calibrated else SOL
    )
    batch, new, cached, out = 32, 2000, 0, 1e7
    mixed = mixed_step(s, c, batch, new, cached, out)
    dec = decode_step(s, c, batch, cached + new + out / 2)
    assert float(mixed.time_s) == pytest.approx(float(dec.time_s), rel=1e-3)
    # a short output makes the prompt chunk dominate: the mixed step is much longer
    short = mixed_step(s, c, batch, new, cached, 10)
    assert float(short.time_s) > 2 * float(decode_step(s, c, batch, new + 5).time_s)


# ---------------------------------------------------------------- 5. batch search


def _brute_largest(times, target):
    """Largest b (1-based) with times[b−1] ≤ target, 0 if none; times over 1..N."""
    ok = np.nonzero(times <= target)[0]
    return 0 if ok.size == 0 else int(ok.max()) + 1


def test_largest_batch_matches_brute_force(cat, hopper):
    s = model_shape(cat.models["llama-3.1-70b"])
    c, _ = build_config(cat, cat.accelerators["h200-sxm"], tp=4, efficiency=hopper)
    upper = 700

    def time_at(b):
        return decode_step(s, c, b, 3000).time_s

    all_times = time_at(np.arange(1, upper + 1, dtype=np.float64))
    targets = [
        0.5 * all_times[0],  # even batch 1 misses
        all_times[0],  # exactly batch 1
        *np.quantile(all_times, [0.1, 0.37, 0.5, 0.9]),
        all_times[122],  # exactly on a batch's time
        all_times[-1],
        2 * all_times[-1],  # everything meets it: the upper bound
    ]
    for target in targets:
        got = largest_batch(time_at, upper, target)
        assert float(got) == _brute_largest(all_times, target), target
    # vectorized over targets and upper bounds at once
    uppers = np.array([700, 50, 1, 0, 333])
    tgts = np.array([targets[3], targets[-1], targets[2], targets[-1], targets[4]])
    got = largest_batch(time_at, uppers, tgts)
    want = [_brute_largest(all_times[:u], t) for u, t in zip(uppers, tgts, strict=True)]
    np.testing.assert_array_equal(got, want)


@settings(max_examples=40, deadline=None)
@given(
    slope=st.floats(1e-6, 1e-3),
    base=st.floats(1e-4, 1e-1),
    knee=st.integers(1, 4000),
    upper=st.integers(0, 4000),
    frac=st.floats(0.0, 1.5),
)
def test_largest_batch_brute_force_random_monotone(slope, base, knee, upper, frac):
    """A flat-then-rising step time (the roofline's shape) with any target and bound."""

    def time_at(b):
        return base + slope * np.maximum(np.asarray(b) - knee, 0.0)

    times = time_at(np.arange(1, max(upper, 1) + 1, dtype=np.float64))[:upper]
    target = base + frac * slope * 2000 - 1e-4
    assert float(largest_batch(time_at, upper, target)) == _brute_largest(times, target)


# ---------------------------------------------------------------- 5. M/D/1


@pytest.mark.parametrize("rho", [0.3, 0.6, 0.9])
def test_md1_quantile_function_has_the_exact_mean(rho):
    """∫₀¹ Q(u) du of the quantile function is the mean wait ρS / (2(1 − ρ))."""
    service = 0.25
    mean, _ = quad(lambda u: float(md1_wait_quantile_s(rho, service, u)), 1 - rho, 1, limit=200)
    assert mean == pytest.approx(rho * service / (2 * (1 - rho)), rel=1e-6)


def test_md1_quantile_tail_form():
    rho, service, q = 0.8, 0.1, 0.99
    w = float(md1_wait_quantile_s(rho, service, q))
    theta = service / (2 * (1 - rho))  # 0.25 s
    assert rho * math.exp(-w / theta) == pytest.approx(1 - q, rel=1e-12)
    assert w == pytest.approx(0.25 * math.log(80), rel=1e-12)
    # below 1 − q the chance of waiting at all is under the quantile: no wait
    assert float(md1_wait_quantile_s(0.005, service, q)) == 0.0
    # the wait grows with the load
    loads = np.linspace(0.02, 0.99, 100)
    assert np.all(np.diff(md1_wait_quantile_s(loads, service, q)) > 0)


@pytest.mark.parametrize(
    ("service", "target", "q"),
    [(0.1, 0.5, 0.99), (0.2, 0.25, 0.9), (0.05, 3.0, 0.99), (0.4, 0.41, 0.5)],
)
def test_max_utilization_meets_target_exactly(service, target, q):
    rho = float(max_utilization(service, target, q))
    assert 0 < rho < 0.999
    ttft = service + float(md1_wait_quantile_s(rho, service, q))
    assert ttft <= target
    assert ttft == pytest.approx(target, rel=1e-6)
    above = service + float(md1_wait_quantile_s(rho * (1 + 1e-4), service, q))
    assert above > target
    # closed form: θ ln(ρ/(1−q)) = target − S
    theta = service / (2 * (1 - rho))
    assert theta * math.log(rho / (1 - q)) == pytest.approx(target - service, rel=1e-6)


def test_max_utilization_impossible_and_vectorized():
    got = max_utilization(np.array([0.1, 0.6, 0.1]), np.array([0.5, 0.5, 1e4]), 0.99)
    assert got[1] == 0.0  # the service alone misses the target
    assert got[0] > 0
    assert got[2] == pytest.approx(0.999, abs=1e-9)  # capped just below saturation
