"""``hetplan estimate``: the JSON contract, infeasible (exit 1) and invalid input (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from optimizer.catalog.loader import load_catalog
from optimizer.cli.main import run

BASE = ["estimate", "--model", "llama-3.1-70b", "--accelerator", "h200-sxm", "--tp", "2"]
TOKENS = ["--input-tokens", "4000", "--output-tokens", "500"]


def _estimate(capsys, *extra) -> dict:
    assert run([*BASE, *TOKENS, *extra, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_has_the_documented_keys(capsys):
    r = _estimate(capsys, "--precision", "fp8", "--kv-precision", "fp8", "--tpot-slo-ms", "50")
    keys = {"ttft_s", "tpot_s", "batch", "output_tokens_per_s", "oi", "cf_bytes_per_request",
            "output_tokens_per_s_per_accelerator", "memory_bytes_per_device", "bound",
            "power_w", "energy_j_per_output_token", "notes"}  # fmt: skip
    assert keys <= r.keys()
    assert set(r["oi"]) == {"prefill", "decode"}
    assert set(r["memory_bytes_per_device"]) == {"weights", "kv", "other"}
    assert r["tpot_s"] <= 0.050
    assert r["output_tokens_per_s_per_accelerator"] == pytest.approx(r["output_tokens_per_s"] / 2)
    assert r["output_tokens_per_s"] == pytest.approx(r["batch"] / r["tpot_s"])
    # fp8 weights of a 70.6B model split over 2 devices, its embedding and lm_head (128,256 x
    # 8,192 each) in bf16
    weights = 70.55e9 + 2 * 128_256 * 8_192
    assert r["memory_bytes_per_device"]["weights"] == pytest.approx(weights / 2, rel=0.01)


def test_tpot_slo_binds_then_a_looser_one_allows_a_larger_batch(capsys):
    tight = _estimate(capsys, "--precision", "fp8", "--tpot-slo-ms", "40")
    loose = _estimate(capsys, "--precision", "fp8", "--tpot-slo-ms", "80")
    assert tight["bound"] == "slo" and tight["batch"] < loose["batch"]


def test_no_batch_no_slo_is_the_capacity_wall(capsys):
    r = _estimate(capsys)
    assert r["bound"] == "capacity" and r["batch"] == r["capacity_max_batch"]
    mem = r["memory_bytes_per_device"]
    usable = load_catalog().accelerators["h200-sxm"].memory_usable_gb * 1e9
    per_sequence = mem["kv"] / r["batch"]
    # the wall: the batch's KV fits the room left after the weights; one more sequence does not
    room = usable - mem["weights"] - mem["other"]
    assert mem["kv"] <= room < mem["kv"] + per_sequence


def test_sol_is_faster_than_calibrated(capsys):
    sol = _estimate(capsys, "--batch", "8", "--mode", "sol")
    cal = _estimate(capsys, "--batch", "8")
    assert sol["tpot_s"] < cal["tpot_s"] and sol["ttft_s"] < cal["ttft_s"]


def test_fp8_on_a100_falls_back_to_bf16_compute_and_says_so(capsys):
    assert run(["estimate", "--model", "llama-3.1-8b", "--accelerator", "a100-sxm-80gb",
                "--precision", "fp8", *TOKENS, "--json"]) == 0  # fmt: skip
    notes = " ".join(json.loads(capsys.readouterr().out)["notes"])
    assert "fp8" in notes and "bf16" in notes


def test_workload_mean_turn_and_park_tier(capsys):
    argv = ["estimate", "--model", "llama-3.1-70b", "--accelerator", "h200-sxm", "--tp", "2",
            "--workload", "coding-agent", "--tier", "cxl-expander", "--tier-gb", "512",
            "--tier-use", "park", "--json"]  # fmt: skip
    assert run(argv) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["tier"]["park_reload_s"] > 0
    assert r["request"]["prefix_tokens"] < r["request"]["input_tokens"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--tp", "3"], "must divide llama-3.1-70b's 64 query heads"),
        (["--precision", "fp6"], "unknown precision 'fp6'"),
        (["--ep", "2"], "routed experts"),
        (["--phase", "both"], "--phase"),
        (["--tier", "cxl-expander"], "--tier: goes with --tier-gb and --tier-use"),
    ],
)
def test_invalid_input_exits_2_with_one_line(capsys, extra, message):
    assert run([*BASE, *TOKENS, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_unknown_model_exits_2(capsys):
    assert run(["estimate", "--model", "nope", "--accelerator", "h100-sxm", *TOKENS]) == 2
    assert "no models entry with id 'nope'" in capsys.readouterr().err


def test_weights_that_do_not_fit_exit_1_saying_by_how_much(capsys):
    assert run(["estimate", "--model", "llama-3.1-70b", "--accelerator", "h100-sxm",
                *TOKENS]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert "does not fit" in err and "GB" in err and "by " in err


def test_unreachable_tpot_exits_1_with_the_gap(capsys):
    assert run([*BASE, *TOKENS, "--tpot-slo-ms", "1"]) == 1
    err = capsys.readouterr().err
    assert "TPOT target 1 ms not met" in err and "over by" in err


def test_estimate_keeps_heavy_libraries_off_its_import_path():
    code = (
        "import sys; from optimizer.cli.main import run; "
        "run(['estimate','--model','llama-3.1-8b','--accelerator','h100-sxm',"
        "'--input-tokens','100','--output-tokens','10']); "
        "print(sorted(m for m in ('scipy','pandas','matplotlib','pulp','optuna') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
