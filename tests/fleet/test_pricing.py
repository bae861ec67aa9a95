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


def test_cloud_price_is_the_accelerators_own_rate_before_its_systems(catalog):
    """H100's entry says 2.35 $/GPU-h (a GPU-hour includes its VM's host); dgx-h100's 55.06 $/h
    for 8 is used only for accelerators without a rate of their own."""
    econ = catalog.get("economics", "default")
    price = device_price(catalog, catalog.get("accelerators", "h100-sxm"), Pricing.CLOUD, econ)
    assert price.hardware_usd_per_hour == pytest.approx(2.35)
    assert price.source.startswith("h100-sxm cloud_usd_per_hour")


def _user_catalog(tmp_path, table: str, entry_id: str, field: str, value: float):
    """The bundled catalog with one entry copied into a user directory, one field changed."""
    import tomllib

    import tomli_w

    bundled = load_catalog()
    record = bundled.records[(table + "s" if table != "memory" else table, entry_id)]
    with open(record.file, "rb") as f:
        entries = tomllib.load(f)[table]
    entry = next(e for e in entries if e["id"] == entry_id)
    entry[field] = value
    (tmp_path / "mine.toml").write_text(tomli_w.dumps({table: [entry]}))
    return load_catalog(tmp_path)


def test_a_user_override_of_a_price_always_wins(tmp_path):
    """A --catalog override is used, not just reported: the H100 card at $20,000 beats the
    bundled DGX H100 server share under owned pricing, and says where it came from."""
    catalog = _user_catalog(tmp_path, "accelerator", "h100-sxm", "price_usd", 20_000.0)
    econ = catalog.get("economics", "default")
    price = device_price(catalog, catalog.get("accelerators", "h100-sxm"), Pricing.OWNED, econ)
    assert price.hardware_usd_per_hour == pytest.approx(20_000 / (5 * 8760))
    assert "user catalog" in price.source and "card only" in price.source


def test_an_estimated_price_says_so(catalog):
    econ = catalog.get("economics", "default")
    price = device_price(catalog, catalog.get("accelerators", "h100-sxm"), Pricing.OWNED, econ)
    assert "dgx-h100" in price.source
    assert ("estimate" in price.source) == ("price_usd" in catalog.systems["dgx-h100"].estimated)


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
