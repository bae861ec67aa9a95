"""Issue 12, item 1, on every bundled problem: CBC and HiGHS reach the same objective and
costs within 0.1 %, and neither buys anything that carries nothing (the re-check inside
``solve`` rejects an unused instance or unit; here it is asserted again from the report)."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer.api import solve

PROBLEMS = sorted((Path(__file__).resolve().parents[2] / "problems").glob("*.toml"))


@pytest.mark.parametrize("path", PROBLEMS, ids=lambda p: p.stem)
def test_cbc_and_highs_agree_and_buy_nothing_unused(path):
    cbc, highs = (solve(path, overrides={"solver.name": name}) for name in ("cbc", "highs"))
    assert cbc.success and highs.success
    assert highs.objective == pytest.approx(cbc.objective, rel=1e-5)
    assert highs.cost_usd_per_hour == pytest.approx(cbc.cost_usd_per_hour, rel=1e-3)
    for solution in (cbc, highs):
        for pool in solution.tier_pools:
            assert pool.gb_used > 0 or pool.gb_per_s_used > 0, pool  # a unit holds something
        for pool in solution.pools:
            assert pool.utilization > 0, pool.name  # an instance carries load
