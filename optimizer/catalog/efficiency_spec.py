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
Provenance = dict[str, Annotated[str, Field(min_length=1)]]
"""Per factor: ``fitted on ...``, ``pooled: ...`` or ``assumed: ...`` (what it came from)."""


class EfficiencyFactors(_Fitted):
    """``id`` is ``FAMILY-PHASE``: one phase's hardware factors (what the family's kernels
    reach). The serving engine's factors (overheads, collective latency and bandwidth) belong in
    ``[[overhead]]`` entries; an entry that states them (files written before engine profiles)
    keeps them for its family, under every engine."""

    phase: Literal["prefill", "decode"]
    compute: EfficiencyFraction  # fraction of dense peak FLOP/s
    memory: EfficiencyFraction  # fraction of HBM bandwidth
    # routed experts' FLOP/s over the dense GEMMs' (None: the default family's, else 1)
    expert: EfficiencyFraction | None = None
    overhead_us_per_layer: NonNegativeFloat | None = None  # fixed time per layer per step
    graph_overhead_us_per_layer: NonNegativeFloat | None = None  # in a captured CUDA graph
    hop_latency_scale: NonNegativeFloat | None = None  # × the link's latency per collective hop
    overhead_us_per_sequence: NonNegativeFloat | None = None  # host time per sequence per step
    link: EfficiencyFraction | None = None  # collective bandwidth / link peak
    provenance: Provenance = {}

    def _id_suffix(self) -> tuple[str, str]:
        return self.phase, "PHASE"


class EngineOverheads(Entry):
    """``id`` is ``ENGINE-PHASE-overhead``: what one serving engine adds to every step of one
    phase, whatever the hardware: a fixed time per layer (eager, and inside a captured CUDA graph),
    host time per sequence, the latency of a collective hop as a multiple of the link's, and
    the fraction of link bandwidth its collectives reach. ``engine`` ``default`` stands in for
    engines without their own entry."""

    engine: Id
    phase: Literal["prefill", "decode"]
    overhead_us_per_layer: NonNegativeFloat
    graph_overhead_us_per_layer: NonNegativeFloat
    overhead_us_per_sequence: NonNegativeFloat
    hop_latency_scale: NonNegativeFloat
    link: EfficiencyFraction
    fit_rows: NonNegativeInt
    fit_median_abs_error: NonNegativeFloat | None = None
    provenance: Provenance = {}

    @model_validator(mode="after")
    def _id_names_engine(self) -> EngineOverheads:
        expected = f"{self.engine}-{self.phase}-overhead"
        if self.id != expected:
            raise ValueError(f"id: must be ENGINE-PHASE-overhead ({expected!r}), got {self.id!r}")
        return self


class PowerFactors(_Fitted):
    """``id`` is ``FAMILY-power``: a device's board power between idle and TDP as shares of
    ``TDP − idle``: ``busy`` whenever it executes, plus ``compute`` at full compute duty and
    ``memory`` at full memory-bandwidth duty (the sum is capped at 1, i.e. the TDP)."""

    busy: Fraction
    compute: Fraction
    memory: Fraction

    def _id_suffix(self) -> tuple[str, str]:
        return "power", "power"
