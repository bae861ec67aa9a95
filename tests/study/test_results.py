"""A solved point's row: figures read off its solution, never recomputed."""

from __future__ import annotations

from optimizer.search.solution import Solution, TierPoolUse, WorkloadResult
from optimizer.study.results import solution_row


def _solution(status: str = "optimal", **fields) -> Solution:
    return Solution(problem="p", problem_file="p.toml", problem_fingerprint="f",
                    catalog_fingerprint="c", status=status, objective_kind="cost",
                    objective_units="usd_per_hour", wall_s=0.1, solver={}, **fields)  # fmt: skip


def test_tier_gb_is_every_tier_pools_gb_and_empty_without_a_fleet():
    tiers = (
        TierPoolUse("ddr5", units=9, gb=576.0, gb_used=180.0, cost_usd_per_hour=0.05),
        TierPoolUse("optical-memory-pool", units=1, gb=32_000.0, gb_used=900.0,
                    cost_usd_per_hour=1.5),
    )  # fmt: skip
    # 9 modules of 64 GB and one 32,000 GB appliance, bought whole: 576 + 32,000 GB
    assert solution_row(_solution(objective=1.0, tier_pools=tiers))["tier_gb"] == 32_576.0
    assert solution_row(_solution(objective=1.0))["tier_gb"] == 0
    assert solution_row(_solution(status="infeasible"))["tier_gb"] is None


def _class(name: str, requests_per_s: float, share: float) -> WorkloadResult:
    return WorkloadResult(name, "m", "w", requests_per_s, None, None, None, None, None, share)


def test_disaggregated_frac_weights_each_class_share_by_its_rate():
    classes = (_class("a", 10.0, 1.0), _class("b", 30.0, 0.5))
    # (10 × 1.0 + 30 × 0.5) / 40 = 25 / 40 = 0.625 of all requests handed off
    row = solution_row(_solution(objective=1.0, workloads=classes))
    assert row["disaggregated_frac"] == 0.625
    assert solution_row(_solution(status="infeasible"))["disaggregated_frac"] is None
