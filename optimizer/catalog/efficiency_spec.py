"""Efficiency factor entries: a serving stack's shortfall from the roofline, per accelerator
family and phase, and how its power rises from idle to TDP, each saying what it was fitted on
(docs/model.md §4, §9)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from optimizer.catalog.base import Entry, Fraction, Id, NonNegativeFloat, NonNegativeInt


class _Fitted(Entry):
    """A family's fitted figures: ``id`` is ``FAMILY-SUFFIX`` (``_id_suffix``), and ``family``
    ``default`` stands in for unlisted families."""

    family: Id
    fit_rows: NonNegativeInt  # measurements the figures were fitted on
    fit_median_abs_error: NonNegativeFloat | None = None  # on those rows, as a fraction

    def _id_suffix(self) -> tuple[str, str]:
        """(the suffix of this entry's id, its name in the error)."""
        raise NotImplementedError

    @model_validator(mode="after")
    def _id_names_family(self) -> _Fitted:
        suffix, what = self._id_suffix()
        expected = f"{self.family}-{suffix}"
        if self.id != expected:
            raise ValueError(f"id: must be FAMILY-{what} ({expected!r}), got {self.id!r}")
        return self


MIN_EFFICIENCY = 1e-3
"""The smallest fraction of a peak a factor may state: 0.1 % (fitted factors stay above 2 %);
below it step times overflow rather than describe a serving stack."""
EfficiencyFraction = Annotated[
    float, Field(ge=MIN_EFFICIENCY, le=1, allow_inf_nan=False, strict=True)
]


class EfficiencyFactors(_Fitted):
    """``id`` is ``FAMILY-PHASE``: one phase's factors."""

    phase: Literal["prefill", "decode"]
    compute: EfficiencyFraction  # fraction of dense peak FLOP/s
    memory: EfficiencyFraction  # fraction of HBM bandwidth
    overhead_us_per_layer: NonNegativeFloat  # fixed time per layer per step
    hop_latency_scale: NonNegativeFloat  # × the link's catalog latency per collective ring hop
    overhead_us_per_sequence: NonNegativeFloat = 0.0  # host time per sequence per step
    link: EfficiencyFraction = 1.0  # collective bw / link peak

    def _id_suffix(self) -> tuple[str, str]:
        return self.phase, "PHASE"


class PowerFactors(_Fitted):
    """``id`` is ``FAMILY-power``: a device's board power between idle and TDP as shares of
    ``TDP − idle``: ``busy`` whenever it executes, plus ``compute`` at full compute duty and
    ``memory`` at full memory-bandwidth duty (the sum is capped at 1, i.e. the TDP)."""

    busy: Fraction
    compute: Fraction
    memory: Fraction

    def _id_suffix(self) -> tuple[str, str]:
        return "power", "power"
