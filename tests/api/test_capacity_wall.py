"""The decode rating across the capacity wall (issue 10): the load an instance is rated at
keeps falling as longer contexts leave room for fewer sequences, also where the cap, not the
TPOT target, starts to bind."""

from __future__ import annotations

from optimizer.api import EstimateRequest, estimate
from optimizer.api.context import open_context


def test_decode_rating_falls_as_the_capacity_wall_closes_in():
    """Llama-3.1-70B fp8 on eight H200s, 500 output tokens, p99 TPOT ≤ 50 ms (the paper's
    capacity-wall study): the rating rated a saturated cap once the cap met the target, 7.5
    sequences at 256k tokens against 12 at 512k. More KV per sequence can only lower the load
    that keeps to the target."""
    ctx = open_context()
    contexts = [16_000, 32_000, 64_000, 128_000, 256_000, 384_000, 512_000, 768_000]
    results = [
        estimate(
            EstimateRequest(
                model="llama-3.1-70b",
                accelerator="h200-sxm",
                tp=8,
                precision="fp8",
                kv_precision="fp8",
                phase="decode",
                input_tokens=n,
                output_tokens=500,
                tpot_slo_ms=50,
            ),
            context=ctx,
        )  # fmt: skip
        for n in contexts
    ]
    assert all(r.success for r in results)
    bounds = [r.bound for r in results]
    assert "slo" in bounds and "capacity" in bounds  # the contexts cross the wall
    for shorter, longer in zip(results, results[1:], strict=False):
        assert longer.batch <= shorter.batch
        assert longer.requests_per_s <= shorter.requests_per_s
        assert longer.batch <= longer.capacity_max_batch
