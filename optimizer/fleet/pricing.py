"""What one accelerator and one GB of memory tier cost per hour, and what a server adds in power
(docs/model.md §9): amortized purchase under owned pricing, the rental rate under cloud pricing."""

from __future__ import annotations

from dataclasses import dataclass

from optimizer.catalog.catalog import Catalog, Origin
from optimizer.catalog.economics import Economics
from optimizer.catalog.hardware import Accelerator, MemoryTier, System
from optimizer.catalog.host import host_power_w, reference_system
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
    """The system whose price ``acc`` shares: its reference system, when it lists ``acc``."""
    system = reference_system(catalog, acc)
    return system if system is not None and system.accelerator == acc.id else None


def _offers(catalog: Catalog, acc: Accelerator, pricing: Pricing) -> list[tuple]:
    """(kind, entry, $ per accelerator, what it covers) of every figure that prices ``acc``,
    in the documented order: cloud, the accelerator's own rate (a GPU-hour includes its VM's
    host), then its system's rate shared by its accelerators; owned, the system's price shared
    (the whole server: host, NICs, chassis), then the card alone."""
    system = _system(catalog, acc)
    field = "cloud_usd_per_hour" if pricing is Pricing.CLOUD else "price_usd"
    own = ("accelerators", acc, getattr(acc, field), "rate" if pricing is Pricing.CLOUD else
           "card only, no server share")  # fmt: skip
    shared = None
    if system is not None and getattr(system, field) is not None:
        per = getattr(system, field) / system.n_accelerators
        shared = ("systems", system, per, f"{system.id} / {system.n_accelerators}")
    ranked = [own, shared] if pricing is Pricing.CLOUD else [shared, own]
    return [o for o in ranked if o is not None and o[2] is not None]


def device_price(
    catalog: Catalog, acc: Accelerator, pricing: Pricing, economics: Economics
) -> DevicePrice | None:
    """The price of one ``acc`` under ``pricing``; None when the catalog has none.

    One rule per pricing mode (``_offers``), and a figure from the user's own catalog
    (``--catalog`` or a problem's inline entries) always wins over a bundled one. The source
    names the entry and says when its figure is an estimate. The host power is the reference
    system's (``catalog.host``), the same ``estimate`` reports. Owned hardware also pays one
    scale-out port per accelerator where the link lists a port price.
    """
    offers = _offers(catalog, acc, pricing)
    if not offers:
        return None
    user = [o for o in offers if catalog.records[(o[0], o[1].id)].origin is not Origin.BUNDLED]
    kind, entry, price, covers = (user or offers)[0]
    field = "cloud_usd_per_hour" if pricing is Pricing.CLOUD else "price_usd"
    source = f"{entry.id} {field} ({covers})"
    if field in entry.estimated:
        source += ", estimate"
    if user:
        source += ", user catalog"
    overhead_w, _ = host_power_w(catalog, acc)
    if pricing is Pricing.CLOUD:
        return DevicePrice(price, 0.0, overhead_w, source)
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
