"""A part whose TDP pays for less compute power than its family's runs its tensor cores slower
(docs/model.md §9): the scale and the derate from hand arithmetic, and the H100 NVL against the
H100 SXM in MLPerf's published runs."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from optimizer.api import EstimateRequest, estimate
from optimizer.api.context import open_context
from optimizer.catalog.loader import load_catalog
from optimizer.catalog.power_density import compute_power_scale
from optimizer.perf.config import build_config
from optimizer.perf.efficiency import Efficiency, PhaseEfficiency, PowerShares
from optimizer.perf.phases import prefill_step
from optimizer.perf.shape import model_shape


@dataclass
class _Catalog:
    accelerators: dict


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


def _family(cat, parts: dict[str, tuple[float, float, float]]) -> _Catalog:
    """Copies of the H100 SXM as (TDP W, idle W, dense bf16 TFLOP/s) parts of one family."""
    base = cat.accelerators["h100-sxm"]
    return _Catalog({
        name: base.model_copy(update={"id": name, "tdp_w": tdp, "idle_w": idle,
                                      "dense_tflops": base.dense_tflops.model_copy(
                                          update={"bf16": tflops})})
        for name, (tdp, idle, tflops) in parts.items()
    })  # fmt: skip


def test_scale_is_the_family_median_power_per_flop_over_its_own(cat):
    """Three SXM-like parts give (700 − 70) / 989 = 0.63701 W per TFLOP/s; a PCIe card gives
    (350 − 48) / 756 = 0.39947: it asks 0.63701 / 0.39947 = 1.5946 times what its TDP budgets.
    The median of the four is (0.63701 + 0.63701) / 2, the SXM parts' own: their scale is 1."""
    sxm = (700.0, 70.0, 989.0)
    family = _family(cat, {"a": sxm, "b": sxm, "c": sxm, "pcie": (350.0, 48.0, 756.0)})
    assert compute_power_scale(family, family.accelerators["pcie"]) == pytest.approx(
        1.5946, abs=1e-4
    )
    assert compute_power_scale(family, family.accelerators["a"]) == 1.0


def test_two_parts_are_no_family_median(cat):
    """A median of two is their mean, half set by the part judged: no scale."""
    family = _family(cat, {"sxm": (700.0, 70.0, 989.0), "pcie": (350.0, 48.0, 756.0)})
    assert compute_power_scale(family, family.accelerators["pcie"]) == 1.0


def test_bundled_hopper_scales(cat):
    """The bundled Hopper parts: the PCIe and NVL cards are the ones whose TDP is short; the
    H200 SXM's 5 W more idle power than the H100 SXM's leaves it 0.4 % short of the median."""
    scale = {a: compute_power_scale(cat, cat.accelerators[a]) for a in
             ("h100-sxm", "h200-sxm", "h100-pcie", "h100-nvl")}  # fmt: skip
    assert scale["h100-sxm"] == 1.0 and scale["h200-sxm"] == pytest.approx(1.0, abs=0.01)
    assert 1.5 < scale["h100-pcie"] < 1.7 and 1.5 < scale["h100-nvl"] < 1.7


def test_derate_stretches_the_compute_of_a_tdp_short_part(cat):
    """Power shares busy 0.5, compute 0.7 size a part for its peak when busy + compute ≥ 1:
    at full GEMM load it asks 1.2 of its dynamic range and holds its clock at TDP. The H100 NVL
    asks 0.5 + 0.7 · k of its range, k = 1.6054: (0.5 + 1.12378) / 1.2 = 1.3531 times more than
    it has, so a compute-bound prefill step's compute terms take 1.3531 times as long as at its
    spec peak (the same step with k = 1)."""
    eff = Efficiency(PhaseEfficiency(compute=0.6), PhaseEfficiency(compute=0.6), "test",
                     PowerShares(busy=0.5, compute=0.7, memory=0.1))  # fmt: skip
    nvl, _ = build_config(cat, cat.accelerators["h100-nvl"], efficiency=eff)
    k = float(nvl.compute_power_scale)
    assert k == pytest.approx(1.6054, abs=1e-4)
    s = model_shape(cat.models["llama-3.1-8b"])
    derated = prefill_step(s, nvl, 8.0, 2048.0, 0.0, pipelined=True)
    at_peak = prefill_step(s, replace(nvl, compute_power_scale=1.0), 8.0, 2048.0, 0.0,
                           pipelined=True)  # fmt: skip
    assert float(derated.compute_s / at_peak.compute_s) == pytest.approx(
        (0.5 + 0.7 * k) / 1.2, rel=1e-9
    )
    assert float(derated.power_w) <= cat.accelerators["h100-nvl"].tdp_w * (1 + 1e-9)


def test_h100_nvl_against_sxm_falls_in_mlperf_range():
    """MLPerf Inference v4.1 closed, Llama-2-70B offline per GPU (catalogs/measurements/
    published.csv): H100 NVL 1,984.5 and 2,214.7 tok/s (Lenovo x8, HPE x4), H100 SXM 2,585.9 to
    3,066.0 (Juniper x32, HPE x8). The NVL serves 1,984.5 / 3,066.0 = 0.647 to 2,214.7 / 2,585.9
    = 0.856 of an SXM; at its spec peak and 400 W the model said about 0.87."""
    ctx = open_context()
    rate = {}
    for acc in ("h100-nvl", "h100-sxm"):
        request = EstimateRequest(model="llama-2-70b", accelerator=acc, tp=2, precision="fp8",
                                  input_tokens=219.0, output_tokens=291.0)  # fmt: skip
        r = estimate(request, context=ctx)
        assert r.success, r.message
        assert r.power_w <= 2 * ctx.catalog.accelerators[acc].tdp_w * (1 + 1e-9)
        rate[acc] = r.output_tokens_per_s_per_accelerator
    assert 0.647 <= rate["h100-nvl"] / rate["h100-sxm"] <= 0.856
