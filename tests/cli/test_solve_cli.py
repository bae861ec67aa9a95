"""``hetplan solve`` and ``hetplan compare``: Mélange's published answers, the bundled problems
re-checked from their JSON alone, --out, compare, explained infeasibility (exit 1) and invalid
input (exit 2)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from optimizer.catalog.loader import load_catalog
from optimizer.cli.main import run

REPO = Path(__file__).resolve().parents[2]
PROBLEMS = REPO / "problems"
MELANGE = PROBLEMS / "melange-example.toml"
MODEL_PROBLEMS = ("coding-agent-cloud", "long-context-coding", "mixed-agentic-owned")
A10G, A100 = 1.01, 3.67  # $/h in melange-example.toml

# A small model-based problem: one model, one precision, no memory tiers (a solve takes ~0.1 s).
SMALL = """
[problem]
name = "{name}"

[[serve]]
model = "{model}"
workload = "coding-agent"
requests_per_s = {rate}
ttft_ms = 2000
tpot_ms = {tpot_ms}

[objective]
pricing = "{pricing}"

[styles]
accelerators = {accelerators}
precisions = ["fp8"]
memory_tiers = false
{extra}
"""


def _small(tmp_path: Path, name: str = "small", *, model="llama-3.1-70b", rate=20, tpot_ms=50,
           pricing="cloud", accelerators='["h100-sxm", "b200"]', extra="") -> Path:  # fmt: skip
    path = tmp_path / f"{name}.toml"
    text = SMALL.format(name=name, model=model, rate=rate, tpot_ms=tpot_ms, pricing=pricing,
                        accelerators=accelerators, extra=textwrap.dedent(extra))  # fmt: skip
    path.write_text(text)
    return path


def _solve(capsys, problem, *extra: str) -> tuple[int, dict]:
    code = run(["solve", str(problem), *extra, "--json"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, json.loads(captured.out)


def _fails(capsys, argv: list[str]) -> str:
    """Run argv expecting exit 2 with one clean error message; return stderr."""
    assert run([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    return err


def _fleet(solution: dict) -> dict[str, int]:
    fleet: dict[str, int] = {}
    for pool in solution["pools"]:
        fleet[pool["accelerator"]] = fleet.get(pool["accelerator"], 0) + pool["instances"]
    return {a: n for a, n in fleet.items() if n}


def _number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in {text!r}"
    return float(match.group(1).replace(",", ""))


# --- Mélange: the published answers ------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "objective", "fleet", "solver"),
    [
        ([], 6.70, {"a10g": 3, "a100-80gb": 1}, "highs"),  # HiGHS is the default
        (["solver.slice_factor=4"], 5.69, {"a10g": 2, "a100-80gb": 1}, "highs"),
        (["solver.assignment=split"], 4.68, {"a10g": 1, "a100-80gb": 1}, "highs"),
        (["solver.name=cbc"], 6.70, {"a10g": 3, "a100-80gb": 1}, "cbc"),
    ],
)
def test_melange_golden_answers(capsys, overrides, objective, fleet, solver):
    sets = [arg for o in overrides for arg in ("--set", o)]
    code, s = _solve(capsys, MELANGE, *sets)
    assert code == 0
    assert s["status"] == "optimal"
    assert s["objective"] == pytest.approx(objective, abs=1e-6)
    assert s["cost_usd_per_hour"] == pytest.approx(objective, abs=1e-6)
    assert s["gap"] == pytest.approx(0.0, abs=1e-9)
    assert _fleet(s) == fleet
    assert s["solver"]["name"] == solver
    # each pool costs its instances at the file's rates, and the pools add up to the objective
    price = {"a10g": A10G, "a100-80gb": A100}
    for pool in s["pools"]:
        assert pool["cost_usd_per_hour"] == pytest.approx(pool["instances"] * price[pool["name"]])
    assert sum(p["cost_usd_per_hour"] for p in s["pools"]) == pytest.approx(objective)


def test_melange_json_schema_and_hand_checked_loads(capsys):
    code, s = _solve(capsys, MELANGE)
    assert code == 0
    for key in ("status", "objective", "objective_kind", "objective_units", "gap", "bound",
                "wall_s", "cost_usd_per_hour", "cost_breakdown", "power_w", "pools",
                "workloads", "baselines", "schema_version", "catalog_fingerprint",
                "problem_fingerprint", "solver", "explanation", "assumptions"):  # fmt: skip
        assert key in s, key
    assert s["schema_version"] == 1
    assert s["objective_kind"] == "cost" and s["objective_units"] == "usd_per_hour"
    assert s["wall_s"] > 0 and re.fullmatch(r"[0-9a-f]{16}", s["catalog_fingerprint"])
    for key in ("name", "time_limit_s", "assignment", "slice_factor", "columns", "variables",
                "constraints", "ilp_wall_s"):  # fmt: skip
        assert key in s["solver"], key
    assert (s["solver"]["assignment"], s["solver"]["slice_factor"]) == ("whole-class", 1)
    for pool in s["pools"]:
        assert {"accelerator", "phase", "instances", "tp", "utilization", "serves"} <= set(pool)
        assert pool["phase"] == "measured" and pool["tp"] is None
    # whole-class: each class on one pool. Every class fills 3 A10Gs exactly (6/2, 3/1, 15/5,
    # 6/2), so the A10Gs take one of them, any one: the fleet costs the same. The A100 takes
    # the rest of its loads 6/20 + 3/20 + 15/40 + 6/20 = 1.125 of one instance.
    a100_load = {"in0-out0": 6 / 20, "in0-out1": 3 / 20, "in1-out0": 15 / 40, "in1-out1": 6 / 20}
    pools = {p["accelerator"]: p for p in s["pools"]}
    (on_a10g,) = [x["name"] for x in pools["a10g"]["serves"]]
    assert pools["a10g"]["utilization"] == pytest.approx(1.0)
    assert pools["a100-80gb"]["utilization"] == pytest.approx(1.125 - a100_load[on_a10g])
    assert all(x["share"] == pytest.approx(1.0) for p in s["pools"] for x in p["serves"])
    rates = {w["name"]: w["requests_per_s"] for w in s["workloads"]}
    assert rates == pytest.approx({"in0-out0": 6, "in0-out1": 3, "in1-out0": 15, "in1-out1": 6})


def test_melange_baselines(capsys):
    """The best one-type fleet: all A100 loads sum to 6/20 + 3/20 + 15/40 + 6/20 = 1.125
    instances → 2 × $3.67 = $7.34/h (all A10G: 12 instances, $12.12/h)."""
    _, s = _solve(capsys, MELANGE)
    baselines = {b["name"]: b for b in s["baselines"]}
    assert set(baselines) == {"homogeneous-aggregated", "homogeneous-disaggregated",
                              "no-memory-tiers"}  # fmt: skip
    homogeneous = baselines.pop("homogeneous-aggregated")
    assert homogeneous["applicable"] is True
    assert homogeneous["objective"] == pytest.approx(2 * A100)
    assert homogeneous["pools"] == ["a100-80gb"]
    assert homogeneous["saving_pct"] == pytest.approx((7.34 - 6.70) / 7.34 * 100)
    for other in baselines.values():  # measured instances have no phases or tiers
        assert other["applicable"] is False and other["objective"] is None


def test_melange_baseline_under_a_device_limit(capsys):
    """With one A100 available the one-type fleet is 12 × A10G = $12.12/h; the optimum, which
    needs one A100, is unchanged."""
    _, s = _solve(capsys, MELANGE, "--set", "constraints.devices={a100-80gb = 1}")
    assert s["objective"] == pytest.approx(6.70)
    homogeneous = s["baselines"][0]
    assert homogeneous["pools"] == ["a10g"]
    assert homogeneous["objective"] == pytest.approx(12 * A10G)


def test_melange_slice_factor_splits_classes_in_quarters(capsys):
    _, s = _solve(capsys, MELANGE, "--set", "solver.slice_factor=4")
    shares = [x["share"] for p in s["pools"] for x in p["serves"]]
    assert all(4 * x == pytest.approx(round(4 * x)) for x in shares)
    assert any(x < 1 - 1e-9 for x in shares)  # 5.69 < 6.70 needs a class split


# --- the bundled model-based problems, re-checked from the JSON alone --------------------------


@pytest.fixture(scope="module")
def bundled() -> dict[str, tuple[int, dict]]:
    """Each model-based bundled problem solved once (1–3 s each) through the CLI."""
    results = {}
    for name in MODEL_PROBLEMS:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = run(["solve", str(PROBLEMS / f"{name}.toml"), "--json"])
        results[name] = (code, json.loads(out.getvalue()))
    return results


@pytest.mark.parametrize("name", MODEL_PROBLEMS)
def test_bundled_problem_is_solved_optimally(bundled, name):
    code, s = bundled[name]
    assert code == 0 and s["status"] == "optimal", s["explanation"]
    # within the solvers' tolerance (ilp.PROOF_TOL): CBC left 1.0000036e-6 on long-context-coding
    assert s["problem"] == name and s["gap"] == pytest.approx(0.0, abs=1e-5)
    assert s["pools"] and not s["explanation"]


@pytest.mark.parametrize("name", MODEL_PROBLEMS)
def test_bundled_solution_meets_every_slo(bundled, name):
    _, s = bundled[name]
    for w in s["workloads"]:
        assert w["ttft_s"] <= w["ttft_slo_s"] * (1 + 1e-6), w
        assert w["tpot_s"] <= w["tpot_slo_s"] * (1 + 1e-6), w
    slo = {w["name"]: w for w in s["workloads"]}
    for pool in s["pools"]:  # and every pool that serves a class, not only the worst
        for x in pool["serves"]:
            if pool["phase"] in ("prefill", "aggregated"):
                assert x["ttft_s"] <= slo[x["name"]]["ttft_slo_s"] * (1 + 1e-6)
            if pool["phase"] in ("decode", "aggregated"):
                assert x["tpot_s"] <= slo[x["name"]]["tpot_slo_s"] * (1 + 1e-6)


@pytest.mark.parametrize("name", MODEL_PROBLEMS)
def test_bundled_solution_serves_every_class_in_both_phases(bundled, name):
    _, s = bundled[name]
    for w in s["workloads"]:
        for phases in (("prefill", "aggregated"), ("decode", "aggregated")):
            total = sum(x["share"] for p in s["pools"] if p["phase"] in phases
                        for x in p["serves"] if x["name"] == w["name"])  # fmt: skip
            assert total == pytest.approx(1.0, abs=1e-6), (w["name"], phases)
        handed = sum(x["share"] for p in s["pools"] if p["phase"] == "prefill"
                     for x in p["serves"] if x["name"] == w["name"])  # fmt: skip
        assert w["disaggregated_share"] == pytest.approx(handed, abs=1e-6)
    rate = {w["name"]: w["requests_per_s"] for w in s["workloads"]}
    for pool in s["pools"]:
        assert pool["instances"] >= 1 and pool["utilization"] <= 1 + 1e-6
        assert pool["devices"] == pool["instances"] * pool["tp"] * (pool["dp"] or 1)
        for x in pool["serves"]:
            assert x["requests_per_s"] == pytest.approx(x["share"] * rate[x["name"]])


@pytest.mark.parametrize("name", MODEL_PROBLEMS)
def test_bundled_solution_totals_add_up(bundled, name):
    _, s = bundled[name]
    pools, breakdown = s["pools"], s["cost_breakdown"]
    assert s["cost_usd_per_hour"] == pytest.approx(sum(breakdown.values()), rel=1e-9)
    per_device = {p["accelerator"]: p["cost_usd_per_hour"] / p["devices"] for p in pools}
    idle = sum(v["idle_devices"] * per_device[v["accelerator"]] for v in s["systems"].values())
    assert breakdown["hardware"] + breakdown["network"] == pytest.approx(
        sum(p["cost_usd_per_hour"] for p in pools) + idle, rel=1e-9
    )
    assert breakdown["memory_tiers"] == pytest.approx(
        sum(t["cost_usd_per_hour"] for t in s["tier_pools"]), rel=1e-9, abs=1e-12
    )
    assert s["power_w"] == pytest.approx(sum(p["power_w"] for p in pools), rel=1e-9)
    assert 0 < s["average_power_w"] <= s["power_w"] * (1 + 1e-9)
    devices: dict[str, int] = {}
    for p in pools:
        devices[p["accelerator"]] = devices.get(p["accelerator"], 0) + p["devices"]
    assert s["devices"] == {a: n for a, n in devices.items() if n}
    tiers = {t["tier"]: t for t in s["tier_pools"]}
    for p in pools:
        assert p["tier"] is None or p["tier"] in tiers, p["name"]
    for t in tiers.values():
        assert 0 <= t["gb_used"] <= t["gb"] * (1 + 1e-9)


@pytest.mark.parametrize("name", MODEL_PROBLEMS)
def test_bundled_objective_and_energy_follow_the_pricing(bundled, name):
    """Owned pricing bills average IT power × PUE × electricity; rental includes energy. An
    energy objective is facility kWh per hour (its cost minimized after it)."""
    _, s = bundled[name]
    economics = load_catalog().economics["default"]
    assert s["facility_power_w"] == pytest.approx(s["power_w"] * economics.pue)
    energy = s["cost_breakdown"]["energy"]
    if name == "coding-agent-cloud":
        assert energy == 0.0
    else:
        kwh = s["average_power_w"] * economics.pue / 1000
        assert energy == pytest.approx(kwh * economics.electricity_usd_per_kwh, rel=1e-9)
    if s["objective_kind"] == "cost":
        assert s["objective"] == pytest.approx(s["cost_usd_per_hour"], rel=1e-9)
    else:
        assert name == "mixed-agentic-owned" and s["objective_kind"] == "energy"
        kwh = s["average_power_w"] * economics.pue / 1000
        assert s["objective"] == pytest.approx(kwh, rel=1e-9)


def test_mixed_problem_keeps_its_power_budget(bundled):
    _, s = bundled["mixed-agentic-owned"]
    assert s["power_w"] <= 400e3
    assert {w["name"] for w in s["workloads"]} == {
        "chat", "coding-agent", "web-agent", "computer-use-agent"}  # fmt: skip


@pytest.mark.parametrize("name", MODEL_PROBLEMS)
def test_bundled_baselines_are_no_better_than_the_optimum(bundled, name):
    _, s = bundled[name]
    assert [b["name"] for b in s["baselines"]] == [
        "homogeneous-aggregated", "homogeneous-disaggregated", "no-memory-tiers"]  # fmt: skip
    best = s["objective"]
    for b in s["baselines"]:
        assert b["applicable"] and b["status"] == "optimal", b
        assert b["objective"] >= best * (1 - 1e-6), b
        assert b["saving_pct"] == pytest.approx(
            100 * (b["objective"] - best) / b["objective"], abs=1e-9
        )
        assert b["pools"]
    homogeneous = [b for b in s["baselines"] if b["name"].startswith("homogeneous")]
    for b in homogeneous:  # one accelerator type: its pool names share the accelerator
        assert len({name.split("/")[1] for name in b["pools"]}) == 1, b["pools"]


# --- --out ---------------------------------------------------------------------------------------


def test_out_writes_the_printed_json_and_refuses_to_overwrite(capsys, tmp_path):
    out = tmp_path / "nested" / "melange.json"
    code, printed = _solve(capsys, MELANGE, "--out", str(out))
    assert code == 0
    assert json.loads(out.read_text()) == printed
    before = out.read_bytes()

    err = _fails(capsys, ["solve", MELANGE, "--out", out, "--set", "solver.assignment=split"])
    assert str(out) in err and "--force" in err
    assert out.read_bytes() == before

    code, split = _solve(capsys, MELANGE, "--out", str(out), "--force",
                         "--set", "solver.assignment=split")  # fmt: skip
    assert code == 0
    saved = json.loads(out.read_text())
    assert saved == split and saved["objective"] == pytest.approx(4.68)


def test_out_without_json_prints_the_report_and_where_it_saved(capsys, tmp_path):
    out = tmp_path / "melange.json"
    assert run(["solve", str(MELANGE), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "optimal" in printed and "6.700" in printed and "a100-80gb" in printed
    assert "solution saved to" in printed
    assert json.loads(out.read_text())["objective"] == pytest.approx(6.70)


@pytest.mark.parametrize("where", ["a directory", "under a file"])
def test_out_to_an_unwritable_path_is_an_input_error(capsys, tmp_path, where):
    if where == "a directory":
        out, extra = tmp_path, ["--force"]
    else:
        (tmp_path / "file").write_text("x")
        out, extra = tmp_path / "file" / "solution.json", []
    err = _fails(capsys, ["solve", MELANGE, "--out", out, *extra, "--json"])
    assert str(out) in err


# --- compare ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_solutions(tmp_path_factory) -> Path:
    """The whole-class and split Mélange answers, saved once as a.json and b.json."""
    directory = tmp_path_factory.mktemp("saved")
    with contextlib.redirect_stdout(io.StringIO()):
        assert run(["solve", str(MELANGE), "--out", str(directory / "a.json")]) == 0
        assert run(["solve", str(MELANGE), "--out", str(directory / "b.json"),
                    "--set", "solver.assignment=split"]) == 0  # fmt: skip
    return directory


@pytest.fixture
def saved_pair(saved_solutions, tmp_path, monkeypatch) -> tuple[str, str]:
    """a.json and b.json copied into a fresh cwd, so labels are short and files disposable."""
    for name in ("a.json", "b.json"):
        shutil.copy(saved_solutions / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return "a.json", "b.json"


def test_compare_two_saved_solutions(capsys, saved_pair):
    assert run(["compare", *saved_pair]) == 0
    out = capsys.readouterr().out
    assert "a.json" in out and "b.json" in out
    assert "6.700" in out and "4.680" in out
    assert "3 × a10g" in out and "1 × a10g" in out


def _compared(capsys) -> list[dict]:
    """The labelled solutions of ``compare --json``, after its verdict."""
    data = json.loads(capsys.readouterr().out)
    assert list(data)[:3] == ["status", "success", "message"]
    assert data["success"] == all(s["success"] for s in data["solutions"])
    return data["solutions"]


def test_compare_json_lists_labelled_solutions(capsys, saved_pair):
    assert run(["compare", *saved_pair, "--json"]) == 0
    data = _compared(capsys)
    assert [d["label"] for d in data] == list(saved_pair)
    assert [d["objective"] for d in data] == pytest.approx([6.70, 4.68])
    assert all(d["schema_version"] == 1 for d in data)


def test_compare_vary_solves_each_value(capsys):
    argv = ["compare", str(MELANGE), "--vary", "assignment=whole-class,split", "--json"]
    assert run(argv) == 0
    data = _compared(capsys)
    assert [d["label"] for d in data] == [
        "solver.assignment=whole-class", "solver.assignment=split"]  # fmt: skip
    assert [d["objective"] for d in data] == pytest.approx([6.70, 4.68])
    assert [_fleet(d) for d in data] == [{"a10g": 3, "a100-80gb": 1}, {"a10g": 1, "a100-80gb": 1}]


def test_compare_vary_two_axes_solves_every_combination(capsys):
    argv = ["compare", str(MELANGE), "--vary", "assignment=whole-class,split",
            "--vary", "solver=cbc,highs", "--json"]  # fmt: skip
    assert run(argv) == 0
    data = _compared(capsys)
    assert len(data) == 4
    by_label = {d["label"]: d["objective"] for d in data}
    assert by_label == pytest.approx({
        "solver.assignment=whole-class, solver.name=cbc": 6.70,
        "solver.assignment=whole-class, solver.name=highs": 6.70,
        "solver.assignment=split, solver.name=cbc": 4.68,
        "solver.assignment=split, solver.name=highs": 4.68,
    })  # fmt: skip


def test_compare_vary_objective_trades_cost_for_energy(capsys, tmp_path):
    """8B model at 200 req/s on L40S or H200, owned: the cheapest fleet (many L40S in PCIe
    servers) and the least-energy one (H200s) differ; each is best at its own objective and
    worse at the other. (With L4 the two coincide since cards sold alone pay their server's
    share: the H200 fleet is then both.)"""
    problem = _small(tmp_path, model="llama-3.1-8b", rate=200, pricing="owned",
                     accelerators='["l40s", "h200-sxm"]')  # fmt: skip
    argv = ["compare", str(problem), "--vary", "objective=cost,energy", "--json"]
    assert run(argv) == 0
    cost, energy = _compared(capsys)
    assert (cost["label"], energy["label"]) == ("objective.kind=cost", "objective.kind=energy")
    assert (cost["objective_kind"], energy["objective_kind"]) == ("cost", "energy")
    assert cost["status"] == energy["status"] == "optimal"
    assert cost["cost_usd_per_hour"] < energy["cost_usd_per_hour"]
    assert energy["average_power_w"] < cost["average_power_w"]
    pue = load_catalog().economics["default"].pue
    assert energy["objective"] == pytest.approx(energy["average_power_w"] * pue / 1e3, rel=1e-5)


def test_compare_vary_energy_on_melange_needs_power(capsys):
    err = _fails(capsys, ["compare", MELANGE, "--vary", "objective=cost,energy"])
    assert "power_w" in err and "a10g" in err and "a100-80gb" in err


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (["a.json"], "two or more"),
        (["a.json", "notes.txt"], "notes.txt: not a solution JSON"),
        (["a.json", "plain.json"], "plain.json: not a hetplan solution (no schema_version)"),
        (["a.json", "list.json"], "list.json: not a hetplan solution"),
        (["a.json", "future.json"], "future.json: schema_version 99"),
        (["a.json", "missing.json"], "missing.json: cannot read"),
    ],
)
def test_compare_rejects_what_is_not_a_solution(capsys, saved_pair, files, message):
    Path("notes.txt").write_text("hello\n")
    Path("plain.json").write_text('{"objective": 1}\n')
    Path("list.json").write_text("[1, 2]\n")
    Path("future.json").write_text('{"schema_version": 99}\n')
    assert message in _fails(capsys, ["compare", *files])


def test_compare_usage_errors(capsys, saved_pair):
    assert "--vary" in _fails(capsys, ["compare", *saved_pair, "--set", "solver.name=highs"])
    err = _fails(capsys, ["compare", saved_pair[0], "--vary", "assignment=split"])
    assert "exactly one problem file" in err
    assert "at least one value" in _fails(capsys, ["compare", MELANGE, "--vary", "assignment=,"])
    assert "KEY=VALUE" in _fails(capsys, ["compare", MELANGE, "--vary", "assignment"])


def test_compare_a_solution_json_missing_fields_is_an_input_error(capsys, saved_pair):
    Path("stub.json").write_text('{"schema_version": 1}\n')
    err = _fails(capsys, ["compare", saved_pair[0], "stub.json"])
    assert "stub.json" in err


# --- infeasible: exit 1 with an explanation ------------------------------------------------------


def test_unreachable_tpot_names_class_target_and_best(capsys, tmp_path):
    problem = _small(tmp_path, tpot_ms=0.5)
    code, s = _solve(capsys, problem)
    assert code == 1
    assert s["status"] == "infeasible" and s["objective"] is None and not s["pools"]
    (line,) = s["explanation"]
    assert line.startswith("coding-agent: ") and "TPOT 0.5 ms" in line
    best = _number(r"the best is ([\d.,]+) ms on (?:h100-sxm|b200) ", line)
    assert best > 0.5
    # the best is what the fleet layer can reach: a target just above it is met, just below not
    code, met = _solve(capsys, problem, "--set", f"serve.0.tpot_ms={best + 0.1:.1f}")
    assert code == 0 and met["workloads"][0]["tpot_s"] <= (best + 0.1) / 1e3
    code, missed = _solve(capsys, problem, "--set", f"serve.0.tpot_ms={best - 0.1:.1f}")
    assert code == 1 and "TPOT" in missed["explanation"][0]


def test_infeasible_without_json_prints_the_explanation(capsys, tmp_path):
    assert run(["solve", str(_small(tmp_path, tpot_ms=0.5))]) == 1
    captured = capsys.readouterr()
    assert "infeasible" in captured.out and "TPOT 0.5 ms" in captured.out
    assert "Traceback" not in captured.err


def test_power_budget_too_small_says_by_how_much(capsys, tmp_path):
    problem = _small(tmp_path, pricing="owned", extra="[constraints]\npower_budget_kw = 1\n")
    code, s = _solve(capsys, problem)
    assert code == 1 and s["status"] == "infeasible"
    (line,) = s["explanation"]
    short = _number(r"power short by ([\d.,]+) kW", line)
    needs = _number(r"needs ([\d.,]+) kW", line)
    limit = _number(r"the limit is ([\d.,]+) kW", line)
    assert short > 0 and limit == 1.0
    assert needs - limit == pytest.approx(short, abs=0.11)  # each printed to 0.1 kW
    # "needs" is the least power any fleet draws: a budget just above it is enough
    code, met = _solve(capsys, problem, "--set", f"constraints.power_budget_kw={needs + 0.1}")
    assert code == 0 and met["power_w"] <= (needs + 0.1) * 1e3
    code, _ = _solve(capsys, problem, "--set", f"constraints.power_budget_kw={needs - 0.1}")
    assert code == 1


def test_too_few_devices_names_the_accelerator(capsys, tmp_path):
    problem = _small(tmp_path, accelerators='["h100-sxm"]',
                     extra="[constraints]\ndevices = { h100-sxm = 1 }\n")  # fmt: skip
    code, s = _solve(capsys, problem)
    assert code == 1 and s["status"] == "infeasible"
    (line,) = s["explanation"]
    assert line.startswith("h100-sxm: ")
    more = _number(r"(\d+) devices more than the 1 available", line)
    code, met = _solve(capsys, problem, "--set", f"constraints.devices.h100-sxm={1 + more:g}")
    assert code == 0 and met["devices"] == {"h100-sxm": 1 + more}
    code, _ = _solve(capsys, problem, "--set", f"constraints.devices.h100-sxm={more:g}")
    assert code == 1


def test_budget_too_small_on_melange(capsys):
    code, s = _solve(capsys, MELANGE, "--set", "constraints.budget_usd_per_hour=1")
    assert code == 1
    (line,) = s["explanation"]
    assert "short by $5.70/h" in line and "$6.70/h" in line


# --- invalid input: exit 2, one message, no traceback -------------------------------------------


def test_invalid_problem_files(capsys, tmp_path):
    err = _fails(capsys, ["solve", tmp_path / "nope.toml"])
    assert "nope.toml" in err and "cannot read" in err

    broken = tmp_path / "broken.toml"
    broken.write_text('[problem]\nname = "x"\n[[serve]\nmodel = 1\n')
    assert "line 3" in _fails(capsys, ["solve", broken])

    unknown = _small(tmp_path, "unknown", extra="[solver]\nbogus = 1\n")
    assert "bogus: unknown key" in _fails(capsys, ["solve", unknown])

    model = _small(tmp_path, "model")
    model.write_text(model.read_text().replace("llama-3.1-70b", "llama-9"))
    assert "unknown model id 'llama-9'" in _fails(capsys, ["solve", model])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("solver", "--set 'solver': expected KEY=VALUE"),
        ("=4", "expected KEY=VALUE"),
        ("objective.kindd=x", "override objective.kindd: unknown key"),
        ("solver.name=gurobi", "override solver.name"),
        ("objective.kind=energy", "power_w: required for an energy objective"),
    ],
)
def test_invalid_overrides(capsys, override, message):
    assert message in _fails(capsys, ["solve", MELANGE, "--set", override])


@pytest.mark.parametrize(
    "styles",
    [
        'styles.accelerators=["tpu-v7"]',  # the catalog has no cloud price for it
        "styles.tp=[3]",  # no TP group of 3 on any accelerator
    ],
)
def test_no_candidate_at_all_is_reported_not_raised(capsys, tmp_path, styles):
    code = run(["solve", str(_small(tmp_path)), "--set", styles, "--json"])
    assert code in (1, 2)
    assert "Traceback" not in capsys.readouterr().err


def test_power_budget_on_measured_instances_without_power_is_not_ignored(capsys):
    code = run(["solve", str(MELANGE), "--set", "constraints.power_budget_kw=0.001", "--json"])
    captured = capsys.readouterr()
    assert code != 0 and "power_w" in captured.out + captured.err


def test_a_tiny_request_rate_still_needs_an_instance(capsys):
    code, s = _solve(capsys, MELANGE, "--set", "measured.requests_per_s=1e-7")
    assert code == 0
    assert s["objective"] >= A10G and all(p["instances"] >= 1 for p in s["pools"])


@pytest.mark.parametrize("rate", ["1e16", "1e300"])
@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_an_absurd_request_rate_is_an_input_error(capsys, rate, solver):
    """Rates above 10^9 req/s are refused: beyond any datacenter, and at 10^16 HiGHS drops
    every row (coefficients ≥ 10^15) while 10^300 overflows the instance bounds."""
    message = _fails(capsys, ["solve", str(MELANGE), "--set", f"measured.requests_per_s={rate}",
                              "--set", f"solver.name={solver}"])  # fmt: skip
    assert "requests_per_s" in message and "1000000000" in message


# --- the installed entry point -------------------------------------------------------------------


@pytest.mark.parametrize("entry", ["module", "script"])
def test_entry_point_solves_melange(entry):
    if entry == "module":
        command = [sys.executable, "-m", "optimizer.cli"]
    else:
        script = shutil.which("hetplan")
        if script is None:
            pytest.skip("the hetplan console script is not on PATH")
        command = [script]
    result = subprocess.run([*command, "solve", str(MELANGE), "--json"],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    s = json.loads(result.stdout)
    assert s["status"] == "optimal" and s["objective"] == pytest.approx(6.70)
    assert _fleet(s) == {"a10g": 3, "a100-80gb": 1}


def test_cbc_is_not_asked_for_its_threaded_branch_and_bound():
    """Not timed here: the stall is random. Measured on the 8B one-accelerator problem of the
    fuzz file: 5 of 300 solves took 10.0 s instead of 0.04 s with '-threads 1', none of 600
    without it; below a 10 s time limit the stalled solve ends 'feasible' with a gap."""
    from optimizer.search import ilp

    options = ilp._solver(
        ilp.SolverSettings(name=ilp.SolverName.CBC), time_limit_s=60.0
    ).getOptions()
    threads = [int(o.split()[1]) for o in options if o.startswith("threads")]
    assert all(n == 0 for n in threads), options
