"""Per-step FLOPs and bytes against hand arithmetic (docs/model.md §2–4)."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.catalog import Precision, load_catalog
from optimizer.catalog.units import TERA
from optimizer.perf import (
    attention_flops,
    decode_weight_bytes,
    expected_experts_touched,
    kv_bytes_read,
    linear_flops,
)

CATALOG = load_catalog()
LLAMA_8B = CATALOG.models["llama-3.1-8b"]
MIXTRAL = CATALOG.models["mixtral-8x7b"]
H100 = CATALOG.accelerators["h100-sxm"]


def test_sol_decode_step_llama_8b_bf16_batch1_on_h100_is_weight_read_time():
    # Every weight but the 128,256 x 4,096 input embedding, 2 bytes each, over 3.35 TB/s.
    weight_bytes = (8_030_261_248 - 128_256 * 4_096) * 2
    expected_s = weight_bytes / 3.35e12
    assert expected_s == pytest.approx(4.48e-3, rel=0.01)
    context = 900
    compute_s = (linear_flops(LLAMA_8B, 1) + attention_flops(LLAMA_8B, 1, context)) / (
        H100.dense_tflops.bf16 * TERA
    )
    memory_s = (
        decode_weight_bytes(LLAMA_8B, Precision.BF16, 1)
        + kv_bytes_read(LLAMA_8B, Precision.BF16, 1, context)
    ) / (H100.memory_bandwidth_tb_per_s * TERA)
    assert compute_s < memory_s
    assert memory_s == pytest.approx(expected_s, rel=0.02)


def test_expected_experts_touched_limits():
    assert expected_experts_touched(MIXTRAL, 1) == pytest.approx(2.0)
    # Two tokens: 8 * (1 - (6/8)^2) = 3.5 distinct experts on average.
    assert expected_experts_touched(MIXTRAL, 2) == pytest.approx(3.5)
    assert expected_experts_touched(MIXTRAL, 10_000) == pytest.approx(8.0)


def test_decode_weight_bytes_moe_grows_with_batch_to_all_experts():
    batch = np.array([1, 2, 64, 100_000])
    read = decode_weight_bytes(MIXTRAL, Precision.BF16, batch)
    assert np.all(np.diff(read) > 0)
    total = 46_702_792_704 - 32_000 * 4_096
    assert read[-1] == pytest.approx(total * 2)
    expert = 3 * 4096 * 14336
    assert read[-1] - read[0] == pytest.approx(32 * 6 * expert * 2)


def test_attention_flops_by_hand():
    # Llama-3.1-8B: 32 layers, 32 heads x 128 -> 4096-wide q/k and v.
    n, p = 10.0, 90.0
    expected = 32 * 2 * (4096 + 4096) * n * (p + n / 2)
    assert attention_flops(LLAMA_8B, n, p) == pytest.approx(expected)


def test_attention_flops_local_layers_capped_by_window():
    gemma = CATALOG.models["gemma-3-27b"]
    window = gemma.local_attention.window_tokens
    long, longer = attention_flops(gemma, 1, 100_000), attention_flops(gemma, 1, 200_000)
    w = 2 * 2 * gemma.n_heads * gemma.head_dim
    global_layers = gemma.n_layers - gemma.local_attention.n_layers
    assert longer - long == pytest.approx(global_layers * w * 100_000)
    assert long == pytest.approx(
        global_layers * w * 100_000.5 + gemma.local_attention.n_layers * w * window
    )


def test_kv_bytes_read_is_batch_times_context_times_per_token():
    got = kv_bytes_read(LLAMA_8B, Precision.FP8, np.array([1, 8]), np.array([1000, 4000]))
    np.testing.assert_allclose(got, [65_536 * 1000, 8 * 65_536 * 4000])
