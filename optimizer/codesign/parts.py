"""Hypothetical parts from design knobs: a catalog accelerator with its die area, bill of
materials, price, TDP and constraint values, a pooled memory appliance, and their generic host.

The model (docs/codesign.md "Hypothetical parts"), every constant from ``constants``:

- area: compute = dense FP8 TFLOPS / TFLOPS per mm² of the node; I/O = memory PHYs + scale-up
  PHY per GB/s + the host interface (+ a die-to-die interface per die when split);
  a part takes the fewest dies that keep each die under the reticle and its memory units
  on the dies' edges, unless ``dies`` is given;
- cost: each die's wafer share / negative-binomial yield, memory $/GB, interposer $/mm²,
  assembly and test as a share of those, the scale-up fabric per GB/s; price = BOM / (1 - margin);
- power: compute W per TFLOPS + memory and link pJ/bit at full bandwidth, over (1 - static
  share); idle = the static share of TDP.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from optimizer.catalog.units import BITS_PER_BYTE, GIGA, PICO
from optimizer.codesign.constants import Constants, Memory, Node, ScaleUpLink
from optimizer.errors import FieldError

VENDOR = FAMILY = "hypothetical"
"""Vendor and family of every designed part: no efficiency factors exist for this family, so
the catalog's ``default`` factors rate it."""
CM2_PER_MM2 = 0.01
CONSTRAINTS = ("reticle", "memory_stacks", "package_power", "scale_up_domain", "dies")
"""The constraint values every part reports, in this order (<= 0 feasible): die area above the
reticle (mm²), memory units above what the dies and package carry, TDP above the power limit
(W), domain above the largest scale-up link's (devices), dies above the package's."""
PART_ESTIMATED = ("dense_tflops", "memory_capacity_gb", "memory_bandwidth_tb_per_s", "tdp_w",
                  "idle_w", "price_usd")  # fmt: skip
"""Every field of a part's entry the model derives (the knobs' own values aside)."""
POOL_ESTIMATED = ("bandwidth_gb_per_s_per_unit", "latency_ns", "energy_pj_per_bit",
                  "price_usd_per_gb")  # fmt: skip
"""Every field of a pool tier the model derives."""


@dataclass(frozen=True)
class AcceleratorKnobs:
    """One accelerator design. ``dies`` None: the fewest dies that fit (see module doc)."""

    node: str  # process node id in the constants
    dense_fp8_tflops: float
    memory: str  # memory technology id
    memory_stacks: int  # units of it: HBM stacks, LPDDR packages, GDDR devices
    scale_up_gb_per_s: float  # per device, per direction
    scale_up_domain: int
    dies: int | None = None


@dataclass(frozen=True)
class PoolKnobs:
    """One pooled memory appliance design."""

    link_gb_per_s_per_device: float  # per direction
    capacity_gb: float  # one appliance
    radix: int  # devices one appliance serves at once


@dataclass(frozen=True)
class Part:
    """A priced and powered accelerator: ``entry`` is a raw ``[[accelerator]]`` table."""

    entry: dict
    die_area_mm2: float  # all dies together
    compute_area_mm2: float
    io_area_mm2: float
    dies: int
    tdp_w: float
    idle_w: float
    bom_usd: dict[str, float]
    price_usd: float
    constraints: dict[str, float]


def dies_per_wafer(die_area_mm2: float, wafer_diameter_mm: float) -> float:
    """Whole dies of one area on a round wafer, edge loss included (LLMCompass
    ``dies_per_wafer_area``): pi r² / A - pi d / sqrt(2 A)."""
    radius = wafer_diameter_mm / 2
    return math.pi * radius**2 / die_area_mm2 - math.pi * wafer_diameter_mm / math.sqrt(
        2 * die_area_mm2
    )


def die_yield(die_area_mm2: float, defects_per_cm2: float, alpha: float) -> float:
    """Negative-binomial yield (1 + A D0 / alpha)^-alpha, A in cm²."""
    return (1 + die_area_mm2 * CM2_PER_MM2 * defects_per_cm2 / alpha) ** -alpha


def good_die_usd(die_area_mm2: float, node: Node, constants: Constants) -> float:
    """One good die's share of its wafer: wafer cost / (dies per wafer x yield)."""
    package = constants.package
    per_wafer = dies_per_wafer(die_area_mm2, package.wafer_diameter_mm.value)
    good = per_wafer * die_yield(
        die_area_mm2, node.defect_density_per_cm2.value, package.defect_clustering_alpha.value
    )
    return node.wafer_cost_usd.value / good


