"""Dominance pruning: what it drops, what it must keep."""

from __future__ import annotations

import numpy as np

from optimizer.fleet.prune import dominated, prune
from optimizer.search.columns import Columns


def columns(rows: list[dict]) -> Columns:
    """Columns from per-column dicts; unspecified fields take harmless defaults."""
    def get(name, default):
        return [r.get(name, default) for r in rows]

    return Columns(
        names=tuple(f"c{i}" for i in range(len(rows))),
        prefill=np.array(get("prefill", True)),
        decode=np.array(get("decode", True)),
        capability=np.array(get("cap", [1.0, 1.0]), dtype=float),
        cost_usd_per_hour=np.array(get("cost", 1.0), dtype=float),
        idle_w=np.array(get("idle", 10.0), dtype=float),
        busy_w=np.array(get("busy", 100.0), dtype=float),
        devices=np.array(get("devices", 1), dtype=float),
        group=tuple(get("group", "a")),
        transfer_bytes_per_s=np.array(get("xfer", np.inf), dtype=float),
        tier=tuple(get("tier", None)),
        tier_gb=np.array(get("tier_gb", 0.0), dtype=float),
        tier_gb_per_request_rate=np.array(get("park", [0.0, 0.0]), dtype=float),
    )


def test_cheaper_and_more_capable_dominates():
    c = columns([{"cost": 2.0}, {"cost": 1.0, "cap": [1.0, 1.5]}])
    assert dominated(c).tolist() == [True, False]


def test_trade_offs_are_kept():
    # cheaper but weaker on one class; or cheaper but more devices; or less power but pricier
    for other in ({"cost": 0.5, "cap": [1.0, 0.9]}, {"cost": 0.5, "devices": 2},
                  {"cost": 2.0, "busy": 50.0}, {"cost": 0.5, "xfer": 1.0}):  # fmt: skip
        c = columns([{"xfer": 2.0}, {"xfer": 2.0, **other}])
        assert not dominated(c).any(), other


def test_exact_twins_keep_one():
    assert dominated(columns([{}, {}, {}])).tolist() == [False, True, True]


def test_different_groups_or_phases_never_dominate():
    c = columns([{"cost": 2.0}, {"cost": 1.0, "group": "b"},
                 {"cost": 1.0, "prefill": True, "decode": False}])  # fmt: skip
    assert not dominated(c).any()


def test_tierless_column_may_dominate_a_tier_column_but_not_the_reverse():
    c = columns([{"tier": "ddr5", "tier_gb": 64.0}, {}])
    assert dominated(c).tolist() == [True, False]
    c = columns([{"tier": "ddr5", "cap": [2.0, 2.0], "cost": 0.5}, {}])
    assert not dominated(c).any()  # the tier column uses a pool the other does not
    c = columns([{"tier": "ddr5"}, {"tier": "cxl", "cost": 0.5}])
    assert not dominated(c).any()  # different pools


def test_prune_drops_columns_that_serve_nothing():
    c = columns([{"cap": [0.0, 0.0]}, {"cap": [0.0, 1.0], "cost": 5.0}])
    assert prune(c).tolist() == [False, True]
