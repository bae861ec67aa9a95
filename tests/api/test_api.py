"""The public API (``optimizer.api``, re-exported by ``optimizer``): typed requests in, frozen
results out that read verdict first, errors named by field, and the same answers the CLI gives."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

import optimizer
from optimizer.api import (
    AnalyzeRequest,
    EstimateRequest,
    FieldError,
    LoadedProblem,
    Solution,
    analyze,
    calibrate,
    compare,
    estimate,
    load_problem,
    problem_overrides,
    read_solution,
    solve,
)

REPO = Path(__file__).resolve().parents[2]
MELANGE = REPO / "problems" / "melange-example.toml"
CASES = REPO / "catalogs" / "measurements" / "published.csv"
LLAMA_70B_ON_H200 = EstimateRequest(
    model="llama-3.1-70b", accelerator="h200-sxm", tp=2, precision="fp8", kv_precision="fp8",
    input_tokens=4000, output_tokens=500, tpot_slo_ms=50,
)  # fmt: skip


def _strict(data) -> str:
    return json.dumps(data, allow_nan=False)


@pytest.fixture(scope="module")
def melange() -> Solution:
    return solve(MELANGE)


def test_readme_example_solves_melange_to_its_published_fleet(melange):
    # Mélange's example.json, whole-class slices of 1: 3 × A10G + 1 × A100 at $6.70/h
    assert optimizer.solve is solve
    assert (melange.status, melange.success) == ("optimal", True)
    assert melange.cost_usd_per_hour == pytest.approx(3 * 1.01 + 3.67)
    assert melange.devices == {"a10g": 3, "a100-80gb": 1}


def test_results_read_verdict_first_with_a_short_repr(melange):
    data = melange.to_dict()
    assert list(data)[:3] == ["status", "success", "message"]
    assert data["message"].startswith("cost 6.7 usd_per_hour")
    assert repr(melange).startswith("Solution(status='optimal', problem='melange-example'")
    assert len(repr(melange)) < 200
    _strict(data)


def test_read_solution_returns_the_same_solution(melange, tmp_path):
    path = melange.save(tmp_path / "m.json")
    again = read_solution(path)
    assert isinstance(again, Solution)
    assert again == melange
    with pytest.raises(optimizer.HetplanError, match="exists"):
        melange.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]  # no temporary file left


def test_solve_in_one_worker_gives_the_same_answer(melange):
    alone = solve(MELANGE, workers=1)
    assert alone.objective == melange.objective
    assert [b.objective for b in alone.baselines] == [b.objective for b in melange.baselines]


def test_solve_takes_a_loaded_problem_but_not_overrides_with_it():
    loaded = load_problem(MELANGE, {"solver.assignment": "split"})
    assert isinstance(loaded, LoadedProblem)
    # split shares: 1 × A10G + 1 × A100 (Mélange's split answer)
    assert solve(loaded).cost_usd_per_hour == pytest.approx(1.01 + 3.67)
    with pytest.raises(TypeError):
        solve(loaded, overrides={"solver.name": "cbc"})


def test_problem_overrides_are_every_combination_on_the_base():
    variants = problem_overrides(
        {"solver.name": "highs"},
        {"assignment": ["split", "whole-class"], "objective.kind": ["cost", "energy"]},
    )
    assert [v.label for v in variants] == [
        "solver.assignment=split, objective.kind=cost",
        "solver.assignment=split, objective.kind=energy",
        "solver.assignment=whole-class, objective.kind=cost",
        "solver.assignment=whole-class, objective.kind=energy",
    ]
    assert all(v.overrides["solver.name"] == "highs" for v in variants)
    assert problem_overrides({"a.b": "1"}) == problem_overrides({"a.b": "1"}, {})
    assert len(problem_overrides()) == 1
    with pytest.raises(FieldError) as error:
        problem_overrides(vary={"solver": []})
    assert error.value.field == "vary"


def test_compare_variants_labels_each_solution():
    result = compare(problem=MELANGE, vary={"assignment": ["whole-class", "split"]})
    assert result.labels == ("solver.assignment=whole-class", "solver.assignment=split")
    assert [s.cost_usd_per_hour for s in result.solutions] == pytest.approx([6.70, 4.68])
    assert result.success and result.status == "ok"
    assert [r["label"] for r in result.rows()] == list(result.labels)
    _strict(result.to_dict())


def test_compare_needs_two_files_or_a_problem():
    with pytest.raises(FieldError) as error:
        compare(["a.json"])
    assert error.value.field == "solution_files"


def test_estimate_result_is_typed_flat_and_strict():
    r = estimate(LLAMA_70B_ON_H200)
    assert (r.status, r.success) == ("ok", True)
    assert r.message == (
        f"TTFT {r.ttft_s * 1e3:.1f} ms, TPOT {r.tpot_s * 1e3:.2f} ms at "
        f"{r.requests_per_s:.3g} requests/s per instance (slo-bound)"
    )
    # p99 at the 50 ms target, the mean below it; Little's law ties batch, rate and TPOT
    assert r.tpot_s <= r.tpot_p99_s <= 0.050
    assert r.batch == pytest.approx(r.requests_per_s * 500 * r.tpot_s, rel=1e-9)
    # the 4,000-token prompt: 2 × 70.55e9 × 4000 FLOP over 2 × 1,979 TFLOP/s ≥ 143 ms
    assert r.ttft_s >= 2 * 70.55e9 * 4000 / (2 * 1979e12)
    row = r.to_row()
    assert row["oi.prefill"] == r.oi["prefill"] and row["step_s.total"] == r.step_s["total"]
    assert not any(isinstance(v, dict) for v in row.values())
    assert "tpot_s=" in repr(r) and len(repr(r)) < 200
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.batch = 1
    _strict(r.to_dict())


def test_an_fp8_estimate_says_what_stays_bf16():
    """Llama-3.1-70B at fp8: its embedding and lm_head, 128,256 x 8,192 each at two bytes, are
    4.2 GB of its 70,553,706,496 + 2,101,346,304 = 72.66 GB of weights; at bf16 nothing is
    said (every weight is bf16)."""
    r = estimate(LLAMA_70B_ON_H200)
    tables_gb = 2 * 128_256 * 8_192 * 2 / 1e9
    held_gb = (70_553_706_496 + 2 * 128_256 * 8_192) / 1e9
    note = f"{tables_gb:.1f} GB of its {held_gb:.1f} GB"
    assert note == "4.2 GB of its 72.7 GB"
    assert any(n.startswith("weights at fp8: llama-3.1-70b's embedding and lm_head stay bf16")
               and n.endswith(note) for n in r.notes)  # fmt: skip
    assert r.memory_bytes_per_device["weights"] == pytest.approx(held_gb * 1e9 / 2, rel=1e-12)
    bf16 = estimate(dataclasses.replace(LLAMA_70B_ON_H200, precision="bf16", kv_precision=None,
                                        tp=4))  # fmt: skip
    assert not any("stay bf16" in n for n in bf16.notes)


def test_an_estimate_that_cannot_work_is_a_verdict_not_an_exception():
    r = estimate(dataclasses.replace(LLAMA_70B_ON_H200, accelerator="h100-sxm", tp=1,
                                     precision="bf16", kv_precision=None))  # fmt: skip
    assert (r.status, r.success) == ("infeasible", False)
    # 70.6e9 bf16 weights = 141 GB on one 80 GB H100
    assert "does not fit" in r.message and "141.1 GB" in r.message
    assert r.ttft_s is None and r.model == "llama-3.1-70b"
    _strict(r.to_dict())


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tp": 0}, "tp"),
        ({"tp": 3}, "tp"),
        ({"precision": "fp6"}, "precision"),
        ({"phase": "both"}, "phase"),
        ({"tpot_slo_ms": float("nan")}, "tpot_slo_ms"),
        ({"input_tokens": float("inf")}, "input_tokens"),
        ({"tier": "cxl-expander"}, "tier"),
        ({"workload": "chat"}, "workload"),
    ],
)
def test_invalid_estimate_fields_are_named_by_field_not_flag(change, field):
    with pytest.raises(FieldError) as error:
        estimate(dataclasses.replace(LLAMA_70B_ON_H200, **change))
    assert error.value.field == field
    assert str(error.value).startswith(f"{field}: ") and "--" not in str(error.value)


def test_analyze_result_reads_verdict_first():
    result = analyze(AnalyzeRequest("llama-3.1-8b", workload="chat", accelerators=("b200",)))
    data = result.to_dict()
    assert list(data)[:3] == ["status", "success", "message"]
    assert [a["id"] for a in data["accelerators"]] == ["b200"] and data["plots"] == []
    _strict(data)
    with pytest.raises(FieldError) as error:
        analyze(AnalyzeRequest("llama-3.1-8b", accelerators=()))
    assert error.value.field == "accelerators"


def test_calibrate_result_and_its_toml_only_with_a_fit(tmp_path):
    result = calibrate(CASES)
    assert result.success and len(result.rows) > 500
    assert result.summary["all"]["n"] == len(result.rows)
    with pytest.raises(optimizer.HetplanError, match="nothing to save"):
        result.save(tmp_path / "x.toml")
    with pytest.raises(FieldError) as error:
        calibrate(CASES, mode="fast")
    assert error.value.field == "mode"


def test_import_optimizer_loads_no_heavy_library():
    code = "import sys, optimizer; optimizer.FieldError; print(sorted(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout.replace("'", '"')))
    assert not loaded & {"numpy", "pydantic", "scipy", "pulp", "pandas", "matplotlib"}


@pytest.mark.parametrize(
    ("where", "value", "named"),
    [
        (("cost_usd_per_hour",), "abc", "cost_usd_per_hour"),
        (("pools", 0, "instances"), None, "pools.0.instances"),
        (("pools", 0, "serves", 0, "share"), "zz", "pools.0.serves.0.share"),
        (("baselines", 0, "pools"), 7, "baselines.0.pools"),
    ],
)
def test_read_solution_names_a_wrongly_typed_field(melange, tmp_path, where, value, named):
    data = melange.to_dict()
    target = data
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(optimizer.HetplanError) as error:
        read_solution(path)
    assert f"bad.json: {named}: " in str(error.value)  # FILE: FIELD: message


def test_read_solution_refuses_json_beyond_the_parser(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    huge = tmp_path / "huge.json"
    huge.write_text('{"schema_version": ' + "9" * 5000 + "}")
    for path, says in ((deep, "nested too deeply"), (huge, "not a solution JSON file")):
        with pytest.raises(optimizer.HetplanError, match=says):
            read_solution(path)


@pytest.mark.parametrize(
    ("field", "kw"),
    [
        ("tier_gb", dict(tier="ddr5", tier_gb=1e308, tier_use="spill")),
        ("requests_per_s", dict(requests_per_s=1e300)),
        ("input_tokens", dict(input_tokens=1e300)),
        ("power_cap_w", dict(power_cap_w=float("inf"))),
    ],
)
def test_api_numbers_are_bounded_like_the_cli(field, kw):
    """Called directly, the use cases take the same finite, bounded numbers as the CLI: a
    field error naming the field, not an OverflowError deep in the model."""
    request = dict(model="llama-3.1-8b", accelerator="h100-sxm", input_tokens=100.0,
                   output_tokens=10.0) | kw  # fmt: skip
    with pytest.raises(optimizer.HetplanError) as caught:
        optimizer.estimate(optimizer.EstimateRequest(**request))
    assert str(caught.value).startswith(f"{field}:")
