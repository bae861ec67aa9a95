"""Serving-engine profiles in the step model (docs/model.md §4): all-reduce algorithms with the
fastest chosen, CUDA-graph overheads for small decode steps, the engine's memory share and
scheduler limits, and engine overheads looked up beside the hardware factors. Every expected
value is hand arithmetic written out here."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.catalog.engine_spec import Collective
from optimizer.catalog.loader import load_catalog, load_efficiency_file
from optimizer.perf.config import GENERIC_ENGINE, EngineProfile, build_config
from optimizer.perf.efficiency import (
    ENGINE_SET,
    SOL,
    Efficiency,
    EfficiencyTable,
    Phase,
    PhaseEfficiency,
    table_from_entries,
)
from optimizer.perf.phases import decode_step, memory, mixed_step, prefill_step
from optimizer.perf.shape import model_shape
from optimizer.perf.step import all_reduce_s

NVLINK4_BW = 450e9  # bytes/s per direction (test_step checks it against the catalog)
NVLINK4_LAT = 10e-6  # s per hop
HIDDEN_70B = 8192
LAYERS_70B = 80


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


def _eff(**decode) -> Efficiency:
    return Efficiency(PhaseEfficiency(), PhaseEfficiency(**decode), "test")


def _config(cat, tp=8, collectives=(Collective.RING,), graph_max_batch=0, **decode):
    engine = EngineProfile(graph_max_batch=graph_max_batch, collectives=tuple(collectives))
    c, _ = build_config(cat, cat.accelerators["h100-sxm"], tp=tp, efficiency=_eff(**decode),
                        engine=engine)  # fmt: skip
    return c


ALL = (Collective.ONE_SHOT, Collective.TWO_SHOT, Collective.RING)


@pytest.mark.parametrize("size", [16e3, 256e3, 64e6])
def test_all_reduce_takes_the_fastest_algorithm(cat, size):
    """n = 8 ranks, hop 10 µs, 450 GB/s: ring 2·7/8·S/bw + 14 hops, two-shot the same bytes in
    2 hops, one-shot 7·S/bw in 1 hop."""
    ring = 2 * 7 / 8 * size / NVLINK4_BW + 14 * NVLINK4_LAT
    two = 2 * 7 / 8 * size / NVLINK4_BW + 2 * NVLINK4_LAT
    one = 7 * size / NVLINK4_BW + NVLINK4_LAT
    only_ring = _config(cat)
    assert float(all_reduce_s(only_ring, size, NVLINK4_BW, NVLINK4_LAT)) == pytest.approx(ring)
    every = _config(cat, collectives=ALL)
    best = float(all_reduce_s(every, size, NVLINK4_BW, NVLINK4_LAT))
    assert best == pytest.approx(min(ring, two, one))
    # small messages are latency-bound (one-shot), large ones bandwidth-bound (two-shot)
    assert best == pytest.approx(one if size <= 256e3 else two)


def test_one_shot_cuts_a_tp8_decode_step_by_its_hops(cat):
    """Llama-2-70B TP8 batch 1: 2 all-reduces × 80 layers; at 16 KB each the ring pays 14 hops
    and one-shot 1, so the step's communication falls by 2·80·13 hops (hop at scale 1)."""
    s = model_shape(cat.models["llama-2-70b"])
    ring = decode_step(s, _config(cat, hop_latency_scale=1.0), 1, 512)
    fast = decode_step(s, _config(cat, collectives=ALL, hop_latency_scale=1.0), 1, 512)
    size = HIDDEN_70B * 2  # one token's bf16 activations
    one = 7 * size / NVLINK4_BW + NVLINK4_LAT
    assert float(fast.comm_s) == pytest.approx(2 * LAYERS_70B * one, rel=1e-9)
    saved = float(ring.comm_s) - float(fast.comm_s)
    ring_each = 2 * 7 / 8 * size / NVLINK4_BW + 14 * NVLINK4_LAT
    assert saved == pytest.approx(2 * LAYERS_70B * (ring_each - one), rel=1e-9)


