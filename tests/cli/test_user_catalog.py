"""Every command takes the global ``--catalog DIR`` and ``--efficiency FILE``: a user catalog
that adds an accelerator and overrides a price, and efficiency factors of the user's own, reach
estimate, analyze, calibrate, solve, compare and catalog alike."""

from __future__ import annotations

import json

import pytest
import tomli_w

from optimizer.catalog.loader import load_catalog
from optimizer.cli.main import run

NPU = "my-npu"  # an H100 SXM under another name, family and cloud price
NPU_USD_PER_HOUR = 1.25
MI300X_USD_PER_HOUR = 9.0  # the bundled entry says 2.0
SLOW = 0.05  # memory efficiency of the user's factors: 20x slower decode than the roofline

PROBLEM = """
[problem]
name = "user-catalog"

[[serve]]
model = "llama-3.1-8b"
workload = "chat"
requests_per_s = 5
ttft_ms = 2000
tpot_ms = 50

[objective]
pricing = "cloud"

[styles]
accelerators = {accelerators}
precisions = ["fp8"]
tp = [1]
memory_tiers = false
"""


def _accelerator(base: str, **change) -> dict:
    entry = load_catalog().accelerators[base].model_dump(mode="json", exclude_none=True)
    return entry | change


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    """(catalog dir, efficiency file, problem file) of one user."""
    root = tmp_path_factory.mktemp("user")
    catalog = root / "catalog"
    catalog.mkdir()
    npu = _accelerator("h100-sxm", id=NPU, name="My NPU", family="my-npu-family",
                       cloud_usd_per_hour=NPU_USD_PER_HOUR)  # fmt: skip
    npu.pop("price_usd", None)
    npu["estimated"] = [f for f in npu.get("estimated", []) if f in npu]
    mi300x = _accelerator("mi300x", cloud_usd_per_hour=MI300X_USD_PER_HOUR)
    (catalog / "mine.toml").write_text(tomli_w.dumps({"accelerator": [npu, mi300x]}))
    factors = [
        {"id": f"my-npu-family-{phase}", "name": f"slow {phase}", "family": "my-npu-family",
         "phase": phase, "compute": 0.5, "memory": SLOW, "overhead_us_per_layer": 0.0,
         "hop_latency_scale": 0.0, "fit_rows": 0, "confidence": "uncertain",
         "sources": ["a test's own factors"]}
        for phase in ("prefill", "decode")
    ]  # fmt: skip
    efficiency = root / "slow.toml"
    efficiency.write_text(tomli_w.dumps({"efficiency": factors}))
    problem = root / "problem.toml"
    problem.write_text(PROBLEM.format(accelerators=json.dumps([NPU])))
    return catalog, efficiency, problem


def _json(capsys, argv: list) -> dict:
    code = run([str(a) for a in argv])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_catalog_show_finds_the_user_accelerator(capsys, user):
    catalog, _, _ = user
    entry = _json(capsys, ["--catalog", catalog, "catalog", "show", NPU, "--json"])
    assert entry["cloud_usd_per_hour"] == NPU_USD_PER_HOUR


def test_estimate_uses_the_user_accelerator_and_factors(capsys, user):
    catalog, efficiency, _ = user
    argv = ["--catalog", catalog, "estimate", "--model", "llama-3.1-8b", "--accelerator", NPU,
            "--input-tokens", "1000", "--output-tokens", "100", "--batch", "1",
            "--json"]  # fmt: skip
    own = _json(capsys, argv)
    slow = _json(capsys, [*argv, "--efficiency", efficiency])
    assert any(str(efficiency) in note for note in slow["notes"])
    # batch-1 decode streams the weights: at 5 % of the bandwidth it takes far longer than at
    # the default factors' share (no family of its own, so the default entry stands in)
    assert slow["tpot_s"] > 5 * own["tpot_s"]


def test_analyze_walls_on_the_user_accelerator(capsys, user):
    catalog, efficiency, _ = user
    data = _json(capsys, ["--catalog", catalog, "analyze", "--model", "llama-3.1-8b",
                          "--accelerator", NPU, "--no-plots", "--efficiency", efficiency,
                          "--json"])  # fmt: skip
    assert [a["id"] for a in data["accelerators"]] == [NPU]


def test_calibrate_predicts_rows_on_the_user_accelerator(capsys, user, tmp_path):
    catalog, efficiency, _ = user
    cases = tmp_path / "cases.csv"
    cases.write_text(
        "case_id,source,grade,model,accelerator,accelerators,precision_weights,precision_kv,"
        "tp,pp,ep,instances,scenario,input_tokens,output_tokens,batch,ttft_slo_ms,tpot_slo_ms,"
        "metric,value,unit,notes\n"
        f"npu-decode,test,A,llama-3.1-8b,{NPU},1,bf16,,1,1,,1,single-request,1000,100,1,,,"
        "decode_step_ms,10,ms,a made-up row\n"
    )
    without = _json(capsys, ["calibrate", cases, "--json"])
    assert [s["case_id"] for s in without["skipped"]] == ["npu-decode"]
    slow = _json(capsys, ["--catalog", catalog, "calibrate", cases, "--efficiency", efficiency,
                          "--json"])  # fmt: skip
    (row,) = slow["rows"]
    # 8.03e9 bf16 weights (2 bytes each) over 3.35 TB/s at 5 %: about 96 ms a step
    assert row["predicted"] == pytest.approx(8.03e9 * 2 / (3.35e12 * SLOW) * 1e3, rel=0.15)


def test_solve_buys_the_user_accelerator_at_its_price(capsys, user):
    catalog, efficiency, problem = user
    solution = _json(capsys, ["--catalog", catalog, "solve", problem, "--json"])
    assert set(solution["devices"]) == {NPU}
    assert solution["cost_usd_per_hour"] == pytest.approx(
        NPU_USD_PER_HOUR * sum(solution["devices"].values()), rel=1e-6
    )
    slow = _json(capsys, ["--catalog", catalog, "solve", problem, "--efficiency", efficiency,
                          "--json"])  # fmt: skip
    assert sum(slow["devices"].values()) > sum(solution["devices"].values())


def test_solve_honours_a_price_override(capsys, user):
    catalog, _, problem = user
    argv = ["solve", problem, "--set", 'styles.accelerators=["mi300x"]', "--json"]
    bundled = _json(capsys, argv)
    mine = _json(capsys, ["--catalog", catalog, *argv])
    assert bundled["devices"] == mine["devices"]
    assert mine["cost_usd_per_hour"] == pytest.approx(
        bundled["cost_usd_per_hour"] * MI300X_USD_PER_HOUR / 2.0, rel=1e-6
    )


def test_compare_variants_on_the_user_catalog(capsys, user):
    catalog, efficiency, problem = user
    data = _json(capsys, ["--catalog", catalog, "compare", problem, "--vary",
                          f"styles.accelerators=[\"{NPU}\"]", "--efficiency", efficiency,
                          "--json"])  # fmt: skip
    (only,) = data["solutions"]
    assert set(only["devices"]) == {NPU}
