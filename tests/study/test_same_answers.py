"""A study point skips the tie-break stages HiGHS proves cannot change its fleet
(``skip_proven_stages``); its row must still be a plain ``optimizer.api.solve`` of the point:
points of the speed benchmark's rate sweep (one model, four agentic classes, every owned
accelerator, FP8, no tiers) solved both ways."""

from __future__ import annotations

from pathlib import Path

import pytest

import optimizer.search.ilp as ilp
from optimizer.api import solve
from optimizer.study.executor import Task, run_point
from optimizer.study.results import solution_row

BASE = Path(__file__).resolve().parents[2] / "problems" / "mixed-agentic-owned.toml"
FIXED = {"styles.precisions": '["fp8"]', "styles.memory_tiers": "false"}
RATES = [("50", "15"), ("145.3", "153.7"), ("700", "200")]  # chat, coding agent requests/s
HOLD_REL = 1e-6
"""How far a plain solve's later stages may move the objectives they hold (ilp._HOLD_REL): the
plain solve's own answer is defined to that tolerance."""


@pytest.fixture(scope="module")
def both_ways():
    """(study row, plain solution, the check's verdicts) for each point."""
    verdicts = []
    real = ilp._cannot_improve

    def spy(*args, **kwargs):
        verdicts.append(real(*args, **kwargs))
        return verdicts[-1]

    out = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ilp, "_cannot_improve", spy)
        for index, (chat, coding) in enumerate(RATES):
            overrides = {**FIXED, "serve.0.requests_per_s": chat,
                         "serve.1.requests_per_s": coding}  # fmt: skip
            task = Task(index, str(index), str(BASE), overrides, (), None, False, None)
            verdicts.clear()
            outcome = run_point(task)
            plain = solve(
                BASE, overrides=overrides, workers=1, baselines=False, skip_proven_stages=False
            )
            out.append((outcome, plain, list(verdicts)))
    return out


def test_study_rows_are_plain_solves(both_ways):
    for outcome, plain, _ in both_ways:
        assert outcome.status == plain.status == "optimal", outcome.message
        row, expected = outcome.row, solution_row(plain)
        for figure in ("objective", "cost_usd_per_hour", "power_w", "energy_j_per_token"):
            assert row[figure] == pytest.approx(expected[figure], rel=HOLD_REL), figure
        assert row["n_devices"] == expected["n_devices"]
        assert row["devices"] == expected["devices"]
        assert row["pools"] == expected["pools"]  # every pool and its instances


def test_study_points_skip_stages(both_ways):
    """Proof that the shortcut ran: a check per tie-break stage (cost, then purchases) at every
    point, and at least one stage skipped. The purchases check runs beside the cost check; where
    the cost stage can improve it is cancelled and made again after that stage (ilp._checks),
    so a point holds two or three verdicts (a study point runs on one thread, so no check runs
    beside its first stage)."""
    for _, _, verdicts in both_ways:
        assert len(verdicts) in (2, 3), verdicts
    assert any(v for _, _, verdicts in both_ways for v in verdicts)
