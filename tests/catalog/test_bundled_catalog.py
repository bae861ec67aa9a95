"""The bundled catalog: required coverage and physical invariants every entry must satisfy."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from optimizer.catalog import Precision, load_catalog, model_facts
from optimizer.catalog.units import GIB, GIGA

CATALOG = load_catalog()

REQUIRED = {
    "accelerators": """a10g a100-sxm-80gb a100-sxm-40gb h100-sxm h100-pcie h100-nvl h800-sxm
        h200-sxm h200-nvl gh200 b200 b300 gb200 gb300 rubin rubin-cpx l40s l4 rtx-pro-6000
        mi300x mi325x mi355x gaudi2 gaudi3 tpu-v5e tpu-v5p tpu-v6e tpu-v7 trainium2 inferentia2
        arc-pro-b60""",
    "memory": """hbm2 hbm2e hbm3 hbm3e hbm4 gddr6 gddr7 lpddr5x ddr5 cxl-expander
        optical-memory-pool""",
    "interconnects": """nvlink3 nvlink4 nvlink5 nvlink6 nvlink-c2c pcie4 pcie5 pcie6 cxl ib-ndr
        ib-xdr ethernet-800g ualink optical-io infinity-fabric tpu-ici neuronlink gaudi-roce""",
    "models": """llama-2-7b llama-2-13b llama-2-70b llama-3.1-8b llama-3.1-70b llama-3.3-70b
        llama-3.1-405b qwen2.5-7b qwen2.5-72b qwen3-32b qwen3-30b-a3b qwen3-235b-a22b
        qwen3-coder-480b-a35b deepseek-v3 deepseek-r1 kimi-k2 gpt-oss-20b gpt-oss-120b
        mixtral-8x7b mixtral-8x22b gemma-3-27b glm-4.5 llama-4-scout llama-4-maverick
        bloom-176b opt-13b gpt-j-6b llama-3-8b llama-3-70b""",
    "workloads": "chat coding-agent web-agent computer-use-agent",
    "economics": "default",
}
MINIMUM = {
    "accelerators": 27,
    "memory": 11,
    "interconnects": 18,
    "systems": 8,
    "models": 20,
    "workloads": 4,
    "economics": 1,
}


@pytest.mark.parametrize("kind", list(MINIMUM))
def test_bundled_catalog_covers_required_ids(kind):
    have = set(CATALOG.entries(kind))
    assert set(REQUIRED.get(kind, "").split()) <= have
    assert len(have) >= MINIMUM[kind]


def test_bundled_catalog_covers_published_calibration_cases():
    cases = Path(__file__).parents[2] / "catalogs" / "measurements" / "published.csv"
    if not cases.exists():
        pytest.skip("calibration cases not bundled yet")
    with cases.open() as f:
        rows = list(csv.DictReader(f))
    assert {r["model"] for r in rows} - {"none"} <= set(CATALOG.models)
    assert {r["accelerator"] for r in rows} <= set(CATALOG.accelerators)


@pytest.mark.parametrize("acc", CATALOG.accelerators.values(), ids=lambda a: a.id)
def test_accelerator_narrower_dtypes_are_never_slower(acc):
    peaks = acc.dense_tflops.supported()
    order = [d for d in ("fp32", "bf16", "fp8", "fp4") if d in peaks]
    assert [peaks[d] for d in order] == sorted(peaks[d] for d in order)


@pytest.mark.parametrize("acc", CATALOG.accelerators.values(), ids=lambda a: a.id)
def test_accelerator_figures_are_plausible(acc):
    # Ridge points of real parts, at their widest tensor dtype, lie between ~50 and ~2,500
    # FLOP/byte; a figure 10x off (sparse peak, bits for bytes, TB vs GB) falls outside.
    peaks = acc.dense_tflops.supported()
    peak = next(peaks[d] for d in ("bf16", "fp8", "int8", "fp4", "fp32") if d in peaks) * 1e12
    ridge = peak / (acc.memory_bandwidth_tb_per_s * 1e12)
    assert 20 < ridge < 5000, ridge
    if acc.memory_usable_gb:
        assert acc.memory_usable_gb <= acc.memory_capacity_gb * GIB / GIGA


@pytest.mark.parametrize("system", CATALOG.systems.values(), ids=lambda s: s.id)
def test_rack_power_covers_its_accelerators(system):
    if system.rack_power_w and system.kind.value == "rack":
        acc = CATALOG.accelerators[system.accelerator]
        assert system.rack_power_w >= system.n_accelerators * acc.tdp_w


@pytest.mark.parametrize("model", CATALOG.models.values(), ids=lambda m: m.id)
def test_model_kv_bytes_scale_with_precision(model):
    bf16 = model_facts(model, Precision.BF16).kv_bytes_per_token
    assert model_facts(model, Precision.FP8).kv_bytes_per_token == bf16 / 2
    assert model_facts(model, Precision.FP32).kv_bytes_per_token == bf16 * 2


def test_dgx_h100_overhead_matches_published_system_power():
    # DGX H100: about 10.2 kW for 8 x 700 W of GPU TDP (catalog_specs §5).
    dgx = CATALOG.systems["dgx-h100"]
    acc = CATALOG.accelerators[dgx.accelerator]
    assert dgx.n_accelerators * acc.tdp_w + dgx.overhead_power_w == pytest.approx(10_200, rel=0.02)


# Independent catalog audit (2026-11): each corrected value pinned to its source's own figure.


def test_rtx_pro_6000_is_the_server_edition_bandwidth():
    # NVIDIA's Server Edition page and the AWS G7e page: 1,597 GB/s (1.792 TB/s is the
    # Workstation Edition).
    assert CATALOG.accelerators["rtx-pro-6000"].memory_bandwidth_tb_per_s * 1000 == 1597


@pytest.mark.parametrize("acc_id, vram_gib", [("mi325x", 256), ("mi355x", 288)])
def test_amd_usable_memory_is_the_rocm_gib_figure(acc_id, vram_gib):
    # ROCm's GPU spec table lists VRAM in GiB; usable bytes are that many 2^30-byte units,
    # within the 1 MB the catalog's three decimals truncate.
    usable_bytes = CATALOG.accelerators[acc_id].memory_usable_gb * 1e9
    assert vram_gib * 2**30 - 1e6 <= usable_bytes <= vram_gib * 2**30


def test_b300_dense_fp4_is_the_hgx_figure_per_gpu():
    # HGX B300: 105 PFLOPS dense FP4 for 8 GPUs.
    assert CATALOG.accelerators["b300"].dense_tflops.fp4 == pytest.approx(105_000 / 8)


@pytest.mark.parametrize(
    "kind, entry_id, field",
    [
        ("accelerators", "rubin", "tdp_w"),
        ("accelerators", "rubin-cpx", "tdp_w"),
        ("accelerators", "rubin-cpx", "memory_bandwidth_tb_per_s"),
        ("accelerators", "rubin-cpx", "dense_tflops"),
        ("accelerators", "gb200", "host_bandwidth_gb_per_s_per_direction"),
        ("accelerators", "gb300", "host_bandwidth_gb_per_s_per_direction"),
        ("systems", "gb300-nvl72", "rack_power_w"),
        ("systems", "gb300-nvl72", "overhead_power_w"),
    ],
)
def test_disputed_figures_are_marked_estimated_with_a_range(kind, entry_id, field):
    entry = CATALOG.entries(kind)[entry_id]
    assert field in entry.estimated
    assert any("range" in s.lower() and "audit" in s for s in entry.sources)


def test_gb300_nvl72_rack_power_lies_in_its_published_range():
    # Supermicro ~132-140 kW typical, NVIDIA reference architecture up to 142 kW.
    rack = CATALOG.systems["gb300-nvl72"]
    assert 122_000 <= rack.rack_power_w <= 142_000


def test_superchip_host_bandwidth_lies_between_shared_and_dedicated_c2c():
    # 900 GB/s bidirectional NVLink-C2C per superchip of two GPUs: 225 GB/s per direction per
    # GPU if shared, 450 if each GPU has its own.
    for acc_id in ("gb200", "gb300"):
        assert 225 <= CATALOG.accelerators[acc_id].host_bandwidth_gb_per_s_per_direction <= 450


def test_gpt_j_parameters_and_kv_by_hand():
    # GPT-J-6B: untied 50,400 × 4096 embedding and LM head; per layer q, k, v, o (4 · 4096²),
    # fc_in/fc_out (2 · 4096 · 16384) with biases (16384 + 4096), one LayerNorm (2 · 4096);
    # a final LayerNorm. The model card's 6,053,381,344 adds the LM head's bias and buffers.
    per_layer = 4 * 4096**2 + 2 * 4096 * 16384 + 16384 + 4096 + 2 * 4096
    total = 2 * 50_400 * 4096 + 28 * per_layer + 2 * 4096
    facts = model_facts(CATALOG.models["gpt-j-6b"], Precision.BF16)
    assert facts.params_total == total == 6_050_832_384
    assert facts.params_total == pytest.approx(6_053_381_344, rel=1e-3)
    # MHA KV: K and V of 16 heads × 256 per layer, 28 layers, 2 bytes
    assert facts.kv_bytes_per_token == 2 * 16 * 256 * 28 * 2


def test_a100_40gb_is_the_datasheet_part():
    # A100 datasheet, 40 GB SXM: 312 TFLOPS bf16 dense, 1,555 GB/s HBM2, 400 W; the same
    # GA100 as the 80 GB part, so the same family and compute
    a40, a80 = CATALOG.accelerators["a100-sxm-40gb"], CATALOG.accelerators["a100-sxm-80gb"]
    assert (a40.dense_tflops.bf16, a40.memory_bandwidth_tb_per_s, a40.tdp_w) == (312, 1.555, 400)
    assert a40.family == a80.family and a40.dense_tflops == a80.dense_tflops
    # nvidia-smi's 40536 MiB, in 10^9 bytes
    assert a40.memory_usable_gb == pytest.approx(40536 * 2**20 / 1e9, abs=1e-3)


@pytest.mark.parametrize("acc", CATALOG.accelerators.values(), ids=lambda a: a.id)
def test_every_accelerator_is_priced_or_says_why_not(acc):
    """Both prices where any public figure exists (issue 12): a missing one is explained in the
    entry's notes — a chip that is not sold, or what was searched without finding a price."""
    sold_in = [s for s in CATALOG.systems.values() if s.accelerator == acc.id and s.price_usd]
    notes = (acc.notes or "").lower()
    if acc.price_usd is None and not sold_in:
        assert "not sold" in notes or "price_usd omitted" in notes or "prices omitted" in notes
    if acc.cloud_usd_per_hour is None:
        assert "cloud_usd_per_hour omitted" in notes or "prices omitted" in notes


@pytest.mark.parametrize("system", CATALOG.systems.values(), ids=lambda s: s.id)
def test_every_system_prices_its_host(system):
    """A card priced alone pays its server's share, so every server says what it costs beyond
    its accelerators; where both figures exist, that is less than the whole system."""
    assert system.host_price_usd is not None and system.host_price_usd > 0
    assert any(line.startswith("host_price_usd") for line in system.sources)
    if system.price_usd is not None:
        assert system.host_price_usd < system.price_usd


@pytest.mark.parametrize(
    "system", [s for s in CATALOG.systems.values() if s.price_usd and s.accelerator
               and CATALOG.accelerators[s.accelerator].price_usd], ids=lambda s: s.id,
)  # fmt: skip
def test_a_card_and_its_host_share_add_up_to_its_system(system):
    """Where a system and its card both have a price, card + host share is the system's price
    per device (to 1 %): a user catalog that repeats the card prices it the same as the
    system does."""
    card = CATALOG.accelerators[system.accelerator].price_usd
    per_device = card + system.host_price_usd / system.n_accelerators
    assert per_device == pytest.approx(system.price_usd / system.n_accelerators, rel=0.01)
