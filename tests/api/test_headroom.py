"""Headroom (issue 12, item 4): model-rated instances carry at most 80 % of their rated
capacity by default, measured ones 100 %; ``spare_instances`` adds N + 1 to every pool."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from optimizer.api import HetplanError, solve

PROBLEMS = Path(__file__).resolve().parents[2] / "problems"


def _load(pool) -> float:
    return pool.utilization * pool.instances  # rated load, in instances


@pytest.mark.parametrize("name", ["coding-agent-cloud", "long-context-coding"])
def test_model_rated_pools_keep_20_percent_headroom(name):
    solution = solve(PROBLEMS / f"{name}.toml")
    assert solution.success
    for pool in solution.pools:
        assert pool.utilization <= 0.8 * (1 + 1e-6), pool.name  # within solver tolerance
        assert pool.instances == math.ceil(_load(pool) / 0.8 - 1e-6), pool.name  # no more


def test_a_spare_per_pool_and_a_looser_cap():
    solution = solve(
        PROBLEMS / "long-context-coding.toml",
        overrides={"constraints.spare_instances": "1", "constraints.max_utilization": "0.9"},
    )
    assert solution.success
    for pool in solution.pools:
        assert pool.instances == math.ceil(_load(pool) / 0.9 - 1e-6) + 1, pool.name


def test_measured_problems_keep_their_measured_limit():
    """Mélange's capabilities are measured limits: its $6.70 fleet fills the A10Gs to 100 %."""
    solution = solve(PROBLEMS / "melange-example.toml")
    assert solution.cost_usd_per_hour == pytest.approx(6.70)
    assert max(p.utilization for p in solution.pools) == pytest.approx(1.0)


@pytest.mark.parametrize("value", ["0", "1.5", "nan"])
def test_max_utilization_outside_0_1_is_refused(value):
    with pytest.raises(HetplanError, match="max_utilization"):
        solve(PROBLEMS / "melange-example.toml", overrides={"constraints.max_utilization": value})
