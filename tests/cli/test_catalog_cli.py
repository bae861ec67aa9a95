"""``hetplan catalog``: listing, showing and validating, with exit codes and clean errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from optimizer.catalog import KINDS
from optimizer.cli.main import run


def _json(capsys, argv) -> object:
    assert run(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_catalog_validate_bundled_passes(capsys):
    assert run(["catalog", "validate"]) == 0
    assert capsys.readouterr().out.startswith("catalog OK")


@pytest.mark.parametrize("kind", [k.name for k in KINDS])
def test_catalog_list_kind_json_rows(capsys, kind):
    rows = _json(capsys, ["catalog", "list", kind, "--json"])
    assert rows and all(r["kind"] == kind and r["origin"] == "bundled" for r in rows)


def test_catalog_list_unknown_kind_exits_2(capsys):
    assert run(["catalog", "list", "gpus"]) == 2
    assert "unknown kind 'gpus'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("model", "kv_bytes"), [("llama-3.1-70b", 327_680), ("deepseek-v3", 70_272)]
)
def test_catalog_show_model_derived_kv_bytes(capsys, model, kv_bytes):
    data = _json(capsys, ["catalog", "show", model, "--json"])
    assert data["derived"]["kv_bytes_per_token"] == kv_bytes
    assert data["derived"]["params_total"] >= data["derived"]["params_active"] > 0


def test_catalog_show_unknown_id_exits_2(capsys):
    assert run(["catalog", "show", "h900"]) == 2
    assert capsys.readouterr().err.strip() == "error: no catalog entry with id 'h900'"


def test_user_catalog_adds_and_overrides(capsys, write_catalog):
    user = write_catalog(
        {
            "mine.toml": """
            [[accelerator]]
            id = "h100-sxm"
            name = "H100 with a made-up price"
            vendor = "nvidia"
            family = "nvidia-hopper"
            year = 2022
            dense_tflops = { bf16 = 989.0 }
            memory_type = "hbm3"
            memory_capacity_gb = 80.0
            memory_bandwidth_tb_per_s = 3.35
            tdp_w = 700.0
            price_usd = 1.0
            sources = ["test"]
            confidence = "uncertain"

            [[accelerator]]
            id = "dream-decoder"
            name = "Hypothetical decode chip"
            vendor = "us"
            family = "us-gen1"
            year = 2027
            dense_tflops = { fp8 = 500.0 }
            memory_type = "hbm4"
            memory_capacity_gb = 512.0
            memory_bandwidth_tb_per_s = 30.0
            tdp_w = 800.0
            sources = ["hypothetical design point"]
            confidence = "uncertain"
            """
        }
    )
    rows = _json(capsys, ["--catalog", str(user), "catalog", "list", "accelerators", "--json"])
    origin = {r["id"]: r["origin"] for r in rows}
    assert origin["h100-sxm"] == "override" and origin["dream-decoder"] == "user"
    assert origin["h200-sxm"] == "bundled"
    assert run(["catalog", "validate", str(user)]) == 0
    assert "overriding h100-sxm" in capsys.readouterr().out


BROKEN = {
    "unknown key": (
        "tdp_w = 700.0",
        "tdp_w = 700.0\nboost_clock = 2.0",
        "bad: boost_clock: unknown key",
    ),
    "negative bandwidth": (
        "memory_bandwidth_tb_per_s = 3.0",
        "memory_bandwidth_tb_per_s = -3.0",
        "bad: memory_bandwidth_tb_per_s: Input should be greater than 0, got -3.0",
    ),
    "dangling reference": (
        'memory_type = "hbm3"',
        'memory_type = "hbm9"',
        "bad: memory_type: unknown memory id 'hbm9'",
    ),
    "wrong type": ("year = 2027", 'year = "soon"', "bad: year: Input should be a valid integer"),
    "unreadable TOML": ('name = "Broken"', 'name = "Broken', ": line 4: "),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_catalog_validate_broken_user_catalog_exits_2_without_traceback(case, write_catalog):
    old, new, expected = BROKEN[case]
    entry = """
    [[accelerator]]
    id = "bad"
    name = "Broken"
    vendor = "us"
    family = "us-gen1"
    year = 2027
    dense_tflops = { bf16 = 100.0 }
    memory_type = "hbm3"
    memory_capacity_gb = 10.0
    memory_bandwidth_tb_per_s = 3.0
    tdp_w = 700.0
    sources = ["test"]
    confidence = "uncertain"
    """
    assert old in entry
    user = write_catalog({"bad.toml": entry.replace(old, new)})
    result = subprocess.run(
        [sys.executable, "-m", "optimizer.cli", "catalog", "validate", str(user)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == "error: 1 problem in the input files above"
    assert lines[0].startswith(str(user / "bad.toml") + ": ")
    assert expected in lines[0]


def test_duplicate_id_in_user_directory_exits_2(capsys, write_catalog):
    entry = """
    [[economics]]
    id = "mine"
    name = "Mine"
    electricity_usd_per_kwh = 0.1
    pue = 1.2
    depreciation_years = 4
    sources = ["test"]
    confidence = "uncertain"
    """
    user = write_catalog({"a.toml": entry, "b.toml": entry})
    assert run(["catalog", "validate", str(user)]) == 2
    assert "b.toml: mine: id: duplicate id" in capsys.readouterr().err


def test_validate_a_directory_also_given_with_catalog_reports_it_once(capsys, write_catalog):
    user = write_catalog({"bad.toml": '[[model]]\nid = "x"\n'})
    assert run(["catalog", "validate", str(user)]) == 2
    alone = capsys.readouterr().err
    assert run(["--catalog", str(user), "catalog", "validate", str(user)]) == 2
    assert capsys.readouterr().err == alone
