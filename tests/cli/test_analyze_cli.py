"""``hetplan analyze``: operator table or JSON, the four plots as PNG and SVG, clean errors."""

from __future__ import annotations

import json

import pytest

from optimizer.cli.main import run

PLOTS = ("roofline", "cf_vs_context", "oi_cf_quadrants", "max_batch_vs_context")


def test_analyze_json_and_plots(capsys, tmp_path):
    argv = ["analyze", "--model", "llama-3.1-8b", "--workload", "coding-agent"]
    argv += ["--accelerator", "h100-sxm,b200", "--out-dir", str(tmp_path), "--json"]
    assert run(argv) == 0
    data = json.loads(capsys.readouterr().out)
    for key in ("model", "workload", "request", "accelerators", "phases", "workloads", "plots"):
        assert key in data
    assert [a["id"] for a in data["accelerators"]] == ["h100-sxm", "b200"]
    prefill, decode = data["phases"]
    assert (prefill["phase"], decode["phase"]) == ("prefill", "decode")
    names = [op["operator"] for op in decode["operators"]]
    assert {"attention-projections", "attention", "ffn", "lm-head"} <= set(names)
    for op in decode["operators"]:
        assert {"flops", "bytes", "oi_flop_per_byte", "cf_bytes", "wall"} <= set(op)
        assert set(op["wall"]) == {"h100-sxm", "b200"}
    # decode FFN of a dense model in bf16: OI = batch (2 FLOPs and 2 bytes per weight and token)
    ffn = decode["operators"][names.index("ffn")]
    assert ffn["oi_flop_per_byte"] == pytest.approx(data["batch"])
    assert ffn["wall"]["h100-sxm"] == "bandwidth"
    assert {w["workload"] for w in data["workloads"]} >= {
        "chat",
        "coding-agent",
        "web-agent",
        "computer-use-agent",
    }
    for plot in PLOTS:
        for fmt in ("png", "svg"):
            path = tmp_path / f"llama-3.1-8b_coding-agent_{plot}.{fmt}"
            assert path.is_file() and path.stat().st_size > 1000
            assert str(path) in data["plots"]


def test_analyze_table_without_plots(capsys, tmp_path):
    argv = ["analyze", "--model", "mixtral-8x7b", "--accelerator", "h200-sxm", "--no-plots"]
    assert run([*argv, "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "attention-projections" in out and "lm-head" in out and "h200-sxm" in out
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "llama-9"], "no models entry with id 'llama-9'"),
        (["--model", "llama-3.1-8b", "--accelerator", "h900"], "id 'h900'"),
        (["--model", "llama-3.1-8b", "--workload", "gaming"], "id 'gaming'"),
        (["--model", "llama-3.1-8b", "--precision", "fp7"], "unknown precision 'fp7'"),
    ],
)
def test_analyze_unknown_ids_exit_2(capsys, argv, message):
    assert run(["analyze", *argv, "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err
