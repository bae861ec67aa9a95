"""The schema of a provisioning problem file (``problems/*.toml``), validated like the catalog.

A problem is either model-based (``[[serve]]``: models × workloads with traffic and SLOs, served
by candidates the performance model rates) or measured (``[measured]``: instance types with
measured capabilities per request class, as in Mélange, arXiv 2404.14527).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictBool,
    StrictStr,
    StringConstraints,
    model_validator,
)

from optimizer.catalog.base import (
    Fraction,
    Id,
    StrictModel,
    UsdPerHour,
)
from optimizer.catalog.choices import Mode, TierUse

# Every number of a problem is strict (true and "60" are not numbers) and finite, within a range
# far beyond any real fleet but narrow enough that the solver's coefficients stay representable
# next to each other (docs/files.md lists them).
Percentile = Annotated[float, Field(ge=50, lt=100, allow_inf_nan=False, strict=True)]
Rate = Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False, strict=True)]
"""Requests (or sessions) per second: at most 10^9, beyond any datacenter and beyond what a
solver's coefficient range resolves next to per-instance costs."""
MIN_CAPABILITY = 1e-6
"""The least non-zero capability: one request in 11.6 days. Below it, requests/s divided by the
capability overflows the solver's coefficient range instead of meaning anything."""


def _zero_or_resolvable(value: float) -> float:
    if 0 < value < MIN_CAPABILITY:
        raise ValueError(f"must be 0 (cannot serve) or at least {MIN_CAPABILITY:g}, got {value:g}")
    return value


Capability = Annotated[
    float,
    Field(ge=0, le=1e9, allow_inf_nan=False, strict=True),
    AfterValidator(_zero_or_resolvable),
]
"""Requests/s one instance sustains: 0 (cannot serve), or 10^-6 to 10^9 like a rate."""
Milliseconds = Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False, strict=True)]
# Limits the solver compares a fleet against: from one watt (one micro-dollar an hour); a
# 1e-300 budget is no limit a solver can resolve (HiGHS ends without a verdict).
Kilowatts = Annotated[float, Field(ge=1e-3, le=1e9, allow_inf_nan=False, strict=True)]
BudgetUsdPerHour = Annotated[float, Field(ge=1e-6, le=1e12, allow_inf_nan=False, strict=True)]
Watts = Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False, strict=True)]
IdleWatts = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False, strict=True)]
Weight = Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False, strict=True)]
"""A price or emission factor of the weighted objective ($/kWh, kg CO2/kWh, $/kg CO2)."""
Gigabytes = Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False, strict=True)]
Seconds = Annotated[float, Field(gt=0, le=1e7, allow_inf_nan=False, strict=True)]
UsdPerGb = Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False, strict=True)]
RawEntries = tuple[dict, ...]
RelativePath = Annotated[str, StringConstraints(pattern=r"^[^\x00]+$", strict=True)]  # no NUL
# Counts become NumPy int64 and solver options downstream; bounds far above any real fleet keep
# a typo like 10**20 an input error instead of an overflow.
Count = Annotated[int, Field(ge=0, le=10**9, strict=True)]
PositiveCount = Annotated[int, Field(ge=1, le=10**9, strict=True)]
Parallelism = Annotated[int, Field(ge=1, le=4096, strict=True)]
Seed = Annotated[int, Field(ge=0, le=2**31 - 1, strict=True)]  # CBC and HiGHS take 32 bits


def _as_rows(value: object) -> object:
    """A flat list (one number per class) as one row: a single type, unlike a union of a vector
    and a matrix, gives one pydantic error per mistake instead of one per union member."""
    is_flat = isinstance(value, list | tuple) and value
    if is_flat and not any(isinstance(v, list | tuple) for v in value):
        return (value,)
    return value


Capabilities = Annotated[tuple[tuple[Capability, ...], ...], BeforeValidator(_as_rows)]


class ProblemInfo(StrictModel):
    name: Id
    description: StrictStr | None = None


class CatalogSection(StrictModel):
    """Which catalog to use: the bundled one, ``dirs`` on top (relative to the problem file),
    then entries given inline (same tables as catalog files; an existing id is overridden)."""

    dirs: tuple[RelativePath, ...] = ()
    accelerator: RawEntries = ()
    memory: RawEntries = ()
    interconnect: RawEntries = ()
    system: RawEntries = ()
    model: RawEntries = ()
    workload: RawEntries = ()
    economics: RawEntries = ()
    engine: RawEntries = ()
    efficiency: RawEntries = ()
    overhead: RawEntries = ()
    power: RawEntries = ()