def accelerator_part(
    knobs: AcceleratorKnobs,
    constants: Constants,
    *,
    part_id: str,
    name: str,
    power_limit_w: float | None = None,
) -> Part:
    """Price and power one design and write it as a catalog accelerator.

    Args:
        knobs: the design.
        constants: ``load_constants()``.
        part_id: the entry's catalog id.
        name: the entry's name.
        power_limit_w: package power limit (W); None: the constants' ``package.power_limit_w``.

    Returns:
        The part; its ``constraints`` (<= 0 feasible) hold every name of :data:`CONSTRAINTS`.

    Raises:
        FieldError: ``node`` or ``memory`` names no entry of the constants.
    """
    node = _pick(constants.node, knobs.node, "node")
    memory = _pick(constants.memory, knobs.memory, "memory")
    package, scale_up = constants.package, constants.scale_up
    units = int(knobs.memory_stacks)
    compute_mm2 = knobs.dense_fp8_tflops / node.fp8_tflops_per_mm2.value
    io_mm2 = (
        units * memory.phy_mm2_per_unit.value
        + knobs.scale_up_gb_per_s * scale_up.phy_mm2_per_gb_per_s.value
        + package.host_io_mm2.value
    )
    max_dies = int(package.max_dies.value)
    dies = knobs.dies or _fewest_dies(compute_mm2 + io_mm2, units, memory, constants)
    io_mm2 += package.die_to_die_mm2_per_die.value * dies if dies > 1 else 0.0
    area_mm2 = compute_mm2 + io_mm2
    die_mm2 = area_mm2 / dies

    capacity_gb = units * memory.capacity_gb_per_unit.value
    bandwidth_gb_per_s = units * memory.bandwidth_gb_per_s_per_unit.value
    logic = dies * good_die_usd(die_mm2, node, constants)
    memory_usd = capacity_gb * memory.usd_per_gb.value
    interposer_mm2 = (area_mm2 + units * memory.interposer_mm2_per_unit.value) * (
        package.interposer_area_ratio.value
    )
    packaging = interposer_mm2 * package.interposer_usd_per_mm2.value
    bom = {
        "logic": logic,
        "memory": memory_usd,
        "packaging": packaging,
        "assembly_test": package.assembly_test_frac.value * (logic + memory_usd + packaging),
        "scale_up_fabric": knobs.scale_up_gb_per_s * scale_up.fabric_usd_per_gb_per_s.value,
    }
    margin = constants.vendor.margin_frac.value
    price = sum(bom.values()) / (1 - margin)

    power = {
        "compute": knobs.dense_fp8_tflops * node.w_per_fp8_tflops.value,
        "memory": _watts(bandwidth_gb_per_s, memory.energy_pj_per_bit.value),
        # each bit sent or received crosses one SerDes link, half of whose energy is this end's
        "scale_up": _watts(knobs.scale_up_gb_per_s, scale_up.serdes_pj_per_bit.value),
        # both ends of each die-to-die link are on the package, both directions busy
        "die_to_die": (dies - 1)
        * 2
        * _watts(package.die_to_die_gb_per_s.value, package.die_to_die_pj_per_bit.value),
    }
    static = constants.power.static_frac.value
    tdp = sum(power.values()) / (1 - static)
    idle = static * tdp

    link = _scale_up_link(scale_up.links, int(knobs.scale_up_domain))
    limit = package.power_limit_w.value if power_limit_w is None else power_limit_w
    max_units = min(
        int(memory.max_units_per_package.value), int(memory.max_units_per_die.value) * dies
    )
    constraints = {
        "reticle": die_mm2 - package.reticle_mm2.value,
        "memory_stacks": float(units - max_units),
        "package_power": tdp - limit,
        "scale_up_domain": float(int(knobs.scale_up_domain) - int(link.max_domain.value)),
        "dies": float(dies - max_dies),
    }
    sizes = _Sizes(compute_mm2, io_mm2, dies, capacity_gb, bandwidth_gb_per_s, units)
    entry = _entry(knobs, constants, sizes, link, tdp, idle, price, part_id=part_id, name=name)
    entry["sources"] = _sources(knobs, constants, sizes, bom, power, price, tdp)
    return Part(entry, area_mm2, compute_mm2, io_mm2, dies, tdp, idle, bom, price, constraints)


