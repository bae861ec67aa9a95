"""Capacity arithmetic: weight and KV shards per device, valid splits, the capacity wall."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.catalog import Precision, load_catalog
from optimizer.perf.capacity import (
    kv_bytes_per_sequence_per_device,
    kv_shards,
    max_batch,
    valid_split,
    weight_bytes_per_device,
)

CATALOG = load_catalog()
LLAMA_70B = CATALOG.models["llama-3.1-70b"]
DEEPSEEK = CATALOG.models["deepseek-v3"]
MIXTRAL = CATALOG.models["mixtral-8x7b"]


def test_valid_split_rules():
    tp = np.array([1, 2, 8, 16, 3, 64])
    # 64 query heads, 8 KV heads: 16 is a multiple of 8 (KV replicated), 3 divides neither.
    np.testing.assert_array_equal(
        valid_split(LLAMA_70B, tp, 1, 1), [True, True, True, True, False, True]
    )
    assert not valid_split(LLAMA_70B, 1, 81, 1)  # more stages than 80 layers
    assert valid_split(MIXTRAL, 2, 1, 8) and not valid_split(MIXTRAL, 2, 1, 3)
    assert not valid_split(LLAMA_70B, 1, 1, 2)  # EP needs routed experts


def test_weight_bytes_per_device_dense_split_by_tp_and_pp():
    total = 70_553_706_496  # derived Llama-3.1-70B parameters
    assert weight_bytes_per_device(LLAMA_70B, Precision.BF16, 4, 2, 1) == pytest.approx(
        total * 2 / 8
    )
    # at fp8 the embedding and the lm_head (128,256 x 8,192 each) stay bf16: one byte more each
    tables = 2 * 128_256 * 8_192
    assert weight_bytes_per_device(LLAMA_70B, Precision.FP8, 4, 2, 1) == pytest.approx(
        (total + tables) / 8
    )


def test_meta_fp8_405b_keeps_attention_and_its_outer_ffns_in_bf16():
    """Meta's FP8 Llama 3.1 405B (Llama 3 paper section 6.2): every attention block, the first
    and last FFNs, the embedding and the lm_head stay bf16; the other 124 FFNs are fp8."""
    attention = 2 * 16_384 * 16_384 + 2 * 16_384 * 1_024  # q and o, k and v, one layer
    ffn = 3 * 16_384 * 53_248
    tables = 2 * 128_256 * 16_384
    norms = 126 * 2 * 16_384 + 16_384
    total = 126 * (attention + ffn) + tables + norms
    assert total == 405_853_388_800  # the catalog's derived count for the plain 405B
    bf16 = 126 * attention + 2 * ffn + tables
    meta = CATALOG.models["llama-3.1-405b-fp8-meta"]
    assert weight_bytes_per_device(meta, Precision.FP8, 8, 1, 1) == pytest.approx(
        (total - bf16 + 2 * bf16) / 8
    )  # 487 GB in all, where a checkpoint with every block in fp8 holds 410
    plain = CATALOG.models["llama-3.1-405b"]
    assert weight_bytes_per_device(plain, Precision.FP8, 8, 1, 1) == pytest.approx(
        (total + tables) / 8
    )
    # at bf16 the two checkpoints are the same weights
    assert weight_bytes_per_device(meta, Precision.BF16, 8, 1, 1) == pytest.approx(total / 4)


def test_weight_bytes_per_device_experts_split_by_ep():
    expert = 3 * 4096 * 14336
    routed = 32 * 8 * expert
    shared = 46_702_792_704 - routed
    got = weight_bytes_per_device(MIXTRAL, Precision.BF16, 2, 1, 8)
    assert got == pytest.approx((shared / 2 + routed / 8) * 2)
    # Without EP the experts are tensor-parallel like everything else.
    assert weight_bytes_per_device(MIXTRAL, Precision.BF16, 2, 1, 1) == pytest.approx(
        46_702_792_704
    )


def test_kv_shards_replicate_beyond_kv_heads_and_for_mla():
    np.testing.assert_array_equal(kv_shards(LLAMA_70B, np.array([1, 8, 16])), [1, 8, 8])
    np.testing.assert_array_equal(kv_shards(DEEPSEEK, np.array([1, 8])), [1, 1])


def test_capacity_wall_llama_70b_fp8_on_one_h200():
    h200 = CATALOG.accelerators["h200-sxm"]
    usable = h200.memory_usable_gb * 1e9
    weights = weight_bytes_per_device(LLAMA_70B, Precision.FP8, 1, 1, 1)
    per_seq = kv_bytes_per_sequence_per_device(LLAMA_70B, Precision.FP8, 8192, 1, 1)
    assert per_seq == 163_840 * 8192
    expected = np.floor((usable - weights) / per_seq)
    assert max_batch(usable - weights, per_seq) == expected
    assert max_batch(usable - weights, per_seq, dp=2) == 2 * expected
    assert max_batch(-1.0, per_seq) == 0


def test_local_layers_cap_kv_per_sequence():
    gemma = CATALOG.models["gemma-3-27b"]
    short = kv_bytes_per_sequence_per_device(gemma, Precision.BF16, 512, 1, 1)
    long = kv_bytes_per_sequence_per_device(gemma, Precision.BF16, 100_512, 1, 1)
    global_per_token = 2 * 16 * 128 * 2 * 10
    local_full = 2 * 16 * 128 * 2 * 52 * 1024
    assert short == pytest.approx(global_per_token * 512 + local_full * 512 / 1024)
    assert long - short == pytest.approx(global_per_token * 100_000 + local_full / 2)
