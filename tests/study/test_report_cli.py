"""``hetplan study report`` on a real study: the files it writes, the same bytes again, no
overwrite without ``--force``, strict ``--json``, and one-line errors (exit 2) for directories
that hold no study or no table yet."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from optimizer.cli.main import run
from tests.study.conftest import REPORTED_POINTS


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``hetplan ARGS`` in this process."""
    code = run([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_report_writes_the_summary_the_page_and_each_figure_as_png_and_svg(reported_study):
    report = reported_study / "report"
    names = sorted(p.name for p in report.iterdir())
    assert "summary.md" in names and "report.html" in names
    stems = {Path(n).stem for n in names if n.endswith((".png", ".svg"))}
    assert stems == {
        "objective_vs_serve.0.requests_per_s", "devices_vs_serve.0.requests_per_s",
        "savings_vs_serve.0.requests_per_s", "pareto_cost_vs_average_power_w",
    }  # fmt: skip
    assert all((report / f"{s}.png").is_file() and (report / f"{s}.svg").is_file() for s in stems)
    summary = (report / "summary.md").read_text()
    assert summary.startswith("# Study report: reported\n\na coding agent's rate")
    assert f"{REPORTED_POINTS} of {REPORTED_POINTS} points in the table" in summary


def test_summary_states_what_the_table_holds(reported_study):
    """The findings' end values are the table's own figures (formatted), not recomputed."""
    points = pd.read_parquet(reported_study / "points.parquet")
    cost = points[points["objective.kind"] == "cost"].sort_values("serve.0.requests_per_s")
    low, high = cost["objective"].iloc[0], cost["objective"].iloc[-1]
    summary = (reported_study / "report" / "summary.md").read_text()
    assert f"objective (cost) grows {high / low:.1f}× ({low:.2f} → {high:.2f} $/h)" in summary
    assert "as serve.0.requests_per_s grows 4.0× (5 → 20)" in summary


def test_a_report_again_is_refused_without_force_and_the_same_bytes_with_it(
    capsys, reported_study, tmp_path
):
    other = tmp_path / "again"
    code, out, err = _cli(capsys, "study", "report", reported_study, "--out", other)
    assert code == 0, err
    for path in (reported_study / "report").iterdir():  # deterministic: the same bytes
        assert (other / path.name).read_bytes() == path.read_bytes(), path.name
    before = {p.name: p.stat().st_mtime_ns for p in other.iterdir()}
    code, out, err = _cli(capsys, "study", "report", reported_study, "--out", other)
    assert code == 2 and out == ""
    assert err == f"error: {other}/summary.md: exists; not replaced without force (--force)\n"
    assert before == {p.name: p.stat().st_mtime_ns for p in other.iterdir()}  # none touched
    (other / "objective_vs_gone_axis.svg").write_text("<svg/>")  # a figure of an older report
    code, out, err = _cli(capsys, "study", "report", reported_study, "--out", other, "--force",
                          "--json")  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "ok" and result["n_rows"] == REPORTED_POINTS
    assert result["counts"] == {"optimal": REPORTED_POINTS} and result["n_figures"] == 4
    assert sorted(Path(f).name for f in result["files"]) == sorted(before)
    assert not (other / "objective_vs_gone_axis.svg").exists()


def test_a_directory_without_a_study_is_one_line_and_exit_2(capsys, tmp_path):
    code, out, err = _cli(capsys, "study", "report", tmp_path)
    assert (code, out) == (2, "")
    assert err == f"error: {tmp_path}: not a study directory (no study.json)\n"


def test_a_study_without_a_table_yet_is_one_line_and_exit_2(capsys, reported_study, tmp_path):
    copy = shutil.copytree(reported_study, tmp_path / "copy", ignore=shutil.ignore_patterns(
        "points.*", "report"))  # fmt: skip
    code, out, err = _cli(capsys, "study", "report", copy)
    assert (code, out) == (2, "")
    assert err == (f"error: {copy}: no points table yet (points.parquet); run 'hetplan study "
                   "run' first\n")  # fmt: skip
    assert not (copy / "report").exists()


def test_a_report_directory_that_is_a_file_is_refused(capsys, reported_study, tmp_path):
    (tmp_path / "taken").write_text("mine")
    code, _, err = _cli(capsys, "study", "report", reported_study, "--out", tmp_path / "taken")
    assert code == 2
    assert err == f"error: {tmp_path / 'taken'}: exists and is not a directory\n"


WALL = """
[study]
name = "wall"
description = "decode of a 70B model on H200 as the context grows"
kind = "estimate"

[study.request]
model = "llama-3.1-70b"
accelerator = "h200-sxm"
tp = 8
precision = "fp8"
phase = "decode"
output_tokens = 100

[[axis]]
field = "request.input_tokens"
values = [8000, 64000, 512000]

[[finding]]
kind = "threshold"
axis = "request.input_tokens"
column = "capacity_max_batch"
below = 8
"""


def test_summary_gives_each_studys_findings_in_order_with_a_link_to_its_report(
    capsys, reported_study, tmp_path
):
    wall = tmp_path / "wall"
    (tmp_path / "wall.toml").write_text(WALL)
    assert _cli(capsys, "study", "run", tmp_path / "wall.toml", "--out", wall)[0] == 0
    assert _cli(capsys, "study", "report", wall)[0] == 0
    out = tmp_path / "docs" / "summary.md"
    out.parent.mkdir()
    code, _, err = _cli(capsys, "study", "summary", wall, reported_study, "--out", out,
                        "--title", "Two studies")  # fmt: skip
    assert code == 0, err
    text = out.read_text()
    assert text.startswith("# Two studies\n\n_Generated by `hetplan study summary`")
    assert text.index("## wall\n") < text.index("## reported\n")
    assert "Report: [../wall/report/summary.md](../wall/report/summary.md)." in text
    # the finding's table is the one the study's own report gives, line for line
    own = (wall / "report" / "summary.md").read_text()
    table = own[own.index("### Threshold") :].split("\n\n## ")[0].strip()
    assert table in text
    assert "3 of 3 points in the table" in text
    assert "The study file asks for no findings" in text.split("## reported")[1]
    code, _, err = _cli(capsys, "study", "summary", wall, "--out", out)
    assert code == 2 and err == f"error: {out}: exists; not replaced without force (--force)\n"
    assert out.read_text() == text


def test_summary_of_a_directory_without_a_study_is_one_line_and_exit_2(capsys, tmp_path):
    code, out, err = _cli(capsys, "study", "summary", tmp_path, "--out", tmp_path / "s.md")
    assert (code, out) == (2, "")
    assert err == f"error: {tmp_path}: not a study directory (no study.json)\n"
    assert not (tmp_path / "s.md").exists()
