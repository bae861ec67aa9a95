"""A cached prefix needs somewhere to live between turns (optimizer.perf.prefix, serve's
``idle_s``; docs/model.md §6): without a tier, the idle sessions' KV must fit in the HBM the
running batch leaves, and what does not fit is prefilled again."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.catalog.choices import TierUse
from optimizer.catalog.loader import load_catalog
from optimizer.perf.config import TierChoice, build_config
from optimizer.perf.efficiency import table_from_entries
from optimizer.perf.phases import memory
from optimizer.perf.prefix import prefix_hit_share
from optimizer.perf.serving import Request, ServePhase, serve
from optimizer.perf.shape import model_shape

# Llama-3.1-70B (80 layers, d 8192, 64 heads, 8 KV heads of 128, FFN 28672 gated, vocab 128256,
# untied) in bf16 on H200-SXM (memory_usable_gb 150.76), TP 4:
#   attention per layer 8192·8192 + 2·8192·1024 + 8192·8192 = 150,994,944
#   FFN per layer 3·8192·28672 = 704,643,072; norms 2·8192 = 16,384
#   80 layers 68,452,352,000 + final norm 8,192 + embeddings 2·128256·8192 = 2,101,346,304
#   = 70,553,706,496 parameters → 2 B / 4 ranks = 35,276,853,248 B per device
WEIGHTS_PER_DEVICE = 70_553_706_496 * 2 / 4
KV_FREE_PER_DEVICE = 150.76e9 * 0.9 - WEIGHTS_PER_DEVICE  # 100,407,146,752 B
KV_PER_TOKEN_PER_DEVICE = 2 * 8 * 128 * 2 * 80 / 4  # 327,680 B over 4 KV-head shards = 81,920
REQ = Request(input_tokens=20_000, output_tokens=500, prefix_tokens=18_000)
RUNNING_KV = (20_000 + 500 / 2) * KV_PER_TOKEN_PER_DEVICE  # input + output/2: 1,658,880,000 B
HISTORY_KV = (20_000 + 500) * KV_PER_TOKEN_PER_DEVICE  # input + output: 1,679,360,000 B
BATCH, RATE = 2, 0.5


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


@pytest.fixture(scope="module")
def llama70(cat):
    return model_shape(cat.models["llama-3.1-70b"])


@pytest.fixture(scope="module")
def hopper(cat):
    return table_from_entries(
        [*cat.efficiency.values(), *cat.overheads.values()], "bundled"
    ).lookup("nvidia-hopper")[0]


@pytest.fixture(scope="module")
def h200_tp4(cat, hopper):
    return build_config(cat, cat.accelerators["h200-sxm"], tp=4, efficiency=hopper)[0]


def _prefill(s, c, request=REQ, idle_s=None, **kw):
    return serve(s, c, request, phase=ServePhase.PREFILL, batch=BATCH, requests_per_s=RATE,
                 idle_s=idle_s, **kw)  # fmt: skip


def test_memory_figures_match_the_hand_arithmetic(llama70, h200_tp4):
    mem = memory(llama70, h200_tp4, REQ.mean_context)
    assert float(mem.weights_per_device) == pytest.approx(WEIGHTS_PER_DEVICE, rel=1e-9)
    assert float(mem.kv_free_per_device) == pytest.approx(KV_FREE_PER_DEVICE, rel=1e-9)
    assert float(mem.kv_per_sequence_per_device) == pytest.approx(RUNNING_KV, rel=1e-9)


def test_idle_sessions_that_fit_keep_every_hit(llama70, h200_tp4):
    """0.5 requests/s × 20 s = 10 sessions × 1.67936 GB = 16.8 GB per device, under the
    100.41 − 2 × 1.65888 = 97.09 GB the batch of 2 leaves: h = 1, TTFT as without the limit."""
    assert RATE * 20 * HISTORY_KV < KV_FREE_PER_DEVICE - BATCH * RUNNING_KV
    kept = _prefill(llama70, h200_tp4, idle_s=20.0)
    before = _prefill(llama70, h200_tp4)
    assert float(kept.prefix_hit_share) == 1.0
    assert float(kept.ttft_s) == float(before.ttft_s)
    assert float(kept.requests_per_s) == RATE


def test_idle_sessions_that_do_not_fit_lose_hits_by_hand(llama70, h200_tp4):
    """0.5 requests/s × 200 s = 100 sessions × 1,679,360,000 B = 167,936,000,000 B per device
    against 100,407,146,752 − 2 × 1,658,880,000 = 97,089,386,752 B of room:
    h = 97,089,386,752 / 167,936,000,000 = 0.57814."""
    room = KV_FREE_PER_DEVICE - BATCH * RUNNING_KV
    needed = RATE * 200.0 * HISTORY_KV
    assert room == pytest.approx(97_089_386_752, rel=1e-12)
    assert needed == pytest.approx(167_936_000_000, rel=1e-12)
    share = float(_prefill(llama70, h200_tp4, idle_s=200.0).prefix_hit_share)
    assert share == pytest.approx(room / needed, rel=1e-9)
    assert share == pytest.approx(0.57814, abs=1e-5)


def test_lost_hits_are_prefilled_again(llama70, h200_tp4):
    """The re-rating prefills ``input − h · prefix`` tokens: TTFT rises, and equals serving the
    request with only the kept prefix cached."""
    lost = _prefill(llama70, h200_tp4, idle_s=200.0)
    full = _prefill(llama70, h200_tp4)
    share = float(lost.prefix_hit_share)
    by_hand = _prefill(llama70, h200_tp4, Request(20_000, 500, 18_000 * share))
    assert float(lost.ttft_s) > 1.5 * float(full.ttft_s)
    assert float(lost.ttft_s) == pytest.approx(float(by_hand.ttft_s), rel=1e-12)
    assert float(lost.requests_per_s) == RATE  # still sustained, at a higher utilization
    assert float(lost.utilization) > float(full.utilization)


def test_attention_data_parallel_ranks_hold_their_own_sessions(cat, llama70, hopper):
    """TP 4 × DP 2: each rank holds half the running batch and half the idle sessions, so the
    per-device room is 100.41e9 − 1 × 1.65888e9 and the need 100 × 1.67936e9 / 2."""
    c = build_config(cat, cat.accelerators["h200-sxm"], tp=4, dp=2, efficiency=hopper)[0]
    share = float(_prefill(llama70, c, idle_s=200.0).prefix_hit_share)
    room = KV_FREE_PER_DEVICE - BATCH / 2 * RUNNING_KV
    assert share == pytest.approx(min(room / (RATE * 200.0 * HISTORY_KV / 2), 1.0), rel=1e-9)
    assert share == 1.0  # 98.75 GB of room against 83.97 GB


def test_decode_and_parking_instances_are_unaffected(cat, llama70, h200_tp4, hopper):
    """A decode instance never prefills; a parking instance keeps the history in its tier."""
    decode = serve(llama70, h200_tp4, REQ, phase=ServePhase.DECODE, batch=8, idle_s=1e4)
    assert float(decode.prefix_hit_share) == 1.0
    assert float(decode.ttft_s) == float(
        serve(llama70, h200_tp4, REQ, phase=ServePhase.DECODE, batch=8).ttft_s
    )
    tier = TierChoice(cat.memory["cxl-expander"], 512.0)
    c = build_config(cat, cat.accelerators["h200-sxm"], tp=4, efficiency=hopper, tier=tier)[0]
    parked = _prefill(llama70, c, idle_s=1e4, tier_use=TierUse.PARK)
    assert float(parked.prefix_hit_share) == 1.0
    assert float(parked.ttft_s) == float(_prefill(llama70, c, tier_use=TierUse.PARK).ttft_s)


def test_a_spill_tier_adds_its_room(cat, llama70, hopper):
    """An aggregated instance with 512 GB of spill tier over 4 devices has 128e9 B more room
    per device for idle sessions: 97.09e9 + 128e9 against 100 × 1.67936e9 B keeps every hit."""
    tier = TierChoice(cat.memory["cxl-expander"], 512.0)
    c = build_config(cat, cat.accelerators["h200-sxm"], tp=4, efficiency=hopper, tier=tier)[0]
    mem = memory(llama70, c, REQ.mean_context, spill=True)
    without = prefix_hit_share(llama70, c, REQ, mem, BATCH, RATE, 200.0)
    with_tier = prefix_hit_share(llama70, c, REQ, mem, BATCH, RATE, 200.0, spill=True)
    assert float(without) == pytest.approx(0.57814, abs=1e-5)
    assert float(with_tier) == 1.0
    # 4.5 requests/s: 450 sessions × 1.67936e9 = 755.7e9 B against 97.09e9 + 128e9 → 0.2978
    part = prefix_hit_share(llama70, c, REQ, mem, BATCH, 4.5, 100.0, spill=True)
    room = KV_FREE_PER_DEVICE - BATCH * RUNNING_KV + 512e9 / 4
    assert float(part) == pytest.approx(room / (4.5 * 100.0 * HISTORY_KV), rel=1e-9)
    assert float(part) == pytest.approx(0.29786, abs=1e-5)


def test_share_is_vectorized_over_configurations(llama70, h200_tp4):
    """Rates over configurations give a share per configuration; nothing cached keeps h = 1."""
    mem = memory(llama70, h200_tp4, REQ.mean_context)
    rates = np.array([0.1, 1.0, 10.0])
    share = prefix_hit_share(llama70, h200_tp4, REQ, mem, BATCH, rates, 100.0)
    room = KV_FREE_PER_DEVICE - BATCH * RUNNING_KV
    expected = np.minimum(room / (rates * 100.0 * HISTORY_KV), 1.0)
    np.testing.assert_allclose(share, expected, rtol=1e-9)
    uncached = Request(20_000, 500, 0.0)
    assert np.all(prefix_hit_share(llama70, h200_tp4, uncached, mem, BATCH, rates, 100.0) == 1)


def test_long_context_coding_values_a_tier():
    """``coding-agent-long`` parks ~74 sessions of ~154k tokens (2 requests/s × 37 s): without
    a tier their prefixes do not fit in free HBM and are prefilled again, so the no-tier
    baseline costs far more than the optimum with tiers (before this model, 12.80 against
    9.73 $/h; with it 30.6 against 9.73; since cards sold alone pay their generic host's power
    and fitted board power, 10.33 $/h; with instances loaded to at most 80 % of their rated
    capacity, 13.71 $/h; bought in whole servers, 14.66 $/h; with every card's price including
    its server's share and prices for MI300X and MI355X, 10.02 $/h; with serving-engine
    profiles, vLLM on AMD parts and kernel launches overlapped with the device, 9.97 $/h; since
    vLLM's overheads are the pooled engine's, not a 120 µs host time per sequence learned from
    AMD rows that cannot tell it from AMD's kernels, 7.89 $/h; since a parked session, too,
    prefills again the share of its history the workload's deployments missed, 3.4 % of it,
    10.06 $/h against 37.7 without a tier; with the TensorRT-LLM tables' MoE rows read as
    attention-data-parallel and MI355X on CDNA 3's factors, 10.31 $/h against 26.25; under the
    smooth overlap of docs/model.md §4, 10.44 against 22.77; since vLLM's own overheads, fitted
    on ML.ENERGY's runs, and the refit with them, which raised AMD CDNA 3's decode compute factor
    from 0.24 to 0.32, 12.46 against 14.63: two MI355X servers parking sessions in DDR5 against
    MI300X and Gaudi 2 instances without a tier)."""
    from optimizer.api import solve

    solution = solve("problems/long-context-coding.toml")
    no_tiers = {b.name: b for b in solution.baselines}["no-memory-tiers"]
    assert solution.objective == pytest.approx(12.46, rel=0.02)
    assert no_tiers.objective > 1.15 * solution.objective
