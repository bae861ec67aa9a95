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


def test_owned_price_without_a_system_is_the_card_in_a_generic_host(catalog):
    """L4 is sold alone: its price is the card plus an eighth of the generic 8-card host's
    non-GPU price, and its host power an eighth of that host's."""
    econ = catalog.get("economics", "default")
    l4 = catalog.get("accelerators", "l4")
    host = catalog.systems["generic-pcie-host"]
    assert not [s for s in catalog.systems.values() if s.accelerator == "l4"]
    price = device_price(catalog, l4, Pricing.OWNED, econ)
    expected = (l4.price_usd + host.host_price_usd / 8) / (5 * 8760)
    assert price.hardware_usd_per_hour == pytest.approx(expected)
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
    """A --catalog override is used, not just reported: the H100 card at $20,000 (plus its
    eighth of the DGX H100 host) beats the bundled DGX H100 server share under owned pricing,
    and says where it came from."""
    catalog = _user_catalog(tmp_path, "accelerator", "h100-sxm", "price_usd", 20_000.0)
    econ = catalog.get("economics", "default")
    price = device_price(catalog, catalog.get("accelerators", "h100-sxm"), Pricing.OWNED, econ)
    host_share = catalog.systems["dgx-h100"].host_price_usd / 8
    assert price.hardware_usd_per_hour == pytest.approx((20_000 + host_share) / (5 * 8760))
    assert "user catalog" in price.source and "card + dgx-h100" in price.source


def test_an_estimated_price_says_so(catalog):
    econ = catalog.get("economics", "default")
    price = device_price(catalog, catalog.get("accelerators", "h100-sxm"), Pricing.OWNED, econ)
    assert "dgx-h100" in price.source
    assert ("estimate" in price.source) == ("price_usd" in catalog.systems["dgx-h100"].estimated)


def test_an_owned_card_pays_its_share_of_its_servers_host(tmp_path):
    """A card priced alone (L4, no system of its own) pays its card price plus an eighth of its
    generic 8-card host's non-GPU price (here $16,000: $2,000 per card), over 5 years."""
    catalog = _user_catalog(tmp_path, "system", "generic-pcie-host", "host_price_usd", 16_000.0)
    econ = catalog.get("economics", "default")
    l4 = catalog.get("accelerators", "l4")
    price = device_price(catalog, l4, Pricing.OWNED, econ)
    assert price.hardware_usd_per_hour == pytest.approx((l4.price_usd + 2_000) / (5 * 8760))
    assert "card + generic-pcie-host host_price_usd / 8 = 2,000 $" in price.source
    assert (price.unit_name, price.unit_devices) == ("generic-pcie-host of l4", 8)


def test_a_cloud_rate_is_rented_in_its_smallest_instance(tmp_path):
    """An accelerator whose rate comes in 8-GPU instances only (as AWS p5) is rented in 8s;
    one without instance sizes one at a time."""
    catalog = _user_catalog(tmp_path, "accelerator", "h100-sxm", "cloud_instance_devices", [8])
    econ = catalog.get("economics", "default")
    price = device_price(catalog, catalog.get("accelerators", "h100-sxm"), Pricing.CLOUD, econ)
    assert (price.unit_name, price.unit_devices) == ("h100-sxm x8 instance", 8)
    assert price.hardware_usd_per_hour == pytest.approx(2.35)  # still per device


def test_a_host_share_that_is_an_estimate_makes_the_price_one(catalog):
    """Gaudi2's card price is Intel's list price, but its share of the Gaudi 3 server's host
    price is an estimate, and so is the sum."""
    econ = catalog.get("economics", "default")
    gaudi2 = catalog.get("accelerators", "gaudi2")
    assert "price_usd" not in gaudi2.estimated
    assert "host_price_usd" in catalog.systems["gaudi3-8card"].estimated
    price = device_price(catalog, gaudi2, Pricing.OWNED, econ)
    assert "card + gaudi3-8card host_price_usd" in price.source and "estimate" in price.source


def test_unpriced_accelerator_gives_none(catalog):
    """An accelerator with no card price and no priced system listing it has no owned price."""
    econ = catalog.get("economics", "default")
    systems = catalog.systems.values()
    unpriced = [a for a in catalog.accelerators.values() if a.price_usd is None
                and not any(s.accelerator == a.id and s.price_usd for s in systems)]  # fmt: skip
    assert unpriced  # the cloud-only chips at least
    for acc in unpriced:
        assert device_price(catalog, acc, Pricing.OWNED, econ) is None


def test_energy_price_is_electricity_times_pue_when_owned_only(catalog):
    econ = catalog.get("economics", "default")
    assert energy_usd_per_wh(econ, Pricing.OWNED) == pytest.approx(0.08 * 1.3 / 1000)
    assert energy_usd_per_wh(econ, Pricing.CLOUD) == 0.0


def test_tier_price_is_amortized_per_gb(catalog):
    econ = catalog.get("economics", "default")
    ddr5 = catalog.get("memory", "ddr5")
    assert tier_usd_per_gb_hour(ddr5, econ) == pytest.approx(4.0 / (5 * 8760))
    assert tier_usd_per_gb_hour(catalog.get("memory", "optical-memory-pool"), econ) is None
