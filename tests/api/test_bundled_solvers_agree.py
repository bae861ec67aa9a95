"""Issue 12, item 1, on every bundled problem: CBC and HiGHS reach the same objective and
costs within 0.1 %, and neither buys anything that carries nothing (the re-check inside
``solve`` rejects an unused instance or unit; here it is asserted again from the report)."""

from __future__ import annotations

import pytest

from optimizer.api import solve
from tests.bundled import bundled_problems

PROBLEMS = bundled_problems()
PROBLEMS_BY_NAME = {p.stem: p for p in PROBLEMS}


@pytest.mark.parametrize("path", PROBLEMS, ids=lambda p: p.stem)
def test_cbc_and_highs_agree_and_buy_nothing_unused(path):
    cbc, highs = (solve(path, overrides={"solver.name": name}) for name in ("cbc", "highs"))
    assert cbc.success and highs.success
    assert highs.objective == pytest.approx(cbc.objective, rel=1e-5)
    assert highs.cost_usd_per_hour == pytest.approx(cbc.cost_usd_per_hour, rel=1e-3)
    for solution in (cbc, highs):
        for pool in solution.tier_pools:  # spill streams and parked sessions' reloads alike
            assert pool.gb_per_s_used > 0, pool  # a unit moves something
        for pool in solution.pools:
            assert pool.utilization > 0, pool.name  # an instance carries load


def test_no_tier_is_bought_for_a_lower_nominal_power():
    """A cold review's case (mixed-agentic-owned bought by the device): a spill variant of an
    H100 NVL instance that cannot serve the class drawing the most power had a lower *peak*,
    and the energy objective charged every class's work at the peak, so the solver bought a
    512 GB CXL tier that moved nothing to lower a nominal figure. Work on a class costs that
    class's power: a tier bought must carry traffic."""
    solution = solve(PROBLEMS_BY_NAME["mixed-agentic-owned"],
                     overrides={"styles.granularity": "device"})  # fmt: skip
    assert solution.success
    for pool in solution.tier_pools:
        assert pool.gb_per_s_used > 0, pool


CODING_AT_10 = """
[problem]
name = "coding-at-10"

[[serve]]
model = "llama-3.3-70b"
workload = "coding-agent"
requests_per_s = 10
ttft_ms = 2000
tpot_ms = 40

[objective]
kind = "cost"
pricing = "owned"

[styles]
precisions = ["bf16", "fp8"]
tp = [1, 2, 4, 8]
"""


def test_highs_finds_the_optimum_cbc_finds_on_an_owned_problem_with_whole_servers(tmp_path):
    """A cold review's case: at HiGHS's default MIP feasibility tolerance (10⁻⁶) HiGHS 1.16
    proved 2 × MI355X in an 8-GPU server (5.74 $/h) optimal, above its own homogeneous baseline
    of 7 × Gaudi2 in one server (2.75 $/h). Both solvers must agree, and the optimum can be
    no worse than any baseline."""
    path = tmp_path / "coding.toml"
    path.write_text(CODING_AT_10)
    cbc, highs = (solve(path, overrides={"solver.name": name}) for name in ("cbc", "highs"))
    assert highs.objective == pytest.approx(cbc.objective, rel=1e-5)
    for solution in (cbc, highs):
        ran = [b.objective for b in solution.baselines if b.objective is not None]
        # the later lexicographic stages (cost, then devices) hold the first objective within
        # 10⁻⁶ of its optimum (search/ilp.py _HOLD_REL): no baseline may beat it by more
        assert solution.objective <= min(ran) * (1 + 1e-6) + 1e-9
