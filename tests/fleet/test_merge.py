"""Fleets rated apart and joined (fleet.merge) hold exactly the columns one rating of both
accelerator sets gives, and solve to the same optimum: what lets co-design rate the catalog
once and a trial's parts alone."""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np
import pytest

from optimizer.api import load_problem
from optimizer.api.context import efficiency_table
from optimizer.fleet.candidates import build_fleet
from optimizer.fleet.columns import TierPool
from optimizer.fleet.merge import FleetMismatch, joined
from optimizer.search import provision
from optimizer.search.provision import _begin, solve

PROBLEM = "problems/mixed-agentic-owned.toml"
FIXED = {"styles.precisions": '["fp8"]', "styles.tp": "[1, 2]", "solver.time_limit_s": "60"}


def _fleet(accelerators: str, **more: str):
    loaded = load_problem(PROBLEM, {**FIXED, "styles.accelerators": accelerators, **more})
    table = efficiency_table(loaded.catalog)
    return loaded, table, build_fleet(loaded.catalog, loaded.spec, loaded.economics, table)


def _by_name(fleet) -> dict[str, tuple]:
    """Each column's every field, by column name (a joined fleet orders columns differently)."""
    columns = fleet.table.columns
    out = {}
    for i, name in enumerate(columns.names):
        row = []
        for f in fields(columns):
            value = getattr(columns, f.name)
            row.append(value[i] if isinstance(value, tuple) else np.asarray(value)[i].tolist())
        out[name] = tuple(row)
    return out


def test_joined_fleet_has_the_columns_of_one_rating_and_its_optimum():
    _, _, left = _fleet('["h100-sxm"]')
    _, _, right = _fleet('["mi300x", "l40s"]')
    loaded, table, both = _fleet('["h100-sxm", "mi300x", "l40s"]')
    merged = joined(left, right)
    assert _by_name(merged) == _by_name(both)
    assert len(merged.table.info) == len(merged.table.columns) == len(both.table.columns)
    assert {p.name for p in merged.pools} == {p.name for p in both.pools}
    assert merged.generated == both.generated
    for name in both.best_tpot:  # the better reach of the two, per class
        assert merged.best_tpot[name].value_s == both.best_tpot[name].value_s
    a = solve(loaded, table, workers=1, baselines=False, fleet=merged)
    b = solve(loaded, table, workers=1, baselines=False)
    assert a.status == b.status == "optimal"
    assert a.objective == pytest.approx(b.objective, rel=1e-6)
    assert a.cost_usd_per_hour == pytest.approx(b.cost_usd_per_hour, rel=1e-6)


def test_fleets_of_different_traffic_or_pools_are_refused():
    _, _, left = _fleet('["h100-sxm"]')
    _, _, other_rate = _fleet('["mi300x"]', **{"serve.0.requests_per_s": "7"})
    with pytest.raises(FleetMismatch, match="classes or rates"):
        joined(left, other_rate)
    _, _, right = _fleet('["mi300x"]')
    pool = right.pools[0]
    changed = TierPool(**{**pool.__dict__, "unit_gb": pool.unit_gb * 2})
    with pytest.raises(FleetMismatch, match=pool.name):
        joined(left, replace(right, pools=(changed, *right.pools[1:])))


def test_a_solve_started_from_a_subset_optimum_reaches_the_same_optimum(monkeypatch):
    """The optimum over h100-sxm's columns is a fleet of the joined problem too: started from
    it (no aggregated baseline first), the joined problem solves to the optimum a cold start
    proves; a start naming a column the problem lacks is ignored."""
    loaded_left, table, left = _fleet('["h100-sxm"]')
    _, _, right = _fleet('["mi300x", "l40s"]')
    loaded, _, _ = _fleet('["h100-sxm", "mi300x", "l40s"]')
    merged = joined(left, right)
    subset = solve(loaded_left, table, workers=1, baselines=False)
    begun = []
    monkeypatch.setattr(provision, "_begin", lambda *a: begun.append(_begin(*a)) or begun[-1])
    started = solve(loaded, table, workers=1, baselines=False, fleet=merged, start_from=subset)
    plain = solve(loaded, table, workers=1, baselines=False, fleet=merged)
    assert begun[0] is not None and begun[0].instances.sum() == sum(
        p.instances for p in subset.pools
    )
    assert started.status == plain.status == "optimal"
    assert started.objective == pytest.approx(plain.objective, rel=1e-6)
    assert started.objective <= subset.objective * (1 + 1e-9)
    stranger = replace(subset, pools=(replace(subset.pools[0], name="no-such-column"),))
    again = solve(loaded, table, workers=1, baselines=False, fleet=merged, start_from=stranger)
    assert begun[-1] is None
    assert again.objective == pytest.approx(plain.objective, rel=1e-6)
