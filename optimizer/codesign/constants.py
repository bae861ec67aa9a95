"""The constants that price and power hypothetical parts (``catalogs/codesign/hypothetical.toml``):
each figure a value with its sources, confidence and, where sources disagree, a range.

The file sits below the catalog directory, so the catalog loader (``catalogs/*.toml``) never
reads it; it ships inside the wheel with the catalog (pyproject ``force-include``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, model_validator

from optimizer.catalog.base import MAX_NUMBER, Confidence, Id, StrictModel
from optimizer.catalog.hardware import System, SystemKind
from optimizer.catalog.loader import bundled_catalog_dir, display_path, field_message, read_toml
from optimizer.errors import CatalogError, Problem

CONSTANTS_FILE = Path("codesign") / "hypothetical.toml"
"""Where the bundled constants sit, relative to the bundled catalog directory."""

_Number = Annotated[float, Field(ge=0, le=MAX_NUMBER, allow_inf_nan=False, strict=True)]
_Sources = tuple[Annotated[str, Field(min_length=1)], ...]


class Figure(StrictModel):
    """One sourced number: ``value``, the ``range`` (low, high) the sources span, if they
    disagree, and where it comes from."""

    value: _Number
    range: tuple[_Number, _Number] | None = None
    sources: _Sources = Field(min_length=1)
    confidence: Confidence

    @model_validator(mode="after")
    def _value_in_range(self) -> Figure:
        if self.range is not None and not self.range[0] <= self.value <= self.range[1]:
            low, high = self.range
            raise ValueError(f"value: must lie in range [{low:g}, {high:g}], got {self.value:g}")
        return self


class Positive(Figure):
    """A figure that must be > 0 (a divisor or a size)."""

    @model_validator(mode="after")
    def _positive(self) -> Positive:
        if self.value <= 0:
            raise ValueError(f"value: must be > 0, got {self.value:g}")
        return self


class Fraction(Figure):
    """A fraction in [0, 1): a margin or a static share (1 would divide by zero)."""

    @model_validator(mode="after")
    def _below_one(self) -> Fraction:
        if self.value >= 1:
            raise ValueError(f"value: must be < 1, got {self.value:g}")
        return self


class Count(Figure):
    """A whole number >= 1 (dies, stacks)."""

    @model_validator(mode="after")
    def _whole(self) -> Count:
        if self.value < 1 or not float(self.value).is_integer():
            raise ValueError(f"value: must be a whole number >= 1, got {self.value:g}")
        return self


class Node(StrictModel):
    """``[node.<id>]``: a process node's wafer, yield, compute density and energy."""

    name: str = Field(min_length=1)
    wafer_cost_usd: Positive
    defect_density_per_cm2: Figure
    fp8_tflops_per_mm2: Positive  # dense FP8 per mm² of compute area (I/O area apart)
    w_per_fp8_tflops: Positive  # compute power at full load, per dense FP8 TFLOPS


class Memory(StrictModel):
    """``[memory.<id>]``: one memory technology per unit (HBM stack, LPDDR package, GDDR
    device); the id names the catalog memory tier the part's ``memory_type`` refers to."""

    name: str = Field(min_length=1)
    capacity_gb_per_unit: Positive
    bandwidth_gb_per_s_per_unit: Positive
    usd_per_gb: Positive
    energy_pj_per_bit: Positive
    phy_mm2_per_unit: Figure  # PHY + controller area on the logic die
    interposer_mm2_per_unit: Figure  # footprint on the interposer; 0 on the board
    max_units_per_die: Count  # beachfront: units one die's edge can carry
    max_units_per_package: Count


class Package(StrictModel):
    """``[package]``: reticle, dies, interposer, assembly and the default power limit."""

    reticle_mm2: Positive
    wafer_diameter_mm: Positive
    defect_clustering_alpha: Positive
    max_dies: Count
    host_io_mm2: Figure  # PCIe host interface, on the first die
    die_to_die_mm2_per_die: Figure
    die_to_die_gb_per_s: Figure  # per die-to-die link, per direction
    die_to_die_pj_per_bit: Figure
    interposer_usd_per_mm2: Positive
    interposer_area_ratio: Positive  # interposer area / (dies + memory footprints)
    assembly_test_frac: Fraction  # assembly, test and package yield loss / (logic+memory+pkg)
    power_limit_w: Positive


