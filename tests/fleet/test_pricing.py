"""Hourly prices from the catalog, checked by hand against its entries."""

from __future__ import annotations

import pytest

from optimizer.catalog.loader import load_catalog
from optimizer.catalog.problem_spec import Pricing
from optimizer.fleet.pricing import device_price, energy_usd_per_wh, tier_usd_per_gb_hour


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_owned_price_shares_the_system_price_over_its_life(catalog):
    econ = catalog.get("economics", "default")
    price = device_price(catalog, catalog.get("accelerators", "h100-sxm"), Pricing.OWNED, econ)
    # dgx-h100: $270,000 for 8 GPUs over 5 years of 8,760 h; its host draws 8.4 kW measured
    # (Latif et al. 2025) − 8 × 700 W = 2,800 W, an eighth per GPU
    assert price.hardware_usd_per_hour == pytest.approx(270_000 / 8 / (5 * 8760))
    assert price.overhead_w == pytest.approx((8400 - 8 * 700) / 8)
    assert "dgx-h100" in price.source


def test_owned_price_without_a_system_is_the_card_alone_in_a_generic_host(catalog):
    econ = catalog.get("economics", "default")
    l4 = catalog.get("accelerators", "l4")
    assert not [s for s in catalog.systems.values() if s.accelerator == "l4"]
    price = device_price(catalog, l4, Pricing.OWNED, econ)
    assert price.hardware_usd_per_hour == pytest.approx(l4.price_usd / (5 * 8760))
    # the generic 8-card PCIe host: 5.5 kW under load − 10 × 350 W L40S = 2,000 W, per card
    assert price.overhead_w == pytest.approx((5500 - 10 * 350) / 8)


def test_cloud_price_prefers_the_system_rate_per_device(catalog):
    econ = catalog.get("economics", "default")
    price = device_price(catalog, catalog.get("accelerators", "h100-sxm"), Pricing.CLOUD, econ)
    assert price.hardware_usd_per_hour == pytest.approx(55.06 / 8)  # dgx-h100 cloud rate


def test_unpriced_accelerator_gives_none(catalog):
    econ = catalog.get("economics", "default")
    assert device_price(catalog, catalog.get("accelerators", "h20"), Pricing.OWNED, econ) is None


def test_energy_price_is_electricity_times_pue_when_owned_only(catalog):
    econ = catalog.get("economics", "default")
    assert energy_usd_per_wh(econ, Pricing.OWNED) == pytest.approx(0.08 * 1.3 / 1000)
    assert energy_usd_per_wh(econ, Pricing.CLOUD) == 0.0


def test_tier_price_is_amortized_per_gb(catalog):
    econ = catalog.get("economics", "default")
    ddr5 = catalog.get("memory", "ddr5")
    assert tier_usd_per_gb_hour(ddr5, econ) == pytest.approx(4.0 / (5 * 8760))
    assert tier_usd_per_gb_hour(catalog.get("memory", "optical-memory-pool"), econ) is None
