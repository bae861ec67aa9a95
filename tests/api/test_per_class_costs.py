"""$/M output tokens and J/token per class (issue 12, item 4): the classes' shares add up to
the fleet's cost and average power, and the fleet's figures are its totals over its tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer.api import solve
from optimizer.api.provisioning import load_problem
from optimizer.fleet.candidates import class_traffic

PROBLEM = Path(__file__).resolve().parents[2] / "problems" / "mixed-agentic-owned.toml"


def test_class_shares_add_up_to_the_fleet():
    solution = solve(PROBLEM)
    loaded = load_problem(PROBLEM)
    tokens = {t.name: t.requests_per_s * t.request.output_tokens
              for t in class_traffic(loaded.catalog, loaded.spec)}  # fmt: skip
    usd = sum(w.usd_per_million_output_tokens / 1e6 * tokens[w.name] * 3600
              for w in solution.workloads)  # fmt: skip
    watts = sum(w.energy_j_per_output_token * tokens[w.name] for w in solution.workloads)
    assert usd == pytest.approx(solution.cost_usd_per_hour, rel=1e-9)
    assert watts == pytest.approx(solution.average_power_w, rel=1e-9)
    total = sum(tokens.values())
    assert solution.usd_per_million_output_tokens == pytest.approx(
        solution.cost_usd_per_hour / (total * 3600) * 1e6
    )
    assert solution.energy_j_per_token == pytest.approx(solution.average_power_w / total)


def test_idle_devices_of_whole_systems_are_shared_out_too():
    """GB200 alone, bought in NVL72 racks of 72, at a thousandth of the traffic: the fleet
    leaves most of the rack idle, and its cost is still shared out over the classes, which add
    up to the fleet."""
    light = {f"serve.{i}.requests_per_s": rate for i, rate in enumerate((0.2, 0.06, 0.02, 0.01))}
    overrides = {"styles.accelerators": '["gb200"]'} | light
    solution = solve(PROBLEM, overrides=overrides)
    assert any(b["idle_devices"] > 0 for b in solution.systems.values())
    loaded = load_problem(PROBLEM, overrides)
    tokens = {t.name: t.requests_per_s * t.request.output_tokens
              for t in class_traffic(loaded.catalog, loaded.spec)}  # fmt: skip
    usd = sum(w.usd_per_million_output_tokens / 1e6 * tokens[w.name] * 3600
              for w in solution.workloads)  # fmt: skip
    assert usd == pytest.approx(solution.cost_usd_per_hour, rel=1e-9)
