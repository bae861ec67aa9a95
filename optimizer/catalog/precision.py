"""Numeric formats: bytes per stored element and which peak-compute entry they run at."""

from __future__ import annotations

from enum import StrEnum

from optimizer.errors import HetplanError


class UnknownPrecisionError(HetplanError, ValueError):
    """A precision name hetplan does not know."""


class Precision(StrEnum):
    """A storage or compute format.

    ``bytes_per_element`` is the storage cost without block-scale overhead; ``compute_key`` names
    the accelerator ``dense_tflops`` entry that computes it (fp16 runs at the bf16 peak).
    """

    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"
    FP8 = "fp8"
    INT8 = "int8"
    FP4 = "fp4"
    INT4 = "int4"

    @classmethod
    def parse(cls, name: str, what: str = "precision") -> Precision:
        """The precision called ``name``; a clear error naming ``what`` otherwise."""
        try:
            return cls(name.lower())
        except ValueError:
            known = ", ".join(p.value for p in cls)
            raise UnknownPrecisionError(
                f"{what}: unknown precision {name!r}; use one of {known}"
            ) from None

    @property
    def bytes_per_element(self) -> float:
        return _BYTES[self]

    @property
    def compute_key(self) -> str:
        return "bf16" if self is Precision.FP16 else self.value


_BYTES = {
    Precision.FP32: 4.0,
    Precision.FP16: 2.0,
    Precision.BF16: 2.0,
    Precision.FP8: 1.0,
    Precision.INT8: 1.0,
    Precision.FP4: 0.5,
    Precision.INT4: 0.5,
}
