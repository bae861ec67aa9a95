"""Ratings reused across problems (fleet.reuse): a problem that differs from an earlier one only
in rates, limits or solver settings gets exactly the fleet a fresh rating gives it, without
rating again; one that differs in anything rating reads is rated afresh."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

import optimizer.fleet.reuse as reuse
from optimizer.api import load_problem
from optimizer.api.context import efficiency_table
from optimizer.fleet.candidates import build_fleet

PROBLEM = "problems/mixed-agentic-owned.toml"
SMALL = {  # two accelerators, one precision, no tiers: a fraction of a second to rate
    "styles.accelerators": '["h100-sxm", "mi300x"]',
    "styles.precisions": '["fp8"]',
    "styles.memory_tiers": "false",
}


def _same(a, b) -> None:
    """Two fleets alike in every column, class, pool and purchase unit."""
    for f in fields(a.table.columns):
        x, y = getattr(a.table.columns, f.name), getattr(b.table.columns, f.name)
        assert np.array_equal(np.asarray(x), np.asarray(y)), f.name
    assert a.classes.names == b.classes.names
    np.testing.assert_array_equal(a.classes.requests_per_s, b.classes.requests_per_s)
    np.testing.assert_array_equal(a.classes.kv_transfer_bytes, b.classes.kv_transfer_bytes)
    assert a.traffic == b.traffic
    assert (a.pools, a.purchase_units, a.notes) == (b.pools, b.purchase_units, b.notes)


def _fleets(overrides: dict, monkeypatch):
    """(the reused fleet, a fresh rating of the same problem, ratings the reuse ran)."""
    loaded = load_problem(PROBLEM, {**SMALL, **overrides})
    table = efficiency_table(loaded.catalog)
    calls = []

    def counted(*args):
        calls.append(args)
        return build_fleet(*args)

    monkeypatch.setattr(reuse, "build_fleet", counted)
    reused = reuse.rated_fleet(loaded.catalog, loaded.spec, loaded.economics, table)
    fresh = build_fleet(loaded.catalog, loaded.spec, loaded.economics, table)
    return reused, fresh, len(calls)


def test_rates_limits_and_solver_settings_reuse_the_rating(monkeypatch):
    monkeypatch.setattr(reuse, "_kept", type(reuse._kept)())
    first, fresh, ratings = _fleets({}, monkeypatch)
    assert ratings == 1
    _same(first, fresh)
    variants = [
        {"serve.0.requests_per_s": "3", "serve.3.requests_per_s": "900"},
        {"constraints.power_budget_kw": "12", "constraints.max_utilization": "0.5"},
        {"solver.name": "cbc", "solver.time_limit_s": "5", "problem.name": "other"},
    ]
    rates = []
    for overrides in variants:
        reused, fresh, ratings = _fleets(overrides, monkeypatch)
        assert ratings == 0, overrides
        _same(reused, fresh)
        rates.append(reused.classes.requests_per_s)
    np.testing.assert_array_equal(rates[0], [3.0, 60.0, 20.0, 900.0])  # this problem's rates
    np.testing.assert_array_equal(first.classes.requests_per_s, [200.0, 60.0, 20.0, 10.0])


@pytest.mark.parametrize(
    "overrides",
    [
        {"serve.0.ttft_ms": "400"},
        {"styles.precisions": '["bf16"]'},
        {"objective.pricing": "cloud"},
        {"serve.2.workload": "chat", "serve.2.name": "chat-2"},
    ],
)
def test_what_rating_reads_rates_afresh(overrides, monkeypatch):
    monkeypatch.setattr(reuse, "_kept", type(reuse._kept)())
    _fleets({}, monkeypatch)
    reused, fresh, ratings = _fleets(overrides, monkeypatch)
    assert ratings == 1
    _same(reused, fresh)


def test_the_oldest_rating_is_dropped_beyond_the_kept_number(monkeypatch):
    monkeypatch.setattr(reuse, "_kept", type(reuse._kept)())
    monkeypatch.setattr(reuse, "KEPT", 2)
    for ttft in ("900", "950", "1000"):
        _fleets({"serve.0.ttft_ms": ttft}, monkeypatch)
    assert len(reuse._kept) == 2
    assert _fleets({"serve.0.ttft_ms": "900"}, monkeypatch)[2] == 1  # dropped: rated again
    assert _fleets({"serve.0.ttft_ms": "1000"}, monkeypatch)[2] == 0
