"""Efficiency factors: how far a real serving stack falls short of the roofline (docs/model.md §4).

A few physically meaningful numbers per accelerator family (vendor and generation) and phase:
the fraction of peak FLOP/s and of memory bandwidth the kernels reach, a fixed overhead per
layer per step (kernel launches, synchronization), the latency each ring hop of a collective pays
as a multiple of the link's catalog latency, the fraction of link bandwidth collectives reach,
and a host-side overhead per sequence per step (scheduling, sampling, bookkeeping). ``SOL`` is
the pure roofline.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from optimizer.catalog.efficiency_spec import PowerFactors
from optimizer.catalog.units import MICRO


class Phase(StrEnum):
    PREFILL = "prefill"
    DECODE = "decode"


@dataclass(frozen=True, slots=True)
class Factor:
    """One efficiency factor: its name (in catalog entries, :class:`PhaseEfficiency` and fitted
    TOML), the suffix of its SI field in ``Config`` with the conversion to it, and the start
    and bounds of its fit."""

    name: str
    config_suffix: str
    to_si: float
    fit_start: float
    fit_lower: float
    fit_upper: float  # compute and memory are also capped by microbenchmark fractions


FACTORS = (
    Factor("compute", "compute_eff", 1.0, 0.5, 0.02, 1.0),
    Factor("memory", "memory_eff", 1.0, 0.7, 0.05, 1.0),
    Factor("overhead_us_per_layer", "overhead_s_per_layer", MICRO, 50.0, 0.0, 2000.0),
    Factor("hop_latency_scale", "hop_latency_scale", 1.0, 0.5, 0.0, 20.0),
    Factor("overhead_us_per_sequence", "overhead_s_per_sequence", MICRO, 5.0, 0.0, 500.0),
    Factor("link", "link_eff", 1.0, 0.5, 0.05, 1.0),
)
"""The efficiency factors, defined once: every other list of them is derived from this one
(``PhaseEfficiency``'s fields, the catalog schema's and ``Config``'s are checked against it)."""


@dataclass(frozen=True, slots=True)
class PhaseEfficiency:
    """Factors for one phase; 0 < compute, memory ≤ 1; overhead and latency scale ≥ 0."""

    compute: float = 1.0
    memory: float = 1.0
    overhead_us_per_layer: float = 0.0
    hop_latency_scale: float = 0.0
    overhead_us_per_sequence: float = 0.0
    link: float = 1.0  # fraction of link bandwidth a collective reaches (bus bandwidth / peak)


@dataclass(frozen=True, slots=True)
class PowerShares:
    """A device's board power above idle as shares of ``TDP − idle`` (docs/model.md §9):
    ``busy`` whenever it executes a step, plus ``compute`` and ``memory`` times the share of
    the step its compute units and its memory are busy; the sum is capped at 1 (the TDP)."""

    busy: float = 0.0
    compute: float = 1.0
    memory: float = 1.0


UNFITTED_POWER = PowerShares()
"""Without fitted shares: a device busy all step on either compute or memory draws its TDP."""

POWER_SHARES = ("busy", "compute", "memory")


@dataclass(frozen=True, slots=True)
class Efficiency:
    """Factors of one accelerator family; ``origin`` says where they came from."""

    prefill: PhaseEfficiency
    decode: PhaseEfficiency
    origin: str
    power: PowerShares = UNFITTED_POWER

    def phase(self, phase: Phase) -> PhaseEfficiency:
        return self.prefill if phase is Phase.PREFILL else self.decode


SOL = Efficiency(PhaseEfficiency(), PhaseEfficiency(), "sol: pure roofline")

DEFAULT_FAMILY = "default"
"""The entry used for a family the table does not list (fit on every row)."""


@dataclass(frozen=True, slots=True)
class EfficiencyTable:
    """Factors by family, with the ``default`` entry as the fallback."""

    by_family: dict[str, Efficiency]
    source: str  # the file they were read from

    def lookup(self, family: str) -> tuple[Efficiency, str | None]:
        """Factors for ``family`` and a note when the default had to stand in."""
        if family in self.by_family:
            return self.by_family[family], None
        fallback = self.by_family.get(DEFAULT_FAMILY)
        if fallback is None:
            return SOL, f"no efficiency factors for {family} and no default: pure roofline used"
        return fallback, f"no efficiency factors fitted for {family}: the default entry is used"


def table_from_entries(entries, source: str) -> EfficiencyTable:
    """Group ``[[efficiency]]`` and ``[[power]]`` entries by family; a family missing a phase
    or power shares borrows the default's (or the roofline's and :data:`UNFITTED_POWER` when
    there is no default)."""
    phases: dict[str, dict[str, PhaseEfficiency]] = {}
    power: dict[str, PowerShares] = {}
    for e in entries:
        if isinstance(e, PowerFactors):
            power[e.family] = PowerShares(**{name: getattr(e, name) for name in POWER_SHARES})
        else:
            phases.setdefault(e.family, {})[e.phase] = PhaseEfficiency(
                **{f.name: getattr(e, f.name) for f in FACTORS}
            )
    default = phases.get(DEFAULT_FAMILY, {})
    default_power = power.get(DEFAULT_FAMILY, UNFITTED_POWER)
    by_family = {}
    for family in dict.fromkeys([*phases, *power]):
        given = phases.get(family, {})
        pick = {
            p: given.get(p) or default.get(p) or PhaseEfficiency() for p in ("prefill", "decode")
        }
        by_family[family] = Efficiency(
            pick["prefill"],
            pick["decode"],
            f"{source}: {family}",
            power.get(family, default_power),
        )
    return EfficiencyTable(by_family, source)
