"""The loaded catalog: every entry by kind and id, with where it came from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from optimizer.catalog.base import Entry
from optimizer.catalog.economics import Economics
from optimizer.catalog.efficiency_spec import EfficiencyFactors, EngineOverheads, PowerFactors
from optimizer.catalog.engine_spec import Engine
from optimizer.catalog.hardware import Accelerator, Interconnect, MemoryTier, System
from optimizer.catalog.model_arch import ModelArch
from optimizer.catalog.workload_spec import Workload
from optimizer.errors import HetplanError


class Origin(StrEnum):
    """Where an entry comes from."""

    BUNDLED = "bundled"  # the catalog shipped with hetplan
    USER = "user"  # a user directory, new id
    OVERRIDE = "override"  # a user directory, replacing a bundled entry of the same id


@dataclass(frozen=True, slots=True)
class Record:
    """One entry with its kind name, the file it was read from and its origin."""

    kind: str
    entry: Entry
    file: str
    origin: Origin


class UnknownIdError(HetplanError, KeyError):
    """An id the catalog does not hold."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class Catalog:
    """Immutable view of a merged catalog (bundled directory plus user directories).

    ``fingerprint`` is a SHA-256 over the files read, so results can say which catalog they used.
    """

    records: Mapping[tuple[str, str], Record]
    fingerprint: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "records", MappingProxyType(dict(self.records)))
        by_kind: dict[str, dict[str, Entry]] = {}
        for (kind, entry_id), record in self.records.items():
            by_kind.setdefault(kind, {})[entry_id] = record.entry
        object.__setattr__(self, "_by_kind", {k: MappingProxyType(v) for k, v in by_kind.items()})

    def entries(self, kind: str) -> Mapping[str, Entry]:
        """All entries of one kind (``accelerators``, ``models``...), by id in load order;
        indexed once, since the performance model asks for them in inner loops."""
        return self._by_kind.get(kind, MappingProxyType({}))

    def find(self, entry_id: str) -> Record:
        """The record with this id, whatever its kind."""
        for (_, i), record in self.records.items():
            if i == entry_id:
                return record
        raise UnknownIdError(f"no catalog entry with id {entry_id!r}")

    def get(self, kind: str, entry_id: str) -> Entry:
        try:
            return self.records[(kind, entry_id)].entry
        except KeyError:
            known = ", ".join(sorted(self.entries(kind))) or "none"
            raise UnknownIdError(f"no {kind} entry with id {entry_id!r}; known: {known}") from None

    @property
    def accelerators(self) -> Mapping[str, Accelerator]:
        return self.entries("accelerators")

    @property
    def memory(self) -> Mapping[str, MemoryTier]:
        return self.entries("memory")

    @property
    def interconnects(self) -> Mapping[str, Interconnect]:
        return self.entries("interconnects")

    @property
    def systems(self) -> Mapping[str, System]:
        return self.entries("systems")

    @property
    def models(self) -> Mapping[str, ModelArch]:
        return self.entries("models")

    @property
    def workloads(self) -> Mapping[str, Workload]:
        return self.entries("workloads")

    @property
    def economics(self) -> Mapping[str, Economics]:
        return self.entries("economics")

    @property
    def efficiency(self) -> Mapping[str, EfficiencyFactors]:
        return self.entries("efficiency")

    @property
    def power(self) -> Mapping[str, PowerFactors]:
        return self.entries("power")

    @property
    def engines(self) -> Mapping[str, Engine]:
        return self.entries("engines")

    @property
    def overheads(self) -> Mapping[str, EngineOverheads]:
        return self.entries("overheads")
