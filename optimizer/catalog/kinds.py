"""The catalog's entry kinds: the CLI name, the TOML array-of-tables key, and the schema."""

from __future__ import annotations

from dataclasses import dataclass

from optimizer.catalog.base import Entry
from optimizer.catalog.economics import Economics
from optimizer.catalog.efficiency_spec import EfficiencyFactors, EngineOverheads, PowerFactors
from optimizer.catalog.engine_spec import Engine
from optimizer.catalog.hardware import Accelerator, Interconnect, MemoryTier, System
from optimizer.catalog.model_arch import ModelArch
from optimizer.catalog.workload_spec import Workload


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of catalog entry: ``[[table]]`` in TOML files, ``name`` on the command line."""

    name: str
    table: str
    schema: type[Entry]


KINDS: tuple[Kind, ...] = (
    Kind("accelerators", "accelerator", Accelerator),
    Kind("memory", "memory", MemoryTier),
    Kind("interconnects", "interconnect", Interconnect),
    Kind("systems", "system", System),
    Kind("models", "model", ModelArch),
    Kind("workloads", "workload", Workload),
    Kind("economics", "economics", Economics),
    Kind("engines", "engine", Engine),
    Kind("efficiency", "efficiency", EfficiencyFactors),
    Kind("overheads", "overhead", EngineOverheads),
    Kind("power", "power", PowerFactors),
)
KIND_BY_NAME = {k.name: k for k in KINDS}
KIND_BY_TABLE = {k.table: k for k in KINDS}
