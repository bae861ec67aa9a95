"""``run_study`` end to end on small studies: failed points recorded, tables that agree with
direct solves, resuming after SIGKILL and after a truncated journal line, the same rows for the
same study and seed whatever runs it (more workers, a point timeout, Dask)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from optimizer.api import solve
from optimizer.cli.interrupt import alive, descendants
from optimizer.study import run_study, study_status
from optimizer.study.executor import ExecutorError
from optimizer.study.journal import read_journal
from optimizer.study.results import SOLUTION_COLUMNS
from tests.study.conftest import RATE, write_study

GRID = f"""
[study]
name = "grid"
kind = "solve"
base = "base.toml"

[[axis]]
field = "{RATE}"
values = [5, 10, -1, 20]
"""

RANDOM = f"""
[study]
name = "random"
kind = "solve"
base = "base.toml"
baselines = false

[design]
kind = "random"
samples = 4
seed = 7

[[axis]]
field = "{RATE}"
low = 2
high = 40
log = true

[[axis]]
field = "objective.kind"
values = ["cost", "energy"]
"""

DOCUMENTED = (
    "point", "point_hash", "status", "message", *SOLUTION_COLUMNS, "wall_s",
)  # fmt: skip


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("grid")
    study = write_study(directory, GRID)
    result = run_study(study, out=directory / "out", workers=2)
    return directory / "out", result


def test_a_bad_point_is_recorded_with_its_error_and_the_others_solved(grid_run):
    out, result = grid_run
    assert result.counts == {"error": 1, "optimal": 3}
    assert result.status == "error" and not result.success
    frame = pd.read_parquet(out / "points.parquet")
    assert frame["point"].tolist() == [0, 1, 2, 3]
    bad = frame.set_index("point").loc[2]
    assert bad["status"] == "error"
    assert f"override {RATE}: Input should be greater than 0, got -1" in bad["message"]
    assert math.isnan(bad["cost_usd_per_hour"])
    status = study_status(out)
    assert (status.n_done, status.n_failed, status.n_missing) == (3, 1, 0)


def test_tables_read_back_with_the_documented_columns(grid_run):
    out, _ = grid_run
    parquet = pd.read_parquet(out / "points.parquet")
    csv = pd.read_csv(out / "points.csv")
    assert set(DOCUMENTED) | {RATE} <= set(parquet.columns)
    assert list(parquet.columns) == list(csv.columns)
    assert any(c.startswith("devices.") for c in parquet.columns)
    assert parquet[RATE].tolist() == csv[RATE].tolist() == [5, 10, -1, 20]
    solved = parquet[parquet["status"] == "optimal"]
    assert solved["saving_vs_homogeneous_aggregated_pct"].notna().all()  # baselines on
    assert (solved["n_devices"] > 0).all()
    pd.testing.assert_series_equal(
        parquet["cost_usd_per_hour"], csv["cost_usd_per_hour"], check_exact=False, rtol=1e-12
    )


def test_each_point_costs_what_a_direct_solve_of_it_costs(grid_run):
    out, _ = grid_run
    frame = pd.read_csv(out / "points.csv")
    base = out.parent / "base.toml"
    for _, row in frame[frame["status"] == "optimal"].iterrows():
        direct = solve(base, overrides={RATE: str(row[RATE])}, workers=1)
        assert row["cost_usd_per_hour"] == pytest.approx(direct.cost_usd_per_hour, rel=1e-9)
        assert row["power_w"] == pytest.approx(direct.power_w, rel=1e-9)


def _rows(directory: Path) -> pd.DataFrame:
    return pd.read_parquet(directory / "points.parquet").drop(columns="wall_s")


def test_same_study_and_seed_give_the_same_rows_in_two_directories(tmp_path):
    study = write_study(tmp_path, RANDOM)
    one = run_study(study, out=tmp_path / "one", workers=2)
    two = run_study(study, out=tmp_path / "two", workers=1, point_timeout_s=120)
    assert one.n_points == two.n_points == 4 and one.success and two.success
    pd.testing.assert_frame_equal(_rows(tmp_path / "one"), _rows(tmp_path / "two"))
    assert _rows(tmp_path / "one")["saving_vs_no_memory_tiers_pct"].isna().all()


def test_dask_local_cluster_gives_the_rows_of_local_processes(tmp_path):
    pytest.importorskip("dask.distributed", reason="dask[distributed] is not installed")
    study = write_study(tmp_path, RANDOM)
    run_study(study, out=tmp_path / "local", workers=2)
    try:
        result = run_study(study, out=tmp_path / "dask", dask="local:2")
    except ExecutorError as error:
        pytest.skip(f"dask cannot start a LocalCluster here: {error}")
    assert result.executor.startswith("dask local:2") and result.n_computed == 4
    pd.testing.assert_frame_equal(_rows(tmp_path / "local"), _rows(tmp_path / "dask"))


def test_a_point_over_its_timeout_is_recorded_as_timeout(tmp_path):
    study = write_study(tmp_path, GRID.replace("[5, 10, -1, 20]", "[5, 6]"))
    result = run_study(study, out=tmp_path / "out", workers=1, point_timeout_s=0.001)
    assert result.counts == {"timeout": 2}
    frame = pd.read_csv(tmp_path / "out" / "points.csv")
    assert frame["message"].str.contains("point timeout of 0.001 s").all()


def test_a_truncated_last_journal_line_is_skipped_and_its_point_solved_again(tmp_path):
    study = write_study(tmp_path, GRID.replace("-1, ", ""))
    out = tmp_path / "out"
    run_study(study, out=out, workers=1)
    journal = out / "journal.jsonl"
    data = journal.read_bytes()
    journal.write_bytes(data[: len(data) - len(data.splitlines()[-1]) // 2 - 1])  # cut mid-line
    again = run_study(study, out=out, workers=1)
    assert (again.n_reused, again.n_computed, again.journal_lines_skipped) == (2, 1, 1)
    contents = read_journal(journal)
    assert len(contents.records) == 3 and contents.n_unreadable == 1
    third = run_study(study, out=out, workers=1)
    assert (third.n_reused, third.n_computed) == (3, 0)
    assert pd.read_csv(out / "points.csv")["status"].tolist() == ["optimal"] * 3


def _lines(journal: Path) -> int:
    try:
        return journal.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_sigkill_mid_run_then_rerun_has_every_point_exactly_once(tmp_path):
    n_points = 10
    values = ", ".join(str(2 + i) for i in range(n_points))
    study = write_study(tmp_path, GRID.replace("[5, 10, -1, 20]", f"[{values}]"))
    out, journal = tmp_path / "out", tmp_path / "out" / "journal.jsonl"
    command = [sys.executable, "-m", "optimizer.cli", "study", "run", str(study), "--out",
               str(out), "--workers", "1", "--json"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while _lines(journal) < 1 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        children = descendants(process.pid)
        written = _lines(journal)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert 1 <= written < n_points, f"{written} points journaled before the kill"
    deadline = time.monotonic() + 10
    while any(alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [c for c in children if alive(c)], "a worker outlived the killed study"

    result = run_study(study, out=out, workers=1)
    assert result.n_reused >= 1 and result.n_reused + result.n_computed == n_points
    frame = pd.read_csv(out / "points.csv")
    assert frame["point"].tolist() == list(range(n_points))
    assert (frame["status"] == "optimal").all()
    keys = [json.loads(line)["key"] for line in journal.read_bytes().splitlines()
            if line.strip().endswith(b"}")]  # fmt: skip
    assert sorted(keys) == sorted(frame["point_hash"])  # each point journaled exactly once
    assert study_status(out).n_missing == 0
