"""Attention data-parallel and wide-EP candidates (issue 13, item 3): each DP rank holds its own
sequences' KV (for MLA one latent copy per rank, where TP replicates the latent on every rank),
an instance is tp × dp devices, and a superset of candidates can never make the fleet dearer."""

from __future__ import annotations

import math

import pytest

from optimizer.api import solve
from optimizer.catalog.loader import load_catalog
from optimizer.catalog.precision import Precision
from optimizer.catalog.problem_spec import ProblemSpec
from optimizer.fleet.candidates import Variant, _config, build_fleet
from optimizer.fleet.pricing import DevicePrice
from optimizer.perf.efficiency import SOL, table_from_entries
from optimizer.perf.phases import memory
from optimizer.perf.serving import ServePhase, kv_transfer_s
from optimizer.perf.shape import model_shape

MODEL, ACC = "deepseek-v3", "h200-sxm"

# DeepSeek-V3 from its config.json (hidden 7168, 61 layers, vocab 129,280 untied, 128 heads,
# q_lora 1536, kv_lora 512, nope 128, rope 64, v 128, 3 dense layers of 18,432, 58 MoE layers
# of 256 routed + 1 shared expert of 2048, gate 256 × 7168 with a bias)
EMBEDDINGS = 2 * 129_280 * 7168  # input embedding and LM head
ATTENTION = (
    7168 * 1536  # q_a
    + 1536 * 128 * (128 + 64)  # q_b
    + 7168 * (512 + 64)  # kv_a (latent and rope key)
    + 512 * 128 * (128 + 128)  # kv_b (nope key and value)
    + 128 * 128 * 7168  # o
    + (1536 + 512 + 2 * 7168)  # q_a, kv_a and the two layer norms
)
EXPERT = 3 * 7168 * 2048  # gate, up, down
DENSE_FFN = 3 * 7168 * 18_432
ROUTED = 58 * 256 * EXPERT
TOTAL = (EMBEDDINGS + 7168 + 61 * ATTENTION + 3 * DENSE_FFN
         + 58 * (256 * EXPERT + EXPERT + 256 * 7168 + 256))  # fmt: skip
LATENT_BYTES_PER_TOKEN = (512 + 64) * 61 * 1  # fp8 KV: one latent and rope key per layer
H200_USABLE = 150.76e9  # nvidia-smi 143,771 MiB
ENGINE = 0.9  # share of memory the engine takes (vLLM / TensorRT-LLM default)


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _variant(catalog, tp: int, dp: int, ep: int) -> Variant:
    price = DevicePrice(1, 0, 0, "", "dgx-h200", 8)
    return Variant(MODEL, catalog.accelerators[ACC], price, tp, dp, ep, Precision.FP8,
                   Precision.FP8, ServePhase.DECODE)  # fmt: skip


def test_the_parameter_count_is_deepseeks(catalog):
    shape = model_shape(catalog.models[MODEL])
    assert TOTAL == pytest.approx(671e9, rel=1e-3)  # the published 671B
    assert shape.params_total == pytest.approx(TOTAL, rel=1e-9)
    assert shape.routed_params == pytest.approx(ROUTED, rel=1e-9)


def test_each_dp_rank_holds_its_own_latent_kv(catalog):
    """8,192-token sequences on eight H200s at fp8, experts over EP 8 either way.

    The weights are fp8, one byte each, but for the embedding and the LM head (1.85e9), which
    stay bf16: 671.0e9 + 1.85e9 = 672.9 GB.

    TP 8: every device holds 1/8 of all weights, 672.9 / 8 = 84.11 GB; free 0.9 × 150.76 −
    84.11 = 51.57 GB; the latent is replicated on all 8 ranks, so each device holds every
    sequence's whole latent, 8,192 × 576 × 61 B = 287.8 MB: ⌊51.57 / 0.2878⌋ = 179 sequences.

    DP 8 (TP 1): a device holds the 18.97 GB of non-expert weights whole and 1/8 of the routed
    experts, 18.97 + 653.9 / 8 = 100.71 GB; free 34.97 GB, ⌊34.97 / 0.2878⌋ = 121 sequences per
    rank, 8 × 121 = 968 per instance: 5.4× TP 8 (8× less the weights each rank repeats)."""
    context = 8192
    per_sequence = context * LATENT_BYTES_PER_TOKEN
    shape = model_shape(catalog.models[MODEL])
    tp8 = memory(shape, _config(catalog, lambda *_: SOL, _variant(catalog, 8, 1, 8)), context)
    dp8 = memory(shape, _config(catalog, lambda *_: SOL, _variant(catalog, 1, 8, 8)), context)

    held = TOTAL + EMBEDDINGS  # bytes: the embeddings' second byte
    free_tp8 = ENGINE * H200_USABLE - held / 8
    free_dp8 = ENGINE * H200_USABLE - (held - ROUTED) - ROUTED / 8
    assert (free_tp8, free_dp8) == pytest.approx((51.57e9, 34.97e9), rel=1e-3)
    for mem, free in ((tp8, free_tp8), (dp8, free_dp8)):
        assert float(mem.kv_per_sequence_per_device) == per_sequence  # never split by TP
        assert float(mem.kv_free_per_device) == pytest.approx(free, rel=1e-9)
    assert float(tp8.max_batch) == math.floor(free_tp8 / per_sequence) == 179
    assert float(dp8.max_batch) == 8 * math.floor(free_dp8 / per_sequence) == 968
    assert float(dp8.max_batch) / float(tp8.max_batch) > 5


