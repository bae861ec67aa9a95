"""Issue 11's power targets on the bundled measurements, and one idle and host power for
``estimate`` and ``solve``."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer.api import EstimateRequest, calibrate, estimate, open_context, solve
from optimizer.catalog.host import host_power_w, idle_power_w

ROOT = Path(__file__).resolve().parents[2]
POWER = ROOT / "catalogs" / "measurements" / "power.csv"


@pytest.fixture(scope="module")
def calibration():
    return calibrate(POWER)


@pytest.mark.parametrize(
    "metric, rows",
    [
        ("accelerator_power_w", 36),  # ML.ENERGY and TokenPowerBench board power
        ("system_power_w", 6),  # MLPerf wall power of runs with a recorded cap
        ("energy_j_per_output_token", 36),  # over the row's measured throughput
    ],
)
def test_power_metrics_within_15_percent(calibration, metric, rows):
    summary = calibration.summary[f"metric: {metric}"]
    assert summary["n"] == rows  # no row may drop out to flatter the median
    assert summary["median"] <= 0.15


def test_energy_over_predicted_throughput_within_15_percent(calibration):
    """Energy per token at the *predicted* throughput inherits the time model's throughput
    error (docs/model.md section 9): 12.5 % since Meta's FP8 405B checkpoint keeps its
    attention blocks in bf16 (16.0 % when its runs were predicted with every block in fp8)."""
    summary = calibration.summary["metric: energy_j_per_output_token at predicted throughput"]
    assert summary["n"] == 36
    assert summary["median"] <= 0.15


def test_skipped_power_rows_say_why(calibration):
    """MaxQ runs without a recorded cap, GPT-J's MLPerf rows (no stated prompt lengths) and
    runs their stated configuration cannot hold are skipped, each with its reason: DeepSeek-R1
    is listed at tp 1 (671 GB of fp8 weights on one 192 GB B200), and two B200 runs at batches
    of 2,042 and 3,589 beyond the KV their devices hold."""
    reasons = {s["case_id"]: s["reason"] for s in calibration.skipped}
    maxq = [c for c, r in reasons.items() if "power cap" in r]
    gptj = [c for c, r in reasons.items() if "prompt lengths" in r]
    unheld = {s["case_id"] for s in calibration.skipped
              if s["reason"].startswith("no finite prediction")}  # fmt: skip
    assert len(maxq) == 6 and len(gptj) == 2
    assert all("gptj" in c for c in maxq + gptj)
    assert {c for c in unheld if "deepseek" in c} == {
        f"mle3-deepseek-r1-b200x8-mns{b}-{m}" for b in (8, 32, 128) for m in ("pgpu", "epot")
    }
    assert len(unheld) == 10


def test_estimate_and_solve_share_idle_and_host_power():
    """Gaudi2 publishes no idle power and no system lists it: both use the catalog median
    idle share and the generic host; solve's pool power at idle is exactly that."""
    ctx = open_context()
    gaudi2 = ctx.catalog.accelerators["gaudi2"]
    idle, note = idle_power_w(ctx.catalog, gaudi2)
    host, _ = host_power_w(ctx.catalog, gaudi2)
    assert note and 0 < idle < gaudi2.tdp_w
    result = estimate(
        EstimateRequest(
            model="llama-3.1-70b",
            accelerator="gaudi2",
            tp=4,
            precision="fp8",
            input_tokens=2000,
            output_tokens=200,
        ),  # fmt: skip
        context=ctx,
    )
    assert result.host_power_w == pytest.approx(4 * host)
    assert any("median" in n for n in result.notes)
    assert 4 * idle <= result.power_w <= 4 * gaudi2.tdp_w


@pytest.mark.parametrize(
    "problem", ["mixed-agentic-owned", "long-context-coding", "coding-agent-cloud"]
)
def test_fleet_peak_power_covers_idle_and_host(problem):
    """Every pool at peak draws at least its devices' idle and host power and at most their
    TDP plus host; the fleet's peak is the sum of its pools'."""
    ctx = open_context()
    solution = solve(ROOT / "problems" / f"{problem}.toml")
    assert solution.success
    total = 0.0
    for pool in solution.pools:
        acc = ctx.catalog.accelerators[pool.accelerator]
        idle, _ = idle_power_w(ctx.catalog, acc)
        host, _ = host_power_w(ctx.catalog, acc)
        n = pool.devices  # all of the pool's instances
        assert (
            n * (idle + host) * (1 - 1e-9) <= pool.power_w <= n * (acc.tdp_w + host) * (1 + 1e-9)
        )
        total += pool.power_w
    assert solution.power_w >= total * (1 - 1e-9)


def test_power_fit_round_trips_and_keeps_the_catalogs_time_factors(tmp_path):
    """``calibrate power.csv --fit`` fits power shares only (the file has no throughput rows);
    its TOML, given back with ``--efficiency``, brings those shares and keeps the catalog's
    time factors, so the same rows predict the same."""
    from optimizer.api.context import efficiency_table

    fit = calibrate(POWER, fit=True)
    assert not fit.fitted and {f.family for f in fit.fitted_power} >= {"default"}
    path = fit.save(tmp_path / "power.toml")
    assert "[[efficiency]]" not in path.read_text() and "[[power]]" in path.read_text()
    ctx = open_context()
    mixed = efficiency_table(ctx.catalog, path)
    for family in ("nvidia-hopper", "nvidia-blackwell", "amd-cdna3"):
        given, _ = mixed.lookup(family)
        catalog, _ = ctx.efficiency.lookup(family)
        assert (given.prefill, given.decode) == (catalog.prefill, catalog.decode)
    again = calibrate(POWER, efficiency=path)
    key = "metric: accelerator_power_w"
    assert again.summary[key]["median"] == pytest.approx(fit.summary[key]["median"], rel=1e-3)
