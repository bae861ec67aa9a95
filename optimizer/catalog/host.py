"""An accelerator's host and idle power: one rule that ``estimate`` and ``solve`` share.

A device never runs alone: its server's CPUs, DRAM, NICs, switches and fans draw power too. The
server is the accelerator's *reference system*: the one it names, else the smallest system that
lists it, else the catalog's generic host (``kind = "host"``) for cards sold alone. Its typical
host power (``host_power_w``, not the rating) is shared evenly by the devices it holds.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Protocol

from optimizer.catalog.hardware import Accelerator, Attachment, MemoryTier, System, SystemKind


class Hosts(Protocol):
    """What these rules read; a catalog is one."""

    @property
    def accelerators(self) -> Mapping[str, Accelerator]: ...

    @property
    def systems(self) -> Mapping[str, System]: ...


def reference_system(catalog: Hosts, acc: Accelerator) -> System | None:
    """The system whose host serves ``acc`` (None only in a catalog without any host)."""
    if acc.reference_system is not None:
        return catalog.systems[acc.reference_system]
    listing = [s for s in catalog.systems.values() if s.accelerator == acc.id]
    if listing:
        return min(listing, key=lambda s: s.n_accelerators)
    hosts = [s for s in catalog.systems.values() if s.kind is SystemKind.HOST]
    return min(hosts, key=lambda s: s.id, default=None)


def host_power_w(catalog: Hosts, acc: Accelerator) -> tuple[float, str]:
    """(W, where from): one device's share of its reference system's typical host power."""
    system = reference_system(catalog, acc)
    if system is None:
        return 0.0, "no system or generic host in the catalog: host power taken as 0 W"
    share = system.host_power_w / system.n_accelerators
    return share, f"{system.id} host_power_w {system.host_power_w:g} W / {system.n_accelerators}"


def idle_fraction_of_tdp(catalog) -> float:
    """The median idle/TDP ratio of ``catalog.accelerators`` that publish an idle power."""
    ratios = [a.idle_w / a.tdp_w for a in catalog.accelerators.values() if a.idle_w is not None]
    return float(statistics.median(ratios)) if ratios else 0.0


def idle_power_w(catalog, acc: Accelerator, idle_share=None) -> tuple[float, str | None]:
    """(W, note): the device's idle power; one that publishes none gets the median idle share
    of TDP of ``catalog.accelerators`` (0 W would make it look free to keep on), with a note.
    ``idle_share``: that median, where the caller has it already (it reads every accelerator)."""
    if acc.idle_w is not None:
        return acc.idle_w, None
    frac = idle_fraction_of_tdp(catalog) if idle_share is None else idle_share
    return frac * acc.tdp_w, (
        f"{acc.id} lists no idle power: estimated as the catalog median {frac:.1%} of TDP"
    )


def tier_slots_per_device(catalog: Hosts, acc: Accelerator, tier: MemoryTier) -> float | None:
    """Units of a host or expander ``tier`` one device's server holds for it: the reference
    system's ``tier_slots`` over its accelerators (0 when it lists none for this tier). None
    for tiers no server slot limits (pooled appliances, on-package memory)."""
    if tier.attach not in (Attachment.HOST, Attachment.EXPANDER):
        return None
    system = reference_system(catalog, acc)
    if system is None:
        return None
    return system.tier_slots.get(tier.id, 0) / system.n_accelerators
