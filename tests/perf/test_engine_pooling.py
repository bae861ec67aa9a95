"""Which engines the fit may give overheads of their own (docs/model.md §4): an engine whose
rows all ran on hardware no other engine's rows cover is confounded with that hardware and
takes the pooled overheads, and an engine marked ``pooled = false`` (the eager research stack)
deviates without pulling the pooled engine toward it. Checked on rows synthesized from known
factors, so that the right answer is known."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from optimizer.api.calibration import fit_families
from optimizer.perf.calibration import confounded_engines
from optimizer.perf.efficiency import (
    ENGINE_SET,
    Efficiency,
    EfficiencyTable,
    Phase,
    PhaseEfficiency,
)
from optimizer.report.efficiency_toml import efficiency_toml
from tests.perf.synthetic import rows_valued_by, splitwise_h100_or_trtllm_h200

SEQUENCE = ("decode", "overhead_us_per_sequence")


def _rows(*pairs):
    return [SimpleNamespace(engine=e, family=f) for e, f in pairs]


def test_an_engine_alone_on_its_hardware_is_confounded():
    rows = _rows(("vllm", "amd"), ("vllm", "amd"), ("trtllm", "hopper"), ("research", "hopper"))
    assert set(confounded_engines(rows)) == {"vllm"}
    assert "amd" in confounded_engines(rows)["vllm"]


def test_an_engine_sharing_any_hardware_is_not():
    # sglang shares hopper with trtllm, so hopper's factors are pinned by trtllm's rows too
    rows = _rows(("sglang", "amd"), ("sglang", "hopper"), ("trtllm", "hopper"))
    assert confounded_engines(rows) == {}


def test_a_single_engine_is_never_confounded():
    """With one engine there is nothing to tell it from: its rows fit the pooled engine."""
    assert confounded_engines(_rows(("vllm", "amd"), ("vllm", "hopper"))) == {}


FAMILIES = {"nvidia-hopper": (0.6, 0.8), "amd-cdna3": (0.3, 0.8)}  # decode compute, memory
ENGINES = {"research": 200.0, "trtllm": 5.0, "vllm": 5.0}  # host µs per sequence


def _truth() -> EfficiencyTable:
    """Hopper at 0.6 of its compute peak, AMD at 0.3; vLLM's host time is TensorRT-LLM's."""

    def family(compute, memory):
        phase = PhaseEfficiency(compute=compute, memory=memory, **dict.fromkeys(
            ("overhead_us_per_layer", "graph_overhead_us_per_layer", "hop_latency_scale",
             "overhead_us_per_sequence", "link"), ENGINE_SET))  # fmt: skip
        return Efficiency(phase, phase, "truth")

    def engine(sequence, phase):
        return {"overhead_us_per_layer": 20.0, "graph_overhead_us_per_layer": 10.0,
                "overhead_us_per_sequence": sequence if phase is Phase.DECODE else 0.0,
                "hop_latency_scale": 0.5, "link": 0.7}  # fmt: skip

    return EfficiencyTable(
        {k: family(*v) for k, v in FAMILIES.items()},
        "truth",
        {e: {p: engine(v, p) for p in Phase} for e, v in ENGINES.items()},
    )


def _kept(case) -> bool:
    amd = case.accelerator == "mi300x" and case.metric == "output_tokens_per_s_per_accelerator"
    return amd or splitwise_h100_or_trtllm_h200(case)


@pytest.fixture(scope="module")
def fitted():
    """Splitwise's H100 rows (research), TensorRT-LLM's H200 dense rows (trtllm) and AMD's
    MLPerf MI300X rows (vllm, the only rows of their family), valued by the truth."""
    cat, made = rows_valued_by(_truth(), _kept)
    assert {c.engine for c in made} == set(ENGINES)
    return fit_families(made, cat)


def test_the_confounded_engine_takes_the_pooled_overheads(fitted):
    engines = {e.key for e in fitted.engines}
    assert "vllm" not in engines and {"default", "research", "trtllm"} <= engines
    assert dict(fitted.pooled_engines).keys() == {"vllm"}
    text = efficiency_toml(fitted, [], "rows.csv", "test rows")
    assert "vllm has no entry of its own" in text and "amd-cdna3" in text


def test_its_hardware_takes_the_difference(fitted):
    """AMD's rows are half as fast as Hopper's factors would make them; the fit must put that
    in AMD's compute, not in a host time every vLLM deployment would then pay."""
    family = {f.key: f for f in fitted.families}
    amd, hopper = family["amd-cdna3"], family.get("nvidia-hopper", family["default"])
    assert amd.values[("decode", "compute")] < 0.8 * hopper.values[("decode", "compute")]


def test_the_research_stack_does_not_pull_the_pooled_engine(fitted):
    """The truth's production engines take 5 µs per sequence, the research stack 200 µs: the
    pooled engine, which engines without rows use, must sit with the production engines."""
    engines = {e.key: e for e in fitted.engines}
    research, default = engines["research"].values[SEQUENCE], engines["default"].values[SEQUENCE]
    assert research > 100.0
    assert default < research / 5
