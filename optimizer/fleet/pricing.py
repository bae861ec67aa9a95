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
    """Per accelerator: hardware and network $/h (energy excluded), its share of its reference
    system's typical host power (``catalog.host``), and the unit it is bought or rented in: a
    whole ``unit_name`` of ``unit_devices`` devices under ``styles.granularity = "system"``."""

    hardware_usd_per_hour: float
    network_usd_per_hour: float
    overhead_w: float
    source: str  # where the price came from, for the report
    unit_name: str
    unit_devices: int


def amortized_usd_per_hour(price_usd: float, economics: Economics) -> float:
    """A purchase spread evenly over its depreciation period."""
    return price_usd / (economics.depreciation_years * HOURS_PER_YEAR)


def energy_usd_per_wh(economics: Economics, pricing: Pricing) -> float:
    """What one Wh of IT energy costs: electricity × PUE when owned; included in a rental rate."""
    if pricing is Pricing.CLOUD:
        return 0.0
    return economics.electricity_usd_per_kwh * economics.pue / WH_PER_KWH


@dataclass(frozen=True, slots=True)
class _Offer:
    """One figure that prices an accelerator: the entry and field it is read from, the $ (or
    $/h) per device, what it covers, and the unit it is sold or rented in."""

    kind: str  # catalog section of ``entry``
    entry: Accelerator | System
    field: str
    per_device: float
    covers: str
    unit_name: str
    unit_devices: int
    estimate: bool = False  # a figure it adds (a host share) is an estimate


def _offers(catalog: Catalog, acc: Accelerator, pricing: Pricing) -> list[_Offer]:
    """Every figure that prices ``acc``, in the documented order (docs/model.md §9).

    Cloud: the accelerator's own rate (a GPU-hour includes its VM's host), rented in its
    smallest instance; then its system's rate shared by its accelerators. Owned: the system's
    price shared (the whole server: host, NICs, chassis); then the card plus its share of its
    reference system's ``host_price_usd``; then the card alone, said as such.
    """
    host = reference_system(catalog, acc)
    # the system whose price acc shares: its reference system, when that lists acc
    system = host if host is not None and host.accelerator == acc.id else None
    offers = []
    if pricing is Pricing.CLOUD:
        if acc.cloud_usd_per_hour is not None:
            k = acc.cloud_unit_devices
            name = f"{acc.id} x{k} instance" if k > 1 else acc.id
            offers.append(_Offer("accelerators", acc, "cloud_usd_per_hour", acc.cloud_usd_per_hour,
                                 "rate", name, k))  # fmt: skip
        if system is not None and system.cloud_usd_per_hour is not None:
            n = system.n_accelerators
            offers.append(_Offer("systems", system, "cloud_usd_per_hour",
                                 system.cloud_usd_per_hour / n, f"{system.id} / {n}",
                                 system.id, n))  # fmt: skip
        return offers
    if host is None:
        unit = (acc.id, 1)
    else:
        unit = (host.id if host is system else f"{host.id} of {acc.id}", host.n_accelerators)
    if system is not None and system.price_usd is not None:
        n = system.n_accelerators
        offers.append(_Offer("systems", system, "price_usd", system.price_usd / n,
                             f"{system.id} / {n}", *unit))  # fmt: skip
    if acc.price_usd is not None:
        if host is not None and host.host_price_usd is not None:
            share = host.host_price_usd / host.n_accelerators
            covers = f"card + {host.id} host_price_usd / {host.n_accelerators} = {share:,.0f} $"
            offers.append(_Offer("accelerators", acc, "price_usd", acc.price_usd + share,
                                 covers, *unit, "host_price_usd" in host.estimated))  # fmt: skip
        else:
            offers.append(_Offer("accelerators", acc, "price_usd", acc.price_usd,
                                 "card only, no server share", *unit))  # fmt: skip
    return offers


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
    bundled = lambda o: catalog.records[(o.kind, o.entry.id)].origin is Origin.BUNDLED  # noqa: E731
    user = [o for o in offers if not bundled(o)]
    offer = (user or offers)[0]
    source = f"{offer.entry.id} {offer.field} ({offer.covers})"
    if offer.estimate or offer.field in offer.entry.estimated:
        source += ", estimate"
    if user:
        source += ", user catalog"
    overhead_w, _ = host_power_w(catalog, acc)
    unit = (offer.unit_name, offer.unit_devices)
    if pricing is Pricing.CLOUD:
        return DevicePrice(offer.per_device, 0.0, overhead_w, source, *unit)
    link = catalog.interconnects.get(acc.scale_out_link) if acc.scale_out_link else None
    port = link.cost_usd_per_port if link is not None and link.cost_usd_per_port else 0.0
    return DevicePrice(
        amortized_usd_per_hour(offer.per_device, economics),
        amortized_usd_per_hour(port, economics),
        overhead_w,
        f"{source} over {economics.depreciation_years:g} years",
        *unit,
    )


def tier_usd_per_gb_hour(tier: MemoryTier, economics: Economics) -> float | None:
    """A tier's purchase price per GB, amortized (rented fleets buy their tiers too: no cloud
    rate exists for them)."""
    if tier.price_usd_per_gb is None:
        return None
    return amortized_usd_per_hour(tier.price_usd_per_gb, economics)
