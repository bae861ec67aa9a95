"""What one accelerator and one GB of memory tier cost per hour, and what a server adds in power
(docs/model.md §9): amortized purchase under owned pricing, the rental rate under cloud pricing."""

from __future__ import annotations

from dataclasses import dataclass

from optimizer.catalog.catalog import Catalog
from optimizer.catalog.economics import Economics
from optimizer.catalog.hardware import Accelerator, MemoryTier, System
from optimizer.catalog.host import host_power_w
from optimizer.catalog.problem_spec import Pricing
from optimizer.catalog.units import HOURS_PER_YEAR, WH_PER_KWH


@dataclass(frozen=True, slots=True)
class DevicePrice:
    """Per accelerator: hardware and network $/h (energy excluded) and its share of its
    reference system's typical host power (``catalog.host``)."""

    hardware_usd_per_hour: float
    network_usd_per_hour: float
    overhead_w: float
    source: str  # where the price came from, for the report


def amortized_usd_per_hour(price_usd: float, economics: Economics) -> float:
    """A purchase spread evenly over its depreciation period."""
    return price_usd / (economics.depreciation_years * HOURS_PER_YEAR)


def energy_usd_per_wh(economics: Economics, pricing: Pricing) -> float:
    """What one Wh of IT energy costs: electricity × PUE when owned; included in a rental rate."""
    if pricing is Pricing.CLOUD:
        return 0.0
    return economics.electricity_usd_per_kwh * economics.pue / WH_PER_KWH


def _system(catalog: Catalog, acc: Accelerator) -> System | None:
    """The catalog's smallest server, rack or slice built from ``acc``."""
    systems = [s for s in catalog.systems.values() if s.accelerator == acc.id]
    return min(systems, key=lambda s: s.n_accelerators, default=None)


def device_price(
    catalog: Catalog, acc: Accelerator, pricing: Pricing, economics: Economics
) -> DevicePrice | None:
    """The price of one ``acc`` under ``pricing``; None when the catalog has none.

    A system's price is shared evenly by its accelerators, so a server's CPUs, NICs and fans
    are paid for; without a system, the accelerator's own price. The host power is the
    reference system's (``catalog.host``), the same ``estimate`` reports. Owned hardware also
    pays one scale-out port per accelerator where the link lists a port price.
    """
    system = _system(catalog, acc)
    overhead_w, _ = host_power_w(catalog, acc)
    if pricing is Pricing.CLOUD:
        if system is not None and system.cloud_usd_per_hour is not None:
            rate = system.cloud_usd_per_hour / system.n_accelerators
            return DevicePrice(
                rate, 0.0, overhead_w, f"{system.id} cloud rate / {system.n_accelerators}"
            )
        if acc.cloud_usd_per_hour is not None:
            return DevicePrice(acc.cloud_usd_per_hour, 0.0, overhead_w, f"{acc.id} cloud rate")
        return None
    if system is not None and system.price_usd is not None:
        price, source = (
            system.price_usd / system.n_accelerators,
            f"{system.id} price / {system.n_accelerators}",
        )
    elif acc.price_usd is not None:
        price, source = acc.price_usd, f"{acc.id} price"
    else:
        return None
    link = catalog.interconnects.get(acc.scale_out_link) if acc.scale_out_link else None
    port = link.cost_usd_per_port if link is not None and link.cost_usd_per_port else 0.0
    return DevicePrice(
        amortized_usd_per_hour(price, economics),
        amortized_usd_per_hour(port, economics),
        overhead_w,
        f"{source} over {economics.depreciation_years:g} years",
    )


def tier_usd_per_gb_hour(tier: MemoryTier, economics: Economics) -> float | None:
    """A tier's purchase price per GB, amortized (rented fleets buy their tiers too: no cloud
    rate exists for them)."""
    if tier.price_usd_per_gb is None:
        return None
    return amortized_usd_per_hour(tier.price_usd_per_gb, economics)