def pool_entries(knobs: PoolKnobs, constants: Constants, *, pool_id: str) -> dict[str, list[dict]]:
    """A pooled memory appliance as catalog tables: ``{"memory": [tier], "interconnect":
    [link]}``, the tier ``attach = "pooled"`` behind a ``scope = "memory"`` link.

    The appliance serves ``radix`` devices at once, each over its own link, so its bandwidth is
    ``radix x link``. Its price per GB adds the links' cost spread over its capacity (each of
    ``radix`` links costs ``link_usd_per_gb_per_s x link``): the catalog prices a tier per GB.
    """
    pool = constants.pool
    link_id = f"{pool_id}-link"
    link_gb = float(knobs.link_gb_per_s_per_device)
    radix = int(knobs.radix)
    links_usd = radix * link_gb * pool.link_usd_per_gb_per_s.value
    usd_per_gb = pool.dram_usd_per_gb.value + links_usd / knobs.capacity_gb
    origin = "optimizer.codesign.parts.pool_entries with the constants' [pool]"
    tier = {
        "id": pool_id,
        "name": f"hypothetical pooled memory appliance ({pool_id})",
        "attach": "pooled",
        "link": link_id,
        "unit": "appliance",
        "capacity_gb_per_unit": float(knobs.capacity_gb),
        "bandwidth_gb_per_s_per_unit": radix * link_gb,
        "latency_ns": pool.dram_latency_ns.value,
        "energy_pj_per_bit": pool.dram_energy_pj_per_bit.value,
        "price_usd_per_gb": usd_per_gb,
        "max_devices_per_unit": radix,
        "confidence": "uncertain",
        "estimated": list(POOL_ESTIMATED),
        "sources": [
            f"{origin}: capacity {knobs.capacity_gb:g} GB and radix {radix} are design knobs",
            f"bandwidth_gb_per_s_per_unit: radix {radix} x link {link_gb:g} GB/s",
            f"price_usd_per_gb: DRAM {pool.dram_usd_per_gb.value:g} $/GB + {radix} links x "
            f"{link_gb:g} GB/s x {pool.link_usd_per_gb_per_s.value:g} $/(GB/s) / "
            f"{knobs.capacity_gb:g} GB = {usd_per_gb:.3f} $/GB",
            f"latency_ns, energy_pj_per_bit: the appliance's DRAM ({pool.dram_latency_ns.value:g}"
            f" ns, {pool.dram_energy_pj_per_bit.value:g} pJ/bit); the link's are on {link_id}",
        ],
    }
    link = {
        "id": link_id,
        "name": f"hypothetical memory-pool link ({pool_id})",
        "scope": "memory",
        "bandwidth_gb_per_s_per_direction": link_gb,
        "latency_us": pool.link_latency_us.value,
        "energy_pj_per_bit": pool.link_energy_pj_per_bit.value,
        "max_domain": radix,
        "confidence": "uncertain",
        "estimated": ["latency_us", "energy_pj_per_bit"],
        "sources": [
            f"{origin}: bandwidth {link_gb:g} GB/s per device and radix {radix} are design knobs",
            f"latency_us {pool.link_latency_us.value:g}, energy_pj_per_bit "
            f"{pool.link_energy_pj_per_bit.value:g}: the constants' optical link",
        ],
    }
    return {"memory": [tier], "interconnect": [link]}


def host_entries(constants: Constants) -> dict[str, list[dict]]:
    """The generic host every hypothetical part names as its ``reference_system``:
    ``{"system": [host]}``."""
    return {"system": [constants.host.model_dump(mode="json", exclude_none=True)]}


@dataclass(frozen=True)
class _Sizes:
    compute_mm2: float
    io_mm2: float
    dies: int
    capacity_gb: float
    bandwidth_gb_per_s: float
    units: int


def _pick(table: dict, key: str, field: str):
    if key not in table:
        known = ", ".join(sorted(table))
        raise FieldError(field, f"no {field} {key!r} in the co-design constants; known: {known}")
    return table[key]


def _watts(gb_per_s: float, pj_per_bit: float) -> float:
    return gb_per_s * GIGA * BITS_PER_BYTE * pj_per_bit * PICO


def _fewest_dies(area_mm2: float, units: int, memory: Memory, constants: Constants) -> int:
    """The fewest dies, up to the package's most, whose each stays under the reticle and whose
    edges carry ``units`` memory units; the most when none do."""
    package = constants.package
    max_dies = int(package.max_dies.value)
    for dies in range(1, max_dies + 1):
        d2d = package.die_to_die_mm2_per_die.value * dies if dies > 1 else 0.0
        fits = (area_mm2 + d2d) / dies <= package.reticle_mm2.value
        if fits and units <= int(memory.max_units_per_die.value) * dies:
            return dies
    return max_dies


def _scale_up_link(links: tuple[ScaleUpLink, ...], domain: int) -> ScaleUpLink:
    """The first link (smallest ``max_domain`` first) whose domain holds ``domain``, else the
    largest."""
    return next((link for link in links if link.max_domain.value >= domain), links[-1])


