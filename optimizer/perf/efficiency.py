"""Efficiency factors: how far a real serving stack falls short of the roofline (docs/model.md §4).

A few physically meaningful numbers per phase. The *hardware* factors belong to an accelerator
family (vendor and generation): the fraction of peak FLOP/s and of memory bandwidth its kernels
reach, and the fraction of that FLOP/s a MoE layer's routed experts reach (``expert``: routing,
token permutation and grouped GEMMs over uneven expert loads, one value for every family).
The *engine* factors belong to a serving engine (TensorRT-LLM, vLLM, ...), whatever the
hardware: a fixed overhead per layer per step (kernel launches, synchronization; smaller inside
a captured CUDA graph), the latency each hop of a collective pays as a multiple of the link's
catalog latency, the fraction of link bandwidth collectives reach, and a host-side overhead per
sequence per step (scheduling, sampling, bookkeeping). ``SOL`` is the pure roofline.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from math import isnan

from optimizer.catalog.efficiency_spec import EngineOverheads, PowerFactors
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
    sol: float  # its value under the pure roofline
    engine: bool  # a serving engine's factor (else the hardware family's)


FACTORS = (
    Factor("compute", "compute_eff", 1.0, 0.5, 0.02, 1.0, 1.0, False),
    Factor("memory", "memory_eff", 1.0, 0.7, 0.05, 1.0, 1.0, False),
    Factor("expert", "expert_eff", 1.0, 0.7, 0.2, 1.0, 1.0, False),
    Factor("overhead_us_per_layer", "overhead_s_per_layer", MICRO, 50.0, 0.0, 2000.0, 0.0, True),
    Factor(
        "graph_overhead_us_per_layer",
        "graph_overhead_s_per_layer",
        MICRO,
        10.0,
        0.0,
        2000.0,
        0.0,
        True,
    ),  # fmt: skip
    Factor("hop_latency_scale", "hop_latency_scale", 1.0, 0.5, 0.0, 20.0, 0.0, True),
    Factor(
        "overhead_us_per_sequence", "overhead_s_per_sequence", MICRO, 5.0, 0.0, 500.0, 0.0, True
    ),  # fmt: skip
    Factor("link", "link_eff", 1.0, 0.5, 0.05, 1.0, 1.0, True),
)
HARDWARE_FACTORS = tuple(f.name for f in FACTORS if not f.engine)
ENGINE_FACTORS = tuple(f.name for f in FACTORS if f.engine)
"""The efficiency factors, defined once: every other list of them is derived from this one
(``PhaseEfficiency``'s fields, the catalog schema's and ``Config``'s are checked against it)."""


@dataclass(frozen=True, slots=True)
class PhaseEfficiency:
    """Factors for one phase; 0 < compute, memory ≤ 1; overhead and latency scale ≥ 0."""

    compute: float = 1.0
    memory: float = 1.0
    expert: float = 1.0  # routed experts' FLOP/s relative to the dense GEMMs' (MoE layers)
    overhead_us_per_layer: float = 0.0
    graph_overhead_us_per_layer: float = 0.0  # inside a captured CUDA graph
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
    """Factors of one accelerator family; ``origin`` says where they came from. Under
    ``smooth`` (every calibrated model) two overlapped times combine in quadrature, not by
    their maximum (docs/model.md §4): a kernel near its ridge point reaches neither roof, and
    a host launching close to the device's pace stalls it now and then."""

    prefill: PhaseEfficiency
    decode: PhaseEfficiency
    origin: str
    power: PowerShares = UNFITTED_POWER
    smooth: bool = True

    def phase(self, phase: Phase) -> PhaseEfficiency:
        return self.prefill if phase is Phase.PREFILL else self.decode


SOL = Efficiency(PhaseEfficiency(), PhaseEfficiency(), "sol: pure roofline", smooth=False)

DEFAULT_FAMILY = "default"
"""The entry used for a family the table does not list (fit on every row)."""

DEFAULT_ENGINE = "default"
"""The overheads used for an engine the table does not list (fit on every engine's rows)."""

ENGINE_SET = float("nan")
"""An engine factor a family entry leaves to the serving engine (resolved by ``lookup``)."""


@dataclass(frozen=True, slots=True)
class EfficiencyTable:
    """Hardware factors by family (``default`` the fallback) and engine factors by engine
    (``default`` the fallback). A family's entry may fix engine factors itself (files written
    before engine profiles); the ones it leaves are :data:`ENGINE_SET`."""

    by_family: dict[str, Efficiency]
    source: str  # the file they were read from
    by_engine: dict[str, dict[Phase, dict[str, float]]] = field(default_factory=dict)

    def lookup(self, family: str, engine: str | None = None) -> tuple[Efficiency, str | None]:
        """Factors for ``family`` under ``engine`` (None: the default engine's overheads) and a
        note when a default had to stand in."""
        notes = []
        base = self.by_family.get(family)
        if base is None:
            base = self.by_family.get(DEFAULT_FAMILY)
            notes.append(
                f"no efficiency factors for {family} and no default: pure roofline used"
                if base is None
                else f"no efficiency factors fitted for {family}: the default entry is used"
            )
            base = base or SOL
        overheads = self.by_engine.get(engine or DEFAULT_ENGINE)
        if overheads is None:
            overheads = self.by_engine.get(DEFAULT_ENGINE, {})
            if engine is not None and self.by_engine:
                notes.append(f"no overheads fitted for engine {engine}: the default's are used")
        resolved = {
            phase: replace(
                base.phase(phase),
                **{
                    f.name: overheads.get(phase, {}).get(f.name, f.sol)
                    for f in FACTORS
                    if f.engine and isnan(getattr(base.phase(phase), f.name))
                },
            )
            for phase in Phase
        }
        efficiency = replace(base, prefill=resolved[Phase.PREFILL], decode=resolved[Phase.DECODE])
        return efficiency, "; ".join(notes) or None


def table_from_entries(entries, source: str) -> EfficiencyTable:
    """Group ``[[efficiency]]``, ``[[overhead]]`` and ``[[power]]`` entries; a family missing a
    phase or power shares borrows the default's (or the roofline's and :data:`UNFITTED_POWER`
    when there is no default), an engine missing a phase the default engine's."""
    stated: dict[str, dict[str, dict]] = {}
    power: dict[str, PowerShares] = {}
    engines: dict[str, dict[Phase, dict[str, float]]] = {}
    for e in entries:
        if isinstance(e, PowerFactors):
            power[e.family] = PowerShares(**{name: getattr(e, name) for name in POWER_SHARES})
        elif isinstance(e, EngineOverheads):
            engines.setdefault(e.engine, {})[Phase(e.phase)] = {
                name: getattr(e, name) for name in ENGINE_FACTORS
            }
        else:
            given = {f.name: getattr(e, f.name) for f in FACTORS}
            if given["graph_overhead_us_per_layer"] is None:  # a file from before graphs
                given["graph_overhead_us_per_layer"] = given["overhead_us_per_layer"]
            stated.setdefault(e.family, {})[e.phase] = given
    phases = {
        family: {
            phase: PhaseEfficiency(**_resolved(given, stated.get(DEFAULT_FAMILY, {}).get(phase)))
            for phase, given in by_phase.items()
        }
        for family, by_phase in stated.items()
    }
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
    fallback = engines.get(DEFAULT_ENGINE, {})
    by_engine = {
        engine: {phase: given.get(phase) or fallback.get(phase, {}) for phase in Phase}
        for engine, given in engines.items()
    }
    return EfficiencyTable(by_family, source, by_engine)


def _resolved(given: dict, default: dict | None) -> dict[str, float]:
    """An entry's factors: an engine factor it leaves is :data:`ENGINE_SET`; a hardware factor
    it leaves (``expert``, in files from before it) is the default family's for the phase, else
    the roofline's."""
    out = {}
    for f in FACTORS:
        value = given[f.name]
        if value is None and not f.engine:
            value = (default or {}).get(f.name)
        out[f.name] = (ENGINE_SET if f.engine else f.sol) if value is None else value
    return out
