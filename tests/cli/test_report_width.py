"""Reports people can read (issue 12, item 6): every bundled solution fits a 120-column
terminal without cutting anything off."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from optimizer.api import solve
from optimizer.report.solution_report import render_solution

PROBLEMS = sorted((Path(__file__).resolve().parents[2] / "problems").glob("*.toml"))


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