class Serve(StrictModel):
    """One model serving one workload: its traffic and latency targets.

    ``percentile`` applies to TTFT through the prefill queue (M/D/1 waiting time); TPOT is the
    decode step time, the same for every token, so its percentile equals its mean.
    """

    name: Id | None = None  # traffic class name; default: the workload id
    model: Id
    workload: Id
    requests_per_s: Rate | None = None
    sessions_per_s: Rate | None = None  # × the workload's mean turns per session
    ttft_ms: Milliseconds | None = None
    tpot_ms: Milliseconds | None = None
    percentile: Percentile = 99.0
    # the mean turn's context in tokens instead of the workload's (a what-if: the same workload at
    # another context; its new tokens, output, cache hits, turns and tool time stay)
    context_tokens: PositiveCount | None = None

    @model_validator(mode="after")
    def _one_rate(self) -> Serve:
        if (self.requests_per_s is None) == (self.sessions_per_s is None):
            raise ValueError("requests_per_s: give exactly one of requests_per_s, sessions_per_s")
        return self

    @property
    def class_name(self) -> str:
        return self.name or self.workload

    def rate(self, turns_per_session: float) -> float:
        """Requests/s: as given, or sessions/s × the workload's mean turns per session (each
        turn is one request)."""
        if self.requests_per_s is not None:
            return self.requests_per_s
        return self.sessions_per_s * turns_per_session


class MeasuredClass(StrictModel):
    name: Id
    requests_per_s: Rate


class MeasuredInstance(StrictModel):
    """An instance type with measured maximum throughput per class at the SLOs (requests/s).

    ``capabilities`` has the shape of ``[measured] mix`` (a matrix of buckets) or one number per
    ``[[measured.classes]]`` entry (stored as one row); 0 means the instance cannot serve that
    class. Inline instances need it; rows of ``capabilities_csv`` leave it out.
    """

    name: Id
    usd_per_hour: UsdPerHour
    power_w: Watts | None = None  # busy IT power; needed by energy objectives
    idle_w: IdleWatts | None = None
    devices: PositiveCount = 1  # accelerators in one instance
    accelerator: Id | None = None  # availability group; default: the name
    capabilities: Capabilities | None = None

    @model_validator(mode="after")
    def _idle_below_busy(self) -> MeasuredInstance:
        if None not in (self.idle_w, self.power_w) and self.idle_w > self.power_w:
            raise ValueError(f"idle_w: must be <= power_w ({self.power_w}), got {self.idle_w}")
        return self


class Measured(StrictModel):
    """Measured capabilities instead of the performance model. Classes are either the cells of
    ``mix`` (shares of ``requests_per_s``, named ``in{row}-out{column}``) or ``classes``;
    instances are inline or in ``capabilities_csv`` (columns instance, usd_per_hour, class,
    max_requests_per_s, optional power_w, idle_w, devices, accelerator; relative to the problem
    file; an instance without a row for a class cannot serve it)."""

    requests_per_s: Rate | None = None
    mix: tuple[tuple[Fraction, ...], ...] | None = None
    classes: tuple[MeasuredClass, ...] = ()
    instances: tuple[MeasuredInstance, ...] = ()
    capabilities_csv: RelativePath | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Measured:
        if (self.mix is None) == (not self.classes):
            raise ValueError("mix: give either mix (with requests_per_s) or classes")
        if self.mix is not None and self.requests_per_s is None:
            raise ValueError("requests_per_s: required with mix")
        if self.mix is None and self.requests_per_s is not None:
            raise ValueError("requests_per_s: only with mix; classes carry their own rates")
        if bool(self.instances) == (self.capabilities_csv is not None):
            raise ValueError("instances: give either instances or capabilities_csv")
        return self


class Pricing(StrEnum):
    OWNED = "owned"  # amortized purchase + energy × PUE × electricity price
    CLOUD = "cloud"  # rental $/hour, energy included in the rate


class ObjectiveKind(StrEnum):
    COST = "cost"
    ENERGY = "energy"
    WEIGHTED = "weighted"


class ObjectiveSection(StrictModel):
    """``cost`` ($/h), ``energy`` (facility kWh per hour) or ``weighted``: $/h plus facility
    energy valued at ``energy_usd_per_kwh`` + ``kg_co2_per_kwh`` × ``usd_per_kg_co2``."""

    kind: ObjectiveKind = ObjectiveKind.COST
    pricing: Pricing = Pricing.OWNED
    economics: Id = "default"  # the catalog's economics profile (electricity, PUE, lifetime)
    energy_usd_per_kwh: Weight = 0.0
    kg_co2_per_kwh: Weight | None = None
    usd_per_kg_co2: Weight | None = None

    @model_validator(mode="after")
    def _weights(self) -> ObjectiveSection:
        if (self.kg_co2_per_kwh is None) != (self.usd_per_kg_co2 is None):
            raise ValueError("kg_co2_per_kwh: goes with usd_per_kg_co2; give both or neither")
        has_weight = self.energy_usd_per_kwh > 0 or self.usd_per_kg_co2 is not None
        if self.kind is ObjectiveKind.WEIGHTED and not has_weight:
            raise ValueError(
                "energy_usd_per_kwh: a weighted objective needs energy_usd_per_kwh > 0 "
                "or kg_co2_per_kwh with usd_per_kg_co2"
            )
        if self.kind is not ObjectiveKind.WEIGHTED and has_weight:
            raise ValueError(f"energy_usd_per_kwh: weights apply to kind = 'weighted', "
                             f"not {self.kind.value!r}")  # fmt: skip
        return self

    @property
    def energy_weight_usd_per_kwh(self) -> float:
        carbon = (self.kg_co2_per_kwh or 0.0) * (self.usd_per_kg_co2 or 0.0)
        return self.energy_usd_per_kwh + carbon


