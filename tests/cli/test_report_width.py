"""Reports people can read (issue 12, item 6): every bundled solution fits a 120-column
terminal without cutting anything off."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from optimizer.api import solve
from optimizer.report.solution_report import render_solution
from tests.bundled import bundled_problems

PROBLEMS = bundled_problems()


@pytest.mark.parametrize("path", PROBLEMS, ids=lambda p: p.stem)
def test_solution_report_fits_120_columns_and_cuts_nothing(path):
    s = solve(path).to_dict()
    out = Console(width=120, file=io.StringIO(), record=True)
    render_solution(s, out)
    text = out.export_text()
    assert max(len(line) for line in text.splitlines()) <= 120
    assert "…" not in text  # rich's ellipsis: a cell cut short
    for b in s["baselines"]:  # every baseline fleet in full, whatever its length
        for pool in b["pools"]:
            assert pool in text.replace("\n", "").replace(" ", "") or pool in text


def test_compare_shows_cost_breakdown_tier_pools_and_systems_side_by_side():
    from optimizer.report.solution_report import render_comparison

    path = Path(__file__).resolve().parents[2] / "problems" / "long-context-coding.toml"
    solutions = [(g, solve(path, overrides={"styles.granularity": g}).to_dict())
                 for g in ("device", "system")]  # fmt: skip
    out = Console(width=120, file=io.StringIO(), record=True)
    render_comparison(solutions, out)
    text = out.export_text()
    for row in ("hardware", "memory tiers", "energy", "$/M output tokens", "whole units",
                "tier pools"):  # fmt: skip
        assert row in text, row
    for _, s in solutions:
        for t in s["tier_pools"]:
            assert t["tier"] in text
    for _, s in solutions:
        for name in s["systems"]:
            assert name in text


def test_a_pool_names_its_precision_fallback():
    """H200 has no fp4 tensor peak: fp4 weights compute at fp8, and the pool says so."""
    path = Path(__file__).resolve().parents[2] / "problems" / "mixed-agentic-owned.toml"
    s = solve(path, overrides={"styles.precisions": '["fp4"]',
                               "styles.accelerators": '["h200-sxm"]'}).to_dict()  # fmt: skip
    assert s["pools"] and all(p["compute_dtype"] == "fp8" for p in s["pools"])
    out = Console(width=120, file=io.StringIO(), record=True)
    render_solution(s, out)
    assert "fp4→fp8" in out.export_text()