class ScaleUpLink(StrictModel):
    """``[[scale_up.links]]``: a catalog scale-up interconnect a part may name, with its
    catalog ``max_domain``."""

    id: Id
    max_domain: Count
    sources: _Sources = Field(min_length=1)
    confidence: Confidence


class ScaleUp(StrictModel):
    """``[scale_up]``: the scale-up link's die area, energy and fabric cost per GB/s."""

    phy_mm2_per_gb_per_s: Figure  # per GB/s per direction
    serdes_pj_per_bit: Positive  # one SerDes link crossing, both ends
    fabric_usd_per_gb_per_s: Figure  # switch share per GB/s per direction, a cost
    links: tuple[ScaleUpLink, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _domains_rise(self) -> ScaleUp:
        domains = [link.max_domain.value for link in self.links]
        if domains != sorted(domains):
            raise ValueError(f"links: list them by max_domain, smallest first, got {domains}")
        return self


class Power(StrictModel):
    """``[power]``: the static share of TDP (what an idle device draws)."""

    static_frac: Fraction


class Precision(StrictModel):
    """``[precision]``: dense peaks of other dtypes per dense FP8 FLOP/s."""

    bf16_per_fp8: Positive
    fp4_per_fp8: Positive


class Vendor(StrictModel):
    """``[vendor]``: the gross margin from bill of materials to price."""

    margin_frac: Fraction


class PartDefaults(StrictModel):
    """``[part]``: what every hypothetical part takes unchanged (like a B200's)."""

    year: Annotated[int, Field(ge=2010, le=2035, strict=True)]
    scale_out_link: Id
    scale_out_gb_per_s: Positive
    host_link: Id
    sources: _Sources = Field(min_length=1)
    confidence: Confidence


class Pool(StrictModel):
    """``[pool]``: a pooled memory appliance's DRAM and its links to devices."""

    dram_usd_per_gb: Positive
    dram_energy_pj_per_bit: Positive
    dram_latency_ns: Positive
    link_usd_per_gb_per_s: Figure  # both ends of one device's link, per GB/s per direction
    link_energy_pj_per_bit: Positive
    link_latency_us: Positive


class Constants(StrictModel):
    """A whole constants file."""

    node: dict[Id, Node] = Field(min_length=1)
    memory: dict[Id, Memory] = Field(min_length=1)
    package: Package
    scale_up: ScaleUp
    power: Power
    precision: Precision
    vendor: Vendor
    part: PartDefaults
    pool: Pool
    host: System  # a generic host ([[system]], kind "host") the parts name

    @model_validator(mode="after")
    def _host_is_generic(self) -> Constants:
        if self.host.kind is not SystemKind.HOST:
            raise ValueError(f"host.kind: must be 'host', got {self.host.kind.value!r}")
        if self.host.host_price_usd is None:
            raise ValueError("host.host_price_usd: required: the parts pay their share of it")
        return self


def bundled_constants_path() -> Path:
    """The constants shipped with hetplan, beside the bundled catalog."""
    return bundled_catalog_dir() / CONSTANTS_FILE


def load_constants(path: str | Path | None = None) -> Constants:
    """Read and check a constants file (default: the bundled one).

    Raises:
        CatalogError: one ``FILE: ENTRY: FIELD: message`` line per problem.
    """
    path = bundled_constants_path() if path is None else Path(path)
    name = display_path(path)
    problems: list[Problem] = []
    read = read_toml(path, name, problems)
    if read is None:
        raise CatalogError(problems)
    try:
        return Constants.model_validate(read[1])
    except ValidationError as exc:
        for error in exc.errors():
            entry, rest = _locate(tuple(error["loc"]))
            problems.append(Problem(name, entry, *field_message({**error, "loc": rest})))
        raise CatalogError(problems) from None


def _locate(loc: tuple) -> tuple[str, tuple]:
    """(entry, rest of the path): ``node.n4`` and ``memory.hbm3e`` name their table, other
    sections their own name."""
    if len(loc) > 1 and loc[0] in ("node", "memory"):
        return f"{loc[0]}.{loc[1]}", loc[2:]
    return (str(loc[0]), loc[1:]) if loc else ("", ())