def test_captured_decode_steps_launch_at_the_graph_overhead(cat):
    """Graphs up to batch 128 per rank: a decode step of 64 launches 32 layers × 8 µs, one of
    256 the eager 100 µs; a prompt step is never captured; an aggregated step that starts
    r < 1 prompts a step pays the eager cost in a share r of its steps."""
    s = model_shape(cat.models["llama-3.1-8b"])
    c = _config(cat, tp=1, graph_max_batch=128, overhead_us_per_layer=100.0,
                graph_overhead_us_per_layer=8.0)  # fmt: skip
    assert float(decode_step(s, c, 64, 1000).launch_s) == pytest.approx(32 * 8e-6)
    assert float(decode_step(s, c, 128, 1000).launch_s) == pytest.approx(32 * 8e-6)
    assert float(decode_step(s, c, 256, 1000).launch_s) == pytest.approx(32 * 100e-6)
    eager = _config(cat, tp=1, graph_max_batch=0, overhead_us_per_layer=100.0,
                    graph_overhead_us_per_layer=8.0)  # fmt: skip
    assert float(decode_step(s, eager, 1, 1000).launch_s) == pytest.approx(32 * 100e-6)
    # prefill-phase factors of the test efficiency are the roofline's: no overhead at all
    assert float(prefill_step(s, c, 1, 100, 0, pipelined=False).launch_s) == 0.0
    mixed = mixed_step(s, c, 10, 1000, 0, 200)  # 10 sequences, one prompt every 20 steps
    share = 10 / 200
    assert float(mixed.launch_s) == pytest.approx(32 * (8e-6 + (100e-6 - 8e-6) * share))


def test_engines_that_capture_by_tokens_replay_small_mixed_steps(cat):
    """vLLM V1 captures (piecewise) graphs by a step's token count, prompt chunks included
    (``graph_mixed_steps``). Limit 128, 32 layers, 10 sequences finishing one every 200
    steps: a 100-token prompt joins one step in 20, which then holds 10 + 100 = 110 tokens,
    captured, so every step launches at the graph overhead; a 1,000-token prompt makes that
    step 1,010 tokens, eager, and the step pays the eager cost in its share 10 / 200, as an
    engine that never captures a chunk does."""
    s = model_shape(cat.models["llama-3.1-8b"])
    factors = {"overhead_us_per_layer": 100.0, "graph_overhead_us_per_layer": 8.0}
    by_tokens = EngineProfile(graph_max_batch=128, graph_mixed_steps=True)
    c, _ = build_config(cat, cat.accelerators["h100-sxm"], engine=by_tokens,
                        efficiency=_eff(**factors))  # fmt: skip
    decode_only = _config(cat, tp=1, graph_max_batch=128, **factors)
    assert float(mixed_step(s, c, 10, 100, 0, 200).launch_s) == pytest.approx(32 * 8e-6)
    share = 10 / 200
    eager_share = 32 * (8e-6 + (100e-6 - 8e-6) * share)
    assert float(mixed_step(s, c, 10, 1000, 0, 200).launch_s) == pytest.approx(eager_share)
    assert float(mixed_step(s, decode_only, 10, 100, 0, 200).launch_s) == pytest.approx(
        eager_share
    )
    # pure decode is the same either way: captured up to 128 sequences, eager past them
    for b, per_layer in ((128, 8e-6), (129, 100e-6)):
        assert float(decode_step(s, c, b, 1000).launch_s) == pytest.approx(32 * per_layer)
    assert EngineProfile.of(cat.engines["vllm"]).graph_mixed_steps
    assert not EngineProfile.of(cat.engines["trtllm"]).graph_mixed_steps


def test_graph_limit_counts_sequences_per_attention_dp_rank(cat):
    """dp = 8, limit 128: 800 sequences are 100 per rank, still captured."""
    s = model_shape(cat.models["llama-3.1-8b"])
    engine = EngineProfile(graph_max_batch=128)
    c, _ = build_config(cat, cat.accelerators["h100-sxm"], dp=8, engine=engine,
                        efficiency=_eff(overhead_us_per_layer=100.0,
                                        graph_overhead_us_per_layer=8.0))  # fmt: skip
    assert float(decode_step(s, c, 800, 1000).launch_s) == pytest.approx(32 * 8e-6)
    assert float(decode_step(s, c, 1032, 1000).launch_s) == pytest.approx(32 * 100e-6)


