"""``hetplan codesign`` end to end on a one-problem file: strict JSON on stdout, the tables and
report written, a second run on the same storage resumes (every earlier trial kept), the same
seed gives the same trials, and bad input is one line with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "problems" / "codesign" / "long-sessions.toml"
FILE = f"""
[codesign]
name = "cli"
objectives = ["energy"]

[[problem]]
file = "{BASE}"

[decode]
node = "n4"
dense_fp8_tflops = [300, 600]
memory = ["hbm3e", "hbm4"]
memory_stacks = {{ low = 4, high = 8 }}
scale_up_gb_per_s = 450
scale_up_domain = 8
"""


def _hetplan(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "optimizer.cli", *args],
        cwd=cwd, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    here = tmp_path_factory.mktemp("cli")
    (here / "cd.toml").write_text(FILE)
    done = _hetplan("codesign", "cd.toml", "--trials", "4", "--out", "out", "--json", cwd=here)
    return here, done


def test_json_is_strict_and_the_directory_holds_trials_and_report(first):
    here, done = first
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)  # the whole of stdout is one JSON document
    assert result["status"] == "ok" and result["n_complete"] == 4
    assert result["objectives"] == ["energy_kwh_per_hour"]
    frame = pd.read_parquet(here / "out" / "trials.parquet")
    assert len(frame) == 4 and set(frame["state"]) == {"complete"}
    best = min(frame.loc[frame["feasible"], "energy_kwh_per_hour"])
    assert result["best"][0]["values"]["energy_kwh_per_hour"] == pytest.approx(best)
    reference = json.loads((here / "out" / "reference.json").read_text())
    assert best <= reference["totals"]["energy_kwh_per_hour"] * (1 + 1e-6)
    assert all((here / f).is_file() for f in result["report"])
    assert "Using an existing study" not in done.stderr
    assert any(f.endswith("report.html") for f in result["report"])


def test_a_second_run_resumes_and_the_same_seed_repeats(first, tmp_path):
    here, _ = first
    before = pd.read_parquet(here / "out" / "trials.parquet")
    again = _hetplan("codesign", "cd.toml", "--trials", "6", "--out", "out", "--json", cwd=here)
    assert again.returncode == 0, again.stderr
    after = pd.read_parquet(here / "out" / "trials.parquet")
    assert len(after) == 6
    params = [c for c in before.columns if c.startswith("param.")]
    kept = after.set_index("number").loc[before["number"], params]
    assert kept.reset_index(drop=True).equals(before[params].reset_index(drop=True))
    (tmp_path / "cd.toml").write_text(FILE)
    twin = _hetplan("codesign", "cd.toml", "--trials", "4", "--out", "out", "--json", cwd=tmp_path)
    assert twin.returncode == 0, twin.stderr
    repeat = pd.read_parquet(tmp_path / "out" / "trials.parquet")
    assert repeat[params + ["energy_kwh_per_hour"]].equals(
        before[params + ["energy_kwh_per_hour"]]
    )


@pytest.mark.parametrize(
    ("text", "args", "expected"),
    [
        (FILE.replace("memory_stacks = {", "memory_stacks = { step = 0.5, "), (),
         "cd.toml: decode: memory_stacks.step: "),
        (FILE, ("--sampler", "annealing"), "--sampler"),
        (FILE, ("--storage", "nonsense"), "nonsense"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(tmp_path, text, args, expected):
    (tmp_path / "cd.toml").write_text(text)
    done = _hetplan("codesign", "cd.toml", "--trials", "1", *args, cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "results").exists()  # refused before anything is written


def test_another_files_directory_is_refused_without_force(first, tmp_path):
    here, _ = first
    (here / "other.toml").write_text(FILE.replace('name = "cli"', 'name = "other"'))
    done = _hetplan("codesign", "other.toml", "--trials", "1", "--out", "out", cwd=here)
    assert done.returncode == 2
    assert "holds the results of another co-design file" in done.stderr