def _entry(knobs, constants, sizes: _Sizes, link, tdp, idle, price, *, part_id, name) -> dict:
    fp8 = float(knobs.dense_fp8_tflops)
    precision, part = constants.precision, constants.part
    return {
        "id": part_id,
        "name": name,
        "vendor": VENDOR,
        "family": FAMILY,
        "year": part.year,
        "dense_tflops": {
            "bf16": fp8 * precision.bf16_per_fp8.value,
            "fp8": fp8,
            "fp4": fp8 * precision.fp4_per_fp8.value,
        },
        "memory_type": knobs.memory,
        "memory_capacity_gb": sizes.capacity_gb,
        "memory_bandwidth_tb_per_s": sizes.bandwidth_gb_per_s / 1000,
        "scale_up_link": link.id,
        "scale_up_bandwidth_gb_per_s_per_direction": float(knobs.scale_up_gb_per_s),
        "scale_up_domain": int(knobs.scale_up_domain),
        "scale_out_link": part.scale_out_link,
        "scale_out_bandwidth_gb_per_s_per_direction": part.scale_out_gb_per_s.value,
        "host_link": part.host_link,
        "tdp_w": tdp,
        "idle_w": idle,
        "price_usd": price,
        "reference_system": constants.host.id,
        "confidence": "uncertain",
        "estimated": list(PART_ESTIMATED),
        "notes": (
            "A hypothetical part: its figures come from the co-design model "
            "(optimizer.codesign.parts, catalogs/codesign/hypothetical.toml), not a datasheet. "
            f"Family {FAMILY!r} has no efficiency factors, so the 'default' factors rate it."
        ),
    }


def _sources(knobs, constants, sizes: _Sizes, bom, power, price, tdp) -> list[str]:
    node = constants.node[knobs.node]
    memory = constants.memory[knobs.memory]
    package, scale_up = constants.package, constants.scale_up
    die_mm2 = (sizes.compute_mm2 + sizes.io_mm2) / sizes.dies
    good = good_die_usd(die_mm2, node, constants)
    static = constants.power.static_frac.value
    return [
        "catalogs/codesign/hypothetical.toml (see each constant's sources there); "
        "optimizer.codesign.parts.accelerator_part",
        f"dense_tflops: fp8 {knobs.dense_fp8_tflops:g} is the design's; bf16 = fp8 x "
        f"{constants.precision.bf16_per_fp8.value:g}, fp4 = fp8 x "
        f"{constants.precision.fp4_per_fp8.value:g} (the ratio of current parts)",
        f"memory_capacity_gb / memory_bandwidth_tb_per_s: {sizes.units} x {knobs.memory} "
        f"({memory.capacity_gb_per_unit.value:g} GB, "
        f"{memory.bandwidth_gb_per_s_per_unit.value:g} GB/s per unit)",
        f"die area: compute {knobs.dense_fp8_tflops:g} TFLOPS / "
        f"{node.fp8_tflops_per_mm2.value:g} TFLOPS/mm² ({knobs.node}) = "
        f"{sizes.compute_mm2:.0f} mm² + I/O {sizes.io_mm2:.0f} mm² (memory PHY "
        f"{sizes.units} x {memory.phy_mm2_per_unit.value:g}, scale-up "
        f"{knobs.scale_up_gb_per_s:g} GB/s x {scale_up.phy_mm2_per_gb_per_s.value:g}, host "
        f"{package.host_io_mm2.value:g}, die-to-die when split) on {sizes.dies} die(s) of "
        f"{die_mm2:.0f} mm²",
        f"price_usd: BOM {sum(bom.values()):,.0f} $ (logic {bom['logic']:,.0f}: "
        f"{sizes.dies} x {good:,.0f} $ per good die = wafer "
        f"{node.wafer_cost_usd.value:,.0f} $ / (dies per wafer x yield at D0 "
        f"{node.defect_density_per_cm2.value:g}/cm²); memory {bom['memory']:,.0f}; packaging "
        f"{bom['packaging']:,.0f}; assembly and test {bom['assembly_test']:,.0f}; scale-up "
        f"fabric {bom['scale_up_fabric']:,.0f}) / (1 - margin "
        f"{constants.vendor.margin_frac.value:g}) = {price:,.0f} $",
        f"tdp_w: (compute {power['compute']:.0f} W at {node.w_per_fp8_tflops.value:g} W/TFLOPS"
        f" + memory {power['memory']:.0f} W at {memory.energy_pj_per_bit.value:g} pJ/bit + "
        f"scale-up {power['scale_up']:.0f} W at {scale_up.serdes_pj_per_bit.value:g} pJ/bit + "
        f"die-to-die {power['die_to_die']:.0f} W) / (1 - static {static:g}) = {tdp:.0f} W; "
        f"idle_w = {static:g} x tdp_w",
    ]