def test_launches_hide_behind_long_steps_so_the_graph_limit_is_no_cliff(cat):
    """A step one sequence past the capture limit launches eagerly, but its kernels already
    take longer than the launches: they overlap, so the step time moves by a fraction of
    L·(eager − graph), the jump the old additive overhead made in TPOT there."""
    s = model_shape(cat.models["llama-3.1-70b"])
    c = _config(cat, tp=2, graph_max_batch=128, overhead_us_per_layer=200.0,
                graph_overhead_us_per_layer=10.0)  # fmt: skip
    at, past = (decode_step(s, c, b, 2000) for b in (128, 129))
    eager, graph = 80 * 200e-6, 80 * 10e-6
    assert float(past.launch_s) == pytest.approx(eager)
    # ~35 ms of kernels against 16 ms of launches: in quadrature they cost √(35² + 16²) − 35
    # ≈ 3.5 ms more, against the 15.2 ms of launches an additive overhead charged
    jump = float(past.time_s) - float(at.time_s)
    assert 0.0 < jump < 0.3 * (eager - graph)


def test_fast_all_reduce_only_inside_a_scale_up_domain(cat):
    """TP16 on H100 spans two NVLink domains (InfiniBand between them): only the ring."""
    c = _config(cat, tp=16, collectives=ALL)
    assert (float(c.one_shot), float(c.two_shot), float(c.ring)) == (0.0, 0.0, 1.0)
    assert float(_config(cat, tp=8, collectives=ALL).one_shot) == 1.0


def test_engine_memory_share_sets_the_kv_room(cat):
    """KV room = usable · share − weights: an engine taking 0.8 instead of 0.9 loses a tenth
    of usable memory per device."""
    s = model_shape(cat.models["llama-3.1-8b"])
    acc = cat.accelerators["h100-sxm"]
    usable = (acc.memory_usable_gb or acc.memory_capacity_gb) * 1e9
    rooms = []
    for share in (0.9, 0.8):
        c, _ = build_config(cat, acc, efficiency=SOL, engine=EngineProfile(memory_fraction=share))
        mem = memory(s, c, 1000)
        rooms.append(float(mem.kv_free_per_device))
        assert rooms[-1] == pytest.approx(usable * share - float(mem.weights_per_device))
    assert rooms[0] - rooms[1] == pytest.approx(0.1 * usable)


def test_engine_scheduler_limits_bound_the_batch(cat):
    """Offline throughput of a small model stops at the engine's max batch."""
    from optimizer.perf.serving import Request, ServePhase, serve

    s = model_shape(cat.models["llama-3.1-8b"])
    acc = cat.accelerators["h200-sxm"]
    for most in (64, 256):
        c, _ = build_config(cat, acc, efficiency=SOL, engine=EngineProfile(max_batch=most))
        point = serve(s, c, Request(100.0, 100.0), phase=ServePhase.DECODE)
        assert float(point.batch) == most


def test_reserved_output_sets_what_a_sequence_holds_against_the_wall(cat):
    """Llama-3.1-8B's KV is 2 · 32 layers · 8 heads · 128 dims = 65,536 elements per token,
    131,072 bytes in bf16. A 128-token prompt with 2,048 new tokens holds 128 + 1,024 = 1,152
    tokens on average (r = 0: blocks as tokens come) but all 2,176 when the scheduler reserves
    its whole output on admission (r = 1: TensorRT-LLM's guaranteed-no-evict); half of the
    output reserved holds 128 + 2,048 · 1.5 / 2 = 1,664. The wall is ⌊free / per sequence⌋."""
    from optimizer.perf.serving import Request, ServePhase, admitted_context, serve

    s = model_shape(cat.models["llama-3.1-8b"])
    acc = cat.accelerators["h200-sxm"]
    request = Request(128.0, 2048.0)
    for share, tokens in ((0.0, 1152), (0.5, 1664), (1.0, 2176)):
        engine = EngineProfile(max_batch=100_000, kv_reserved_output_share=share)
        c, _ = build_config(cat, acc, efficiency=SOL, engine=engine)
        assert float(admitted_context(request, c)) == tokens
        point = serve(s, c, request, phase=ServePhase.DECODE)
        free = float(point.memory.kv_free_per_device)
        assert float(point.memory.max_batch) == np.floor(free / (tokens * 131_072))
    trtllm, vllm = (EngineProfile.of(cat.engines[e]) for e in ("trtllm", "vllm"))
    assert (trtllm.kv_reserved_output_share, vllm.kv_reserved_output_share) == (1.0, 0.0)


