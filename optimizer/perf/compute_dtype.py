"""Which peak a compute precision runs at on a given accelerator, with fallback to a wider one."""

from __future__ import annotations

from dataclasses import dataclass

from optimizer.catalog.hardware import Accelerator
from optimizer.catalog.precision import Precision
from optimizer.catalog.units import TERA
from optimizer.errors import HetplanError

_FALLBACK = {
    "fp4": ("fp4", "fp8", "bf16", "fp32"),
    "int4": ("int8", "bf16", "fp32"),
    "fp8": ("fp8", "bf16", "fp32"),
    "int8": ("int8", "bf16", "fp32"),
    "bf16": ("bf16", "fp32"),
    "fp32": ("fp32",),
}
"""Peaks tried in order: the format itself (int4 has no tensor peak of its own), then wider."""


class UnsupportedPrecisionError(HetplanError):
    """An accelerator has no peak at this precision or any wider one."""


@dataclass(frozen=True, slots=True)
class ComputePeak:
    """Dense peak a computation runs at; ``note`` says so when it fell back to a wider dtype."""

    flop_per_s: float
    dtype: str
    note: str | None


def attention_precision(weights: Precision, kv: Precision) -> Precision:
    """The format attention's matmuls run in: the wider of the weights' and the KV cache's
    (a tie: the cache's), and at least fp8. FlashAttention-style kernels take fp8 or 16-bit
    operands (TensorRT-LLM's FP8 context FMHA reads an fp8 cache; a bf16 model attends in
    bf16 whatever its cache), so a 4-bit model with an fp8 cache attends at the fp8 peak, half
    its GEMMs' fp4 one."""
    wider = max((kv, weights), key=lambda p: p.bytes_per_element)
    return wider if wider.bytes_per_element >= 1 else Precision.FP8


def compute_peak(acc: Accelerator, precision: Precision) -> ComputePeak:
    """The dense peak of ``precision`` on ``acc``, or of the nearest wider dtype it supports.

    Raises:
        UnsupportedPrecisionError: when neither the dtype nor any wider one has a peak.
    """
    peaks = acc.dense_tflops.supported()
    wanted = precision.compute_key
    for dtype in _FALLBACK[wanted]:
        if dtype in peaks:
            note = None
            if dtype != wanted:
                note = (
                    f"{acc.id} has no {wanted} tensor peak; {precision.value} computes at {dtype}"
                )
            return ComputePeak(peaks[dtype] * TERA, dtype, note)
    raise UnsupportedPrecisionError(
        f"{acc.id} lists no dense peak for {precision.value} or any wider dtype"
        f" (it has {', '.join(peaks)})"
    )
