"""Compute peaks per precision, the fallback to a wider dtype, and precision names."""

from __future__ import annotations

import pytest

from optimizer.catalog import Precision, load_catalog
from optimizer.catalog.hardware import DenseTflops
from optimizer.catalog.precision import UnknownPrecisionError
from optimizer.perf.compute_dtype import UnsupportedPrecisionError, compute_peak

CATALOG = load_catalog()


def test_compute_peak_native_dtype_has_no_note():
    peak = compute_peak(CATALOG.accelerators["h100-sxm"], Precision.FP8)
    assert (peak.flop_per_s, peak.dtype, peak.note) == (1979e12, "fp8", None)


def test_fp16_computes_at_the_bf16_peak():
    assert compute_peak(CATALOG.accelerators["h100-sxm"], Precision.FP16).flop_per_s == 989e12


def test_fp8_on_a100_falls_back_to_bf16_and_says_so():
    peak = compute_peak(CATALOG.accelerators["a100-sxm-80gb"], Precision.FP8)
    assert peak.dtype == "bf16" and peak.flop_per_s == 312e12
    assert "no fp8 tensor peak" in peak.note


def test_fp4_on_h100_falls_back_to_fp8():
    assert compute_peak(CATALOG.accelerators["h100-sxm"], Precision.FP4).dtype == "fp8"


def test_fp32_without_a_peak_is_an_error():
    bf16_only = CATALOG.accelerators["h100-sxm"].model_copy(
        update={"id": "bf16-only", "dense_tflops": DenseTflops(bf16=100.0)}
    )
    with pytest.raises(UnsupportedPrecisionError, match="bf16-only lists no dense peak for fp32"):
        compute_peak(bf16_only, Precision.FP32)


def test_precision_parse():
    assert Precision.parse("FP8") is Precision.FP8
    with pytest.raises(UnknownPrecisionError, match="--kv-precision: unknown precision 'fp6'"):
        Precision.parse("fp6", "--kv-precision")