def test_bundled_engines_are_profiles(cat):
    assert {"trtllm", "vllm", "sglang", "research"} <= set(cat.engines)
    for engine in cat.engines.values():
        profile = EngineProfile.of(engine)
        assert 0 < profile.memory_fraction <= 1 and profile.max_batch >= 1
    # the research stack runs eagerly on NCCL's ring; production engines capture graphs
    assert EngineProfile.of(cat.engines["research"]).collectives == (Collective.RING,)
    assert EngineProfile.of(cat.engines["research"]).graph_max_batch == 0
    assert EngineProfile.of(cat.engines["vllm"]).graph_max_batch > 0
    assert GENERIC_ENGINE.collectives == (Collective.RING,)


def test_lookup_combines_family_hardware_with_engine_overheads():
    fam = Efficiency(
        PhaseEfficiency(compute=0.6, memory=0.5, overhead_us_per_layer=ENGINE_SET,
                        graph_overhead_us_per_layer=ENGINE_SET, hop_latency_scale=ENGINE_SET,
                        overhead_us_per_sequence=ENGINE_SET, link=ENGINE_SET),
        PhaseEfficiency(compute=0.4, memory=0.8, overhead_us_per_layer=ENGINE_SET,
                        graph_overhead_us_per_layer=ENGINE_SET, hop_latency_scale=0.5,
                        overhead_us_per_sequence=ENGINE_SET, link=ENGINE_SET),
        "t",
    )  # fmt: skip
    overheads = {
        "overhead_us_per_layer": 30.0, "graph_overhead_us_per_layer": 5.0,
        "hop_latency_scale": 2.0, "overhead_us_per_sequence": 1.0, "link": 0.7,
    }  # fmt: skip
    table = EfficiencyTable(
        {"fam": fam}, "t", {"eng": {Phase.PREFILL: overheads, Phase.DECODE: overheads}}
    )
    got, note = table.lookup("fam", "eng")
    assert note is None
    assert (got.decode.compute, got.decode.memory) == (0.4, 0.8)  # the family's
    assert got.decode.overhead_us_per_layer == 30.0 and got.decode.link == 0.7  # the engine's
    assert got.decode.hop_latency_scale == 0.5  # the family entry fixed it itself
    assert not any(np.isnan(getattr(got.prefill, n)) for n in overheads)
    # an engine without overheads and no default engine: the roofline's values, with a note
    got, note = table.lookup("fam", "other")
    assert got.decode.overhead_us_per_layer == 0.0 and got.decode.link == 1.0
    assert "other" in note


def test_efficiency_files_from_before_engines_still_load():
    """The bundled file of the previous release: every family keeps its own overheads, the
    graph overhead equal to the eager one, under any engine."""
    from pathlib import Path

    path = Path(__file__).parent / "data" / "efficiency_before_engines.toml"
    table = table_from_entries(load_efficiency_file(path), str(path))
    for engine in (None, "trtllm", "research"):
        hopper, note = table.lookup("nvidia-hopper", engine)
        d = hopper.decode
        assert d.overhead_us_per_layer > 0 and d.graph_overhead_us_per_layer == pytest.approx(
            d.overhead_us_per_layer
        )
        assert not any(np.isnan(v) for v in (d.link, d.hop_latency_scale))
