"""Memory tiers with their real limits (issue 11, item 5): a pooled unit's radix and
bandwidth, a host tier's slots, each against the catalog's own figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer.api import open_context, solve
from optimizer.catalog.host import tier_slots_per_device

ROOT = Path(__file__).resolve().parents[2]
LONG = ROOT / "problems" / "long-context-coding.toml"
OPTICAL_ONLY = {"styles.tiers": '["optical-memory-pool"]'}


@pytest.fixture(scope="module")
def catalog():
    return open_context().catalog


def test_slots_per_device_from_the_reference_system(catalog):
    """DGX H100: 32 DIMM slots over 8 GPUs = 4 per GPU; GB300 NVL72: 36 Grace sockets over 72
    GPUs = 0.5 per GPU of LPDDR5X and no DIMMs; a pooled appliance has no slots."""
    acc, memory = catalog.accelerators, catalog.memory
    assert tier_slots_per_device(catalog, acc["h100-sxm"], memory["ddr5"]) == 32 / 8
    assert tier_slots_per_device(catalog, acc["gb300"], memory["lpddr5x"]) == 36 / 72
    assert tier_slots_per_device(catalog, acc["gb300"], memory["ddr5"]) == 0
    assert tier_slots_per_device(catalog, acc["gb300"], memory["optical-memory-pool"]) is None


def test_host_tier_units_fit_the_servers_slots():
    """long-context-coding parks its sessions in Grace LPDDR5X: 8 GB300s sit beside 8 × 0.5 =
    4 sockets of 480 GB, so the pool has at most 4 units and each pool's GB fits them."""
    solution = solve(LONG)
    assert solution.success
    devices = sum(p.instances * p.devices for p in solution.pools if p.tier == "lpddr5x")
    for pool in solution.tier_pools:
        if pool.tier == "lpddr5x":
            assert pool.units <= devices * 36 / 72
            assert pool.gb_used <= pool.units * 480 * (1 + 1e-9)


def test_a_pooled_appliance_attaches_at_most_its_radix():
    """At 6 requests/s the fleet needs more than 16 devices: one 32 TB appliance would hold
    their KV, but its photonic switch has 16 ports, so at most 16 devices per unit attach and
    each draws at most its share of the unit's 14,375 GB/s."""
    solution = solve(LONG, overrides={**OPTICAL_ONLY, "serve.0.requests_per_s": "6"})
    assert solution.success
    attached = sum(p.devices for p in solution.pools if p.tier is not None)
    (pool,) = solution.tier_pools
    assert attached > 0 and pool.devices == attached
    assert attached <= 16 * pool.units
    assert pool.max_devices == 16 * pool.units
    assert pool.gb_per_s == pytest.approx(14_375 * pool.units)
    assert pool.gb_per_s_used <= pool.gb_per_s
    assert sum(p.instances * p.devices for p in solution.pools) > 16  # the radix mattered


def test_an_empty_tier_list_means_no_tiers():
    """``styles.tiers = []`` asks for no memory tier (it used to fall back to every tier)."""
    solution = solve(LONG, overrides={"styles.tiers": "[]"})
    assert solution.success
    assert not solution.tier_pools and all(p.tier is None for p in solution.pools)


def test_oam_siblings_share_their_platforms_host(catalog):
    """MI325X and MI355X sit on MI300X's eight-OAM platform, Gaudi2 in a Gaudi3-class server:
    each gets that system's host share (2,800 W / 8), not the generic PCIe host's."""
    from optimizer.catalog.host import host_power_w

    for acc in ("mi325x", "mi355x", "gaudi2"):
        assert host_power_w(catalog, catalog.accelerators[acc])[0] == pytest.approx(2800 / 8)
