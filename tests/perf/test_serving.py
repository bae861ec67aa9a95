"""Operating points (optimizer.perf.serving): SLO batch search, capacity caps, prefill queueing,
KV spill and session parking in a memory tier, KV hand-off."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optimizer.catalog.choices import TierUse
from optimizer.catalog.loader import load_catalog
from optimizer.catalog.precision import Precision
from optimizer.perf.bound import Bound
from optimizer.perf.config import TierChoice, build_config
from optimizer.perf.efficiency import SOL, Phase, table_from_entries
from optimizer.perf.phases import (
    decode_step,
    max_utilization,
    md1_wait_quantile_s,
    memory,
    mixed_step,
    prefill_step,
)
from optimizer.perf.serving import Request, ServePhase, Slo, serve
from optimizer.perf.shape import model_shape
from optimizer.perf.step import step_cost

LLAMA_70B_KV_BF16 = 327_680
CXL_BW = 36e9  # cxl-expander module, below the 64 GB/s CXL x16 link
CXL_LATENCY = 190e-9 + 0.09e-6  # module + link


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


@pytest.fixture(scope="module")
def hopper(cat):
    return table_from_entries(
        [*cat.efficiency.values(), *cat.overheads.values()], "bundled"
    ).lookup("nvidia-hopper")[0]


@pytest.fixture(scope="module")
def llama70(cat):
    return model_shape(cat.models["llama-3.1-70b"])


@pytest.fixture(scope="module")
def h200_tp4(cat, hopper):
    return build_config(cat, cat.accelerators["h200-sxm"], tp=4, efficiency=hopper)[0]


REQ = Request(input_tokens=2000, output_tokens=500)


def test_bound_labels_and_codes():
    """JSON names stay as saved solutions spell them; -1 (no load) has no wall."""
    labels = ["compute", "bandwidth", "interconnect", "capacity", "slo"]
    assert [b.label for b in Bound] == labels
    assert [Bound.from_label(x) for x in labels] == list(Bound)
    assert [Bound.from_code(np.int64(i)) for i in range(5)] == list(Bound)
    assert Bound.from_code(-1) is None
    assert Bound.SLO.meaning.startswith("SLO:") and Bound.CAPACITY.meaning.startswith("capacity:")


# ---------------------------------------------------------------- 10. decode SLO


def count_p99(mean: float, size: float) -> int:
    """The smallest k with P(N ≤ k) ≥ 0.99 for the negative-binomial count of ``mean`` and
    ``size`` (variance mean + mean²/size), summed term by term: P(0) = (1 − ρ)^size,
    P(k + 1) = P(k) · ρ · (k + size) / (k + 1), ρ = mean / (mean + size). The SLO's load puts
    P(N ≤ k) on 0.99 itself, so the sum gets a rounding slack of 1e-9."""
    rho = mean / (mean + size)
    k, term = 0, (1.0 - rho) ** size
    cdf = term
    while cdf < 0.99 - 1e-9:
        term *= rho * (k + size) / (k + 1)
        k += 1
        cdf += term
    return k


@pytest.mark.parametrize("tpot_ms", [26.5, 30.0, 40.0, 60.0, 100.0])
def test_decode_slo_batch_is_the_largest_whose_p99_meets_tpot(llama70, h200_tp4, tpot_ms):
    """Sequences in decode form a birth–death chain whose count is negative binomial with mean
    B and size r = t(1)/β, β the chord slope of the step time up to the cap (docs/model.md §8);
    a token is generated with itself plus those others, so p99 TPOT is the step at
    1 + count_p99(B), the mean at 1 + B."""
    x = tpot_ms * 1e-3
    point = serve(llama70, h200_tp4, REQ, phase=ServePhase.DECODE, slo=Slo(tpot_s=x))
    b = float(point.batch)
    mem = memory(llama70, h200_tp4, REQ.mean_context)
    upper = min(float(mem.max_batch), 2048)
    assert 0 < b <= upper

    def step(batch):
        return float(decode_step(llama70, h200_tp4, min(batch, upper), 2250).time_s)

    size = step(1) / ((step(upper) - step(1)) / (upper - 1))
    if step(upper) > x:  # the target binds before the cap does
        assert b < upper
        assert step(1 + count_p99(b * 1.05, size)) > x  # a little more load misses the target
        assert int(point.bound) == Bound.SLO
    else:  # a full cap meets the target: capacity-bound (below the cap by §8's admission margin)
        assert int(point.bound) == Bound.CAPACITY
    assert float(point.tpot_p99_s) == pytest.approx(step(1 + count_p99(b, size)), rel=1e-12)
    assert float(point.tpot_p99_s) <= x
    mean = step(1 + b)
    assert float(point.tpot_s) == pytest.approx(mean, rel=1e-12)
    # Little's law: B sequences in decode, each O = 500 tokens at the mean TPOT
    assert float(point.requests_per_s) == pytest.approx(b / (500 * mean), rel=1e-12)
    assert float(point.output_tokens_per_s) == pytest.approx(b / mean, rel=1e-12)
    assert float(point.ttft_s) == pytest.approx(
        float(prefill_step(llama70, h200_tp4, 1, 2000, 0, pipelined=False).time_s), rel=1e-12
    )
    assert float(point.utilization) == pytest.approx((b / mean) / (upper / step(upper)), rel=1e-9)


def test_decode_slo_capped_by_capacity(llama70, h200_tp4):
    """A TPOT target the cap meets still leaves the load where a p99 arrival finds a free slot:
    the count of others at p99 is at most U − 1, as below the cap (no admission queue, and no
    jump to a saturated U where the cap starts to bind)."""
    point = serve(llama70, h200_tp4, REQ, phase=ServePhase.DECODE, slo=Slo(tpot_s=10.0))
    mem = memory(llama70, h200_tp4, 2250)
    upper = float(mem.max_batch)
    assert 0 < upper < 2048
    b = float(point.batch)

    def step(batch):
        return float(decode_step(llama70, h200_tp4, min(batch, upper), 2250).time_s)

    size = step(1) / ((step(upper) - step(1)) / (upper - 1))
    assert count_p99(b, size) <= upper - 1
    assert count_p99(b * 1.01, size) > upper - 1  # a little more load queues at p99
    assert 0.75 * upper < b < upper
    assert int(point.bound) == Bound.CAPACITY
    assert float(point.at_cap_share) <= 0.01  # arrivals that find it full and wait


def test_decode_impossible_slo_gives_batch_zero(llama70, h200_tp4):
    point = serve(llama70, h200_tp4, REQ, phase=ServePhase.DECODE, slo=Slo(tpot_s=1e-3))
    assert float(point.batch) == 0
    assert float(point.output_tokens_per_s) == 0 and float(point.requests_per_s) == 0
    assert int(point.bound) == Bound.SLO


def test_decode_without_slo_runs_at_the_capacity_wall(cat, llama70, h200_tp4):
    point = serve(llama70, h200_tp4, REQ, phase=ServePhase.DECODE)
    assert float(point.batch) == float(memory(llama70, h200_tp4, 2250).max_batch)
    assert int(point.bound) == Bound.CAPACITY
    # a small model hits the engine's batch limit first (2048), not capacity
    s8 = model_shape(cat.models["llama-3.1-8b"])
    short = Request(100, 10)
    point = serve(s8, h200_tp4, short, phase=ServePhase.DECODE)
    assert float(memory(s8, h200_tp4, 105).max_batch) > 2048
    assert float(point.batch) == 2048
    assert int(point.bound) != Bound.CAPACITY
    assert float(serve(s8, h200_tp4, short, phase=ServePhase.DECODE, max_batch=64).batch) == 64


def test_given_batch_beyond_capacity_cannot_serve(llama70, h200_tp4):
    wall = float(memory(llama70, h200_tp4, 2250).max_batch)
    ok = serve(llama70, h200_tp4, REQ, phase=ServePhase.DECODE, batch=wall)
    assert float(ok.batch) == wall
    over = serve(llama70, h200_tp4, REQ, phase=ServePhase.DECODE, batch=wall + 1)
    assert float(over.batch) == 0 and float(over.output_tokens_per_s) == 0


# ---------------------------------------------------------------- aggregated


def test_aggregated_token_budget_and_ttft_slo(llama70, h200_tp4):
    req = Request(input_tokens=4000, output_tokens=200)
    # the step carries B·(1 + 4000/200) = 21·B tokens ≤ 8192 → B ≤ 390
    point = serve(llama70, h200_tp4, req, phase=ServePhase.AGGREGATED)
    cap = float(memory(llama70, h200_tp4, req.mean_context).max_batch)
    assert float(point.batch) == min(cap, math.floor(8192 / 21))
    b = float(point.batch)
    step = mixed_step(llama70, h200_tp4, b, 4000, 0, 200)
    assert float(point.tpot_s) == pytest.approx(float(step.time_s), rel=1e-12)
    # TTFT: wait half an average step, then the prompt's own step: the 8192 − B tokens the
    # decode batch leaves hold all 4000 of its tokens, and the other B − 1 sequences' prompts
    # ((B − 1) · 4000 / 200 tokens a step on average) fill the rest (B = 298, the memory wall:
    # 7894 − 4000 = 3894 of their 5940)
    assert b == 298
    others = min((b - 1) * 4000 / 200, 8192 - b - 4000)
    own = step_cost(llama70, h200_tp4, decode_batch=b, decode_context=4100,
                    prefill_tokens=4000 + others, prefill_span=2000,
                    prefill_requests=1 + others / 4000, phase=Phase.DECODE)  # fmt: skip
    assert float(point.ttft_s) == pytest.approx(
        0.5 * float(step.time_s) + float(own.time_s), rel=1e-12
    )
    # the prompt alone on all devices at peak bounds it from below (the speed of light)
    assert float(point.ttft_s) > float(own.compute_s)

    # the prompt alone needs 2 × 70.6e9 × 4000 = 5.6e14 FLOP over 4 × 989 TFLOP/s ≥ 143 ms
    assert float(serve(llama70, h200_tp4, req, phase=ServePhase.AGGREGATED,
                       slo=Slo(ttft_s=0.14)).batch) == 0  # fmt: skip
    ttft = 0.6
    slo_point = serve(llama70, h200_tp4, req, phase=ServePhase.AGGREGATED, slo=Slo(ttft_s=ttft))
    assert float(slo_point.batch) >= 1
    assert float(slo_point.ttft_q_s) <= ttft * (1 + 1e-12)
    assert float(slo_point.ttft_s) <= float(slo_point.ttft_q_s)


# ---------------------------------------------------------------- prefill instance


def test_prefill_instance_at_ttft_target(llama70, h200_tp4):
    req = Request(input_tokens=3000, output_tokens=100)
    point = serve(llama70, h200_tp4, req, phase=ServePhase.PREFILL, slo=Slo(ttft_s=2.0))

    def rate(per_step):  # the M/D/1 utilization at which p99 TTFT reaches 2 s, in requests/s
        service = float(prefill_step(llama70, h200_tp4, per_step, 3000, 0, pipelined=True).time_s)
        return float(max_utilization(service, 2.0, 0.99)) * per_step / service, service

    # the budget holds ⌊8192 / 3000⌋ = 2 prompts a step: the better of 1 and 2 is chosen
    per_step = max((1, 2), key=lambda b: rate(b)[0])
    assert float(point.batch) == per_step
    req_s, service = rate(per_step)
    rho = float(max_utilization(service, 2.0, 0.99))
    # utilization: against the most the instance sustains, two prompts a step back to back
    full = float(prefill_step(llama70, h200_tp4, 2, 3000, 0, pipelined=True).time_s)
    assert float(point.utilization) == pytest.approx(req_s / (2 / full), rel=1e-9)
    wait = float(md1_wait_quantile_s(rho, service, 0.99))
    assert float(point.ttft_q_s) == pytest.approx(service + wait, rel=1e-12)
    assert float(point.ttft_q_s) == pytest.approx(2.0, rel=1e-6)
    mean_wait = rho * service / (2 * (1 - rho))  # Pollaczek–Khinchine for M/D/1
    assert float(point.ttft_s) == pytest.approx(service + mean_wait, rel=1e-12)
    assert float(point.requests_per_s) == pytest.approx(req_s, rel=1e-12)
    assert np.isnan(point.tpot_s)
    assert int(point.bound) == Bound.SLO


def test_prefill_instance_impossible_ttft(llama70, h200_tp4):
    req = Request(input_tokens=3000, output_tokens=100)
    point = serve(llama70, h200_tp4, req, phase=ServePhase.PREFILL, slo=Slo(ttft_s=1e-3))
    assert float(point.utilization) == 0 and float(point.requests_per_s) == 0


# ---------------------------------------------------------------- 8. tiers


def test_kv_spill_into_cxl(cat, llama70):
    h200 = cat.accelerators["h200-sxm"]
    tier = TierChoice(cat.memory["cxl-expander"], 512)
    c, _ = build_config(cat, h200, tp=2, weights=Precision.FP8, efficiency=SOL, tier=tier)
    req = Request(input_tokens=3000, output_tokens=2000)  # mean context 4000
    weights = 70_553_706_496 + 2 * 128_256 * 8_192  # fp8, the embedding and lm_head in bf16
    hbm_wall = 303  # (0.9·150.76e9 − 72.66e9/2) / (163,840·4000/2), see test_phases
    point = serve(llama70, c, req, phase=ServePhase.DECODE, tier_use=TierUse.SPILL)
    kv_per_seq_instance = LLAMA_70B_KV_BF16 / 2 * 4000  # fp8, the whole sequence
    spill_wall = math.floor((0.9 * 150.76e9 - weights / 2 + 512e9 / 2) / (
        kv_per_seq_instance / 2))  # fmt: skip
    assert float(point.memory.max_batch_hbm) == hbm_wall
    assert float(point.memory.max_batch) == spill_wall == 1084
    assert float(point.batch) == spill_wall
    frac = 1 - hbm_wall / spill_wall
    assert float(point.spill_frac) == pytest.approx(frac, rel=1e-12)
    spilled = spill_wall * kv_per_seq_instance * frac
    assert float(point.step.tier_bytes) == pytest.approx(spilled, rel=1e-12)
    assert float(point.step.tier_s) == pytest.approx(spilled / (2 * CXL_BW), rel=1e-12)
    # the tier stream (≈ 6.5 s per step) dwarfs HBM: the bandwidth wall binds
    assert float(point.step.tier_s) > float(point.step.memory_s)
    assert int(point.bound) in (Bound.BANDWIDTH, Bound.CAPACITY)

    # a batch that fits in HBM spills nothing
    small = serve(llama70, c, req, phase=ServePhase.DECODE, batch=100, tier_use=TierUse.SPILL)
    assert float(small.spill_frac) == 0 and float(small.step.tier_s) == 0


def test_session_parking_reload(cat, llama70):
    h200 = cat.accelerators["h200-sxm"]
    tier = TierChoice(cat.memory["cxl-expander"], 512)
    c, _ = build_config(cat, h200, tp=4, efficiency=SOL, tier=tier)
    req = Request(input_tokens=20_000, output_tokens=300, prefix_tokens=18_000)
    point = serve(llama70, c, req, phase=ServePhase.DECODE, tier_use=TierUse.PARK)
    # 512 GB fill two 256 GB modules: the instance streams at 2 × 36 GB/s, below its 4 links
    reload = 18_000 * LLAMA_70B_KV_BF16 / (2 * CXL_BW) + CXL_LATENCY
    assert float(point.park_reload_s) == pytest.approx(reload, rel=1e-12)
    prefill = float(prefill_step(llama70, c, 1, 2000, 18_000, pipelined=False).time_s)
    assert float(point.ttft_s) == pytest.approx(prefill + reload, rel=1e-12)
    # parking does not enlarge device capacity
    assert float(point.memory.max_batch) == float(point.memory.max_batch_hbm)
    plain = serve(llama70, c, req, phase=ServePhase.DECODE)
    assert float(plain.park_reload_s) == 0
    assert float(plain.ttft_s) == pytest.approx(prefill, rel=1e-12)


def test_kv_transfer_time(cat, llama70):
    c, _ = build_config(cat, cat.accelerators["h100-sxm"], tp=8, efficiency=SOL)
    point = serve(llama70, c, REQ, phase=ServePhase.DECODE)
    # 2000 tokens of bf16 KV over 8 NICs of 50 GB/s each, + IB NDR latency 5 µs
    expected = 2000 * LLAMA_70B_KV_BF16 / (8 * 50e9) + 5e-6
    assert float(point.kv_transfer_s) == pytest.approx(expected, rel=1e-12)


def test_energy_per_output_token(llama70, h200_tp4):
    point = serve(llama70, h200_tp4, REQ, phase=ServePhase.DECODE, batch=64)
    expected = float(point.step.energy_j) / 64  # one step makes 64 tokens
    assert float(point.energy_j_per_output_token) == pytest.approx(expected, rel=1e-12)


def test_serve_is_vectorized_over_configs(cat, llama70, hopper):
    from optimizer.perf.config import stack_configs

    h200 = cat.accelerators["h200-sxm"]
    configs = [build_config(cat, h200, tp=tp, efficiency=hopper)[0] for tp in (2, 4, 8)]
    grid = stack_configs(configs)
    slo = Slo(tpot_s=0.04)
    together = serve(llama70, grid, REQ, phase=ServePhase.DECODE, slo=slo)
    for i, c in enumerate(configs):
        alone = serve(llama70, c, REQ, phase=ServePhase.DECODE, slo=slo)
        assert together.batch[i] == float(alone.batch)
        assert together.tpot_s[i] == pytest.approx(float(alone.tpot_s), rel=1e-12)


def test_a_parked_sessions_reload_counts_against_the_ttft_target(cat):
    """The rate search meets the target with the reload inside it: a prefill instance that
    reloads a parked session's prefix from DDR5 reports TTFT p99 at (not above) 1,500 ms."""
    from optimizer.catalog.choices import TierUse
    from optimizer.catalog.precision import Precision
    from optimizer.perf.config import TierChoice
    from optimizer.perf.serving import Slo

    c, _ = build_config(cat, cat.accelerators["mi300x"], weights=Precision.FP8,
                        efficiency=SOL, tier=TierChoice(cat.memory["ddr5"], 64))  # fmt: skip
    s = model_shape(cat.models["llama-3.3-70b"])
    req = Request(8000.0, 300.0, 7000.0)
    point = serve(s, c, req, phase=ServePhase.PREFILL, slo=Slo.from_ms(1500.0, None, 99.0),
                  tier_use=TierUse.PARK)  # fmt: skip
    assert float(point.park_reload_s) > 0.01
    assert float(point.requests_per_s) > 0
    assert float(point.ttft_p99_s) <= 1.5 * (1 + 1e-6)
