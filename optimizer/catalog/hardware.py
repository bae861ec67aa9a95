"""Hardware entries: accelerators, memory tiers, interconnects, and the systems they ship in."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, StrictInt, model_validator

from optimizer.catalog.base import (
    Entry,
    Id,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    StrictModel,
    Usd,
    UsdPerHour,
)
from optimizer.catalog.units import GIB, GIGA


class DenseTflops(StrictModel):
    """Dense (no 2:4 sparsity) peak per compute dtype; a missing dtype is unsupported.

    The ``int8`` entry is tera-operations per second. fp16 runs at the bf16 peak.
    """

    fp32: PositiveFloat | None = None
    bf16: PositiveFloat | None = None
    fp8: PositiveFloat | None = None
    fp4: PositiveFloat | None = None
    int8: PositiveFloat | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> DenseTflops:
        if not self.supported():
            raise ValueError(
                "no compute dtype given; name at least one of fp32, bf16, fp8, fp4, int8"
            )
        return self

    def supported(self) -> dict[str, float]:
        """The dtypes this device computes, with their dense peak in TFLOPS (TOPS for int8)."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class Accelerator(Entry):
    """One accelerator package as the vendor sells it (per GPU for superchips)."""

    vendor: str
    family: Id  # vendor and generation, e.g. "nvidia-hopper"; groups efficiency factors
    year: StrictInt
    dense_tflops: DenseTflops
    memory_type: Id
    memory_capacity_gb: PositiveFloat  # marketed figure (GiB-quoted figures converted)
    memory_usable_gb: PositiveFloat | None = None  # what the software stack can allocate
    memory_bandwidth_tb_per_s: PositiveFloat
    sram_mb: PositiveFloat | None = None  # on-chip SRAM / last-level cache
    scale_up_link: Id | None = None
    scale_up_bandwidth_gb_per_s_per_direction: PositiveFloat | None = None
    scale_up_domain: PositiveInt = 1  # devices reachable over the scale-up link
    scale_out_link: Id | None = None
    scale_out_bandwidth_gb_per_s_per_direction: PositiveFloat | None = None
    host_link: Id | None = None
    # this device's share of its host link, where it differs from the link's per-device figure
    host_bandwidth_gb_per_s_per_direction: PositiveFloat | None = None
    tdp_w: PositiveFloat
    idle_w: PositiveFloat | None = None
    price_usd: Usd | None = None
    cloud_usd_per_hour: UsdPerHour | None = None
    # the device counts the cloud rate is rented in (e.g. [1, 2, 4, 8]); rented fleets take whole
    # instances of the smallest, so each size must be a multiple of it. Unset: one at a time
    cloud_instance_devices: tuple[PositiveInt, ...] | None = Field(default=None, min_length=1)
    # the system whose host (CPUs, DRAM, NICs, fans) serves this device; by default the smallest
    # system that lists it, else the catalog's generic host (catalog.host.reference_system)
    reference_system: Id | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Accelerator:
        if not 2010 <= self.year <= 2035:
            raise ValueError(f"year: must be between 2010 and 2035, got {self.year}")
        # HBM stacks are binary-sized, so usable bytes may exceed a marketed "GB" read as 10^9,
        # but never the marketed figure read as GiB.
        limit_gb = self.memory_capacity_gb * GIB / GIGA
        if self.memory_usable_gb is not None and self.memory_usable_gb > limit_gb:
            raise ValueError(
                f"memory_usable_gb: must be <= memory_capacity_gb read as GiB ({limit_gb:.1f}),"
                f" got {self.memory_usable_gb}"
            )
        if self.idle_w is not None and self.idle_w >= self.tdp_w:
            raise ValueError(f"idle_w: must be < tdp_w ({self.tdp_w}), got {self.idle_w}")
        if self.scale_up_domain > 1 and self.scale_up_link is None:
            raise ValueError(
                f"scale_up_link: required when scale_up_domain > 1 (got {self.scale_up_domain})"
            )
        if self.scale_up_bandwidth_gb_per_s_per_direction and self.scale_up_link is None:
            raise ValueError("scale_up_link: required when a scale-up bandwidth is given")
        if self.scale_out_bandwidth_gb_per_s_per_direction and self.scale_out_link is None:
            raise ValueError("scale_out_link: required when a scale-out bandwidth is given")
        if self.host_bandwidth_gb_per_s_per_direction and self.host_link is None:
            raise ValueError("host_link: required when a host bandwidth is given")
        sizes = self.cloud_instance_devices or (1,)
        if any(size % min(sizes) for size in sizes):
            raise ValueError(
                f"cloud_instance_devices: every size must be a multiple of the smallest, got"
                f" {list(sizes)}"
            )
        return self

    @property
    def cloud_unit_devices(self) -> int:
        """The fewest devices one can rent: whole multiples of it are every fleet one can."""
        return min(self.cloud_instance_devices or (1,))

    def links(self) -> dict[str, str]:
        """Field name -> interconnect id for every link this device names."""
        names = ("scale_up_link", "scale_out_link", "host_link")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