class Constraints(StrictModel):
    """Power is IT power at full load (accelerators plus their servers' overhead)."""

    power_budget_kw: Kilowatts | None = None
    racks: PositiveCount | None = None
    rack_power_kw: Kilowatts | None = None
    budget_usd_per_hour: BudgetUsdPerHour | None = None
    devices: dict[Id, Count] = Field(default_factory=dict)  # available per accelerator
    # the most of its rated capacity an instance may carry; None: 0.8 for model-rated
    # candidates (headroom on top of a capacity that already meets the latency percentile),
    # 1.0 for measured ones (their capabilities are the limit the user measured)
    max_utilization: float | None = Field(
        default=None, gt=0, le=1, allow_inf_nan=False, strict=True
    )
    spare_instances: Count = 0  # extra instances in every pool the fleet uses (N + spare)

    @model_validator(mode="after")
    def _racks(self) -> Constraints:
        if (self.racks is None) != (self.rack_power_kw is None):
            raise ValueError("racks: goes with rack_power_kw; give both or neither")
        return self


class Styles(StrictModel):
    """What the solver may build. ``accelerators`` None = every one the pricing can price."""

    aggregated: StrictBool = True
    disaggregated: StrictBool = True
    memory_tiers: StrictBool = True
    tiers: tuple[Id, ...] | None = None  # None = every off-package tier with a price
    tier_uses: tuple[TierUse, ...] = (TierUse.SPILL, TierUse.PARK)
    tier_gb_per_device: tuple[Gigabytes, ...] | None = None  # None = one tier unit
    # the purchase price of every tier offered instead of the catalog's (a what-if: where a tier
    # starts to pay); a tier without a catalog price is offered at it
    tier_price_usd_per_gb: UsdPerGb | None = None
    accelerators: tuple[Id, ...] | None = None
    exclude_accelerators: tuple[Id, ...] = ()
    tp: tuple[Parallelism, ...] = (1, 2, 4, 8)
    ep: tuple[Parallelism, ...] = (1,)
    # attention data-parallel ranks: each holds its own sequences' KV, and the ranks share one
    # expert pool (ep > 1, up to tp × dp); an instance is tp × dp devices
    dp: tuple[Parallelism, ...] = (1,)
    precisions: tuple[StrictStr, ...] = ("bf16", "fp8")
    kv_precision: StrictStr | None = None  # None = the weights' precision
    mode: Mode = Mode.CALIBRATED
    engine: Id | None = None  # serving engine (catalogs/engines.toml); None: the vendor's
    # how devices are bought: "system" in whole units (owned: each accelerator's reference
    # system; rented: its smallest cloud instance), "device" one at a time; None: system
    granularity: Literal["device", "system"] | None = None

    @model_validator(mode="after")
    def _something_allowed(self) -> Styles:
        if not (self.aggregated or self.disaggregated):
            raise ValueError("aggregated: at least one of aggregated, disaggregated must be true")
        for name in ("tp", "ep", "dp", "precisions", "tier_uses"):
            if not getattr(self, name):
                raise ValueError(f"{name}: must list at least one value")
        return self


class SolverName(StrEnum):
    CBC = "cbc"
    HIGHS = "highs"


class SolverSection(StrictModel):
    name: SolverName = SolverName.HIGHS  # proves the bundled and benchmark optima fastest
    time_limit_s: Seconds | None = 60.0
    gap: Fraction = 0.0  # relative MIP gap at which to stop
    seed: Seed = 0
    assignment: Literal["split", "whole-class"] = "split"
    # whole-class: slices per class
    slice_factor: Annotated[int, Field(ge=1, le=64, strict=True)] = 1


class ProblemSpec(StrictModel):
    problem: ProblemInfo
    catalog: CatalogSection = CatalogSection()
    serve: tuple[Serve, ...] = ()
    measured: Measured | None = None
    objective: ObjectiveSection = ObjectiveSection()
    constraints: Constraints = Constraints()
    styles: Styles = Styles()
    solver: SolverSection = SolverSection()

    @model_validator(mode="after")
    def _one_kind(self) -> ProblemSpec:
        if bool(self.serve) == (self.measured is not None):
            raise ValueError("serve: give either [[serve]] entries or a [measured] table")
        names = [s.class_name for s in self.serve]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate:
            raise ValueError(f"serve: class {duplicate!r} appears twice; name each one")
        return self