def test_a_request_hands_its_kv_off_over_its_own_ranks_links(catalog):
    """8,192 tokens of fp8 latent, 287.8 MB, leave a TP 8 instance over 8 × 50 GB/s NDR links
    but a DP 8 rank over its one device's link; plus NDR's 5 µs."""
    shape = model_shape(catalog.models[MODEL])
    kv = 8192 * LATENT_BYTES_PER_TOKEN
    for (tp, dp), links in (((8, 1), 8), ((1, 8), 1)):
        config = _config(catalog, lambda *_: SOL, _variant(catalog, tp, dp, 8))
        expected = kv / (links * 50e9) + 5e-6
        assert float(kv_transfer_s(shape, config, 8192)) == pytest.approx(expected, rel=1e-12)


def _spec(**styles) -> ProblemSpec:
    serve = {"model": MODEL, "workload": "coding-agent", "requests_per_s": 100.0,
             "ttft_ms": 3000.0, "tpot_ms": 60.0}  # fmt: skip
    base = {"accelerators": [ACC], "precisions": ["fp8"], "tp": [1, 8], "ep": [1, 8],
            "dp": [1, 8], "memory_tiers": False}  # fmt: skip
    return ProblemSpec.model_validate(
        {"problem": {"name": "t"}, "serve": [serve], "styles": base | styles}
    )


@pytest.fixture(scope="module")
def fleet(catalog):
    efficiency = table_from_entries(
        [*catalog.efficiency.values(), *catalog.overheads.values()], "catalog"
    )
    return build_fleet(catalog, _spec(), catalog.get("economics", "default"), efficiency)


def test_dp_columns_are_priced_and_powered_on_tp_times_dp_devices(fleet):
    table, names = fleet.table, fleet.table.columns.names
    dp8 = names.index(f"{MODEL}/{ACC}/tp1-dp8-ep8/fp8/decode")
    tp8 = names.index(f"{MODEL}/{ACC}/tp8-ep8/fp8/decode")
    info = table.info[dp8]
    assert (info.tp, info.dp, info.ep, info.devices) == (1, 8, 8, 8)
    assert table.columns.devices[dp8] == table.columns.devices[tp8] == 8
    assert table.columns.cost_usd_per_hour[dp8] == table.columns.cost_usd_per_hour[tp8]
    assert table.columns.idle_w[dp8] == table.columns.idle_w[tp8]
    tp8_dp8 = names.index(f"{MODEL}/{ACC}/tp8-dp8-ep8/fp8/decode")
    assert table.columns.devices[tp8_dp8] == 64
    assert table.columns.cost_usd_per_hour[tp8_dp8] == pytest.approx(
        8 * table.columns.cost_usd_per_hour[tp8]
    )


def test_only_dp_with_a_shared_expert_pool_is_a_candidate(fleet):
    """DP > 1 needs EP > 1 (ranks that share nothing are separate instances); EP ≤ tp × dp."""
    splits = {name.split("/")[2] for name in fleet.table.columns.names}
    assert splits == {"tp1", "tp8", "tp8-ep8", "tp1-dp8-ep8", "tp8-dp8-ep8"}


def test_a_wider_ep_than_tp_needs_dp(catalog):
    efficiency = table_from_entries(
        [*catalog.efficiency.values(), *catalog.overheads.values()], "catalog"
    )
    spec = _spec(tp=[1], ep=[8, 16], dp=[1, 8])
    f = build_fleet(catalog, spec, catalog.get("economics", "default"), efficiency)
    assert {name.split("/")[2] for name in f.table.columns.names} == {"tp1-dp8-ep8"}


def test_styles_dp_must_list_a_value():
    with pytest.raises(ValueError, match="dp: must list at least one value"):
        _spec(dp=[])


PROBLEM = f"""[problem]
name = "deepseek-wide-ep"

[[serve]]
model = "{MODEL}"
workload = "coding-agent"
requests_per_s = 100
ttft_ms = 3000
tpot_ms = 60

[styles]
accelerators = ["{ACC}"]
precisions = ["fp8"]
tp = [1, 8]
ep = [1, 8]
memory_tiers = false
aggregated = false
"""


def test_attention_dp_breaks_the_tp8_capacity_wall(tmp_path):
    """DeepSeek-V3 at 100 requests/s of 8k-token agent turns, disaggregated, owned H200s. With
    dp = 1 the decode pool stops at TP 8's capacity wall; allowing dp 8 (a superset of the
    candidates) can never cost more, and here it costs less."""
    path = tmp_path / "deepseek.toml"
    path.write_text(PROBLEM)
    tp_only = solve(path, overrides={"styles.dp": "[1]"})
    with_dp = solve(path, overrides={"styles.dp": "[1, 8]"})
    assert tp_only.status == with_dp.status == "optimal"
    decode = [p for p in tp_only.pools if p.phase == "decode"]
    assert decode and all(p.bound == "capacity" and p.dp == 1 for p in decode)
    assert with_dp.objective <= tp_only.objective * (1 + 1e-9)
    assert with_dp.objective < 0.9 * tp_only.objective
    assert any(p.dp == 8 for p in with_dp.pools)
    decode_devices = [sum(p.devices for p in s.pools if p.phase == "decode")
                      for s in (tp_only, with_dp)]  # fmt: skip
    assert decode_devices[1] < decode_devices[0]
    for p in with_dp.pools:
        assert p.devices == p.instances * p.tp * p.dp