class Attachment(StrEnum):
    """Where a memory tier sits relative to the accelerator."""

    ON_PACKAGE = "on-package"  # HBM beside the die
    ON_BOARD = "on-board"  # GDDR / LPDDR on the card
    HOST = "host"  # CPU memory reached over a host or chip-to-chip link
    EXPANDER = "expander"  # CXL memory expander
    POOLED = "pooled"  # shared appliance behind a fabric link


class MemoryTier(Entry):
    """A memory technology; bandwidth and capacity are per unit (stack, module, channel...)."""

    attach: Attachment
    link: Id | None = None  # interconnect that reaches the tier (off-package tiers)
    unit: str  # what one unit is: "stack", "device", "channel", "module", "appliance"...
    capacity_gb_per_unit: PositiveFloat
    bandwidth_gb_per_s_per_unit: PositiveFloat
    latency_ns: PositiveFloat
    energy_pj_per_bit: PositiveFloat
    # 0 where the memory comes only with its system, whose price already pays for it
    price_usd_per_gb: NonNegativeFloat | None = None
    # devices one unit can serve at once (a pooled appliance's fabric radix); each then gets
    # at most bandwidth_gb_per_s_per_unit / max_devices_per_unit. None: units are a host's own
    max_devices_per_unit: PositiveInt | None = None

    @model_validator(mode="after")
    def _pooled_needs_link(self) -> MemoryTier:
        if self.attach in (Attachment.POOLED, Attachment.EXPANDER) and self.link is None:
            raise ValueError(f"link: required for a tier attached as {self.attach.value!r}")
        return self


class LinkScope(StrEnum):
    """What a link connects."""

    SCALE_UP = "scale-up"  # accelerator to accelerator inside a domain
    SCALE_OUT = "scale-out"  # between domains (NICs and switches)
    HOST = "host"  # accelerator to host CPU / peripherals
    CHIP_TO_CHIP = "chip-to-chip"  # on-package or superchip coherent link
    MEMORY = "memory"  # link to a memory expander or pool


class Interconnect(Entry):
    """A link technology; bandwidth is per device and per direction."""

    scope: LinkScope
    bandwidth_gb_per_s_per_direction: PositiveFloat
    latency_us: PositiveFloat
    energy_pj_per_bit: PositiveFloat
    max_domain: PositiveInt
    cost_usd_per_port: PositiveFloat | None = None


class SystemKind(StrEnum):
    NODE = "node"
    RACK = "rack"
    SLICE = "slice"
    HOST = "host"  # a generic server for cards sold alone: no accelerator of its own


class System(Entry):
    """A purchasable node, rack or cloud slice: the unit that fleet cost and power come from.

    ``overhead_power_w`` is the rated maximum beyond the accelerators' TDP; ``host_power_w``
    what the host (CPUs, DRAM, NICs, switches, fans, conversion losses) typically draws while
    the system serves, the figure power and energy use."""

    kind: SystemKind
    accelerator: Id | None = None
    n_accelerators: PositiveInt
    overhead_power_w: NonNegativeFloat
    host_power_w: NonNegativeFloat
    price_usd: Usd | None = None
    # what the system costs beyond its accelerators (CPUs, DRAM, NICs, chassis, storage, power
    # supplies): an owned card priced alone pays its share of its reference system's
    host_price_usd: NonNegativeFloat | None = None
    cloud_usd_per_hour: UsdPerHour | None = None
    rack_units: PositiveInt | None = None
    rack_power_w: PositiveFloat | None = None
    # memory-tier id -> units of it the system can hold (DIMM slots, CXL bays, CPU sockets);
    # a tier listed here is limited to tier_slots / n_accelerators units per device
    tier_slots: dict[Id, PositiveInt] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _host_fits(self) -> System:
        if (self.accelerator is None) != (self.kind is SystemKind.HOST):
            raise ValueError(
                "accelerator: required for a node, rack or slice; a generic host has none"
            )
        if self.host_power_w > self.overhead_power_w:
            raise ValueError(
                f"host_power_w: must be <= overhead_power_w ({self.overhead_power_w}), the"
                f" rated maximum, got {self.host_power_w}"
            )
        if None not in (self.price_usd, self.host_price_usd) and (
            self.host_price_usd >= self.price_usd
        ):
            raise ValueError(
                f"host_price_usd: must be < price_usd ({self.price_usd}), the whole system's,"
                f" got {self.host_price_usd}"
            )
        return self
