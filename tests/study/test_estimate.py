"""Estimate points in studies: the ``[study.request]`` table validated, points whose rows hold
the estimate's own figures (checked against hand arithmetic from the catalog entries), an
infeasible and a failed point recorded, resume, tables and the report with its findings."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
import pytest

from optimizer.study import expand, load_study, report_study, run_study, study_status
from optimizer.study.estimates import ESTIMATE_COLUMNS
from optimizer.study.spec import StudyError

STUDY = """
[study]
name = "estimates"
kind = "estimate"

[study.request]
accelerator = "h200-sxm"
tp = 8
precision = "fp8"
kv_precision = "fp8"
phase = "decode"
output_tokens = 2
mode = "sol"

[design]
kind = "zip"

[[axis]]
field = "request.model"
values = ["llama-3.1-70b", "deepseek-v3", "llama-3.1-70b", "no-such-model"]

[[axis]]
field = "request.input_tokens"
values = [8000, 1000, 1000000, 8000]

[[axis]]
field = "request.batch"
values = [64, 1, 4096, 1]

[[finding]]
kind = "threshold"
axis = "request.input_tokens"
column = "capacity_max_batch"
below = 8

[[finding]]
kind = "range"
by = ["request.model"]
columns = ["cf_bytes_per_request"]
"""


def write(directory: Path, body: str) -> Path:
    path = directory / "study.toml"
    path.write_text(textwrap.dedent(body))
    return path


@pytest.fixture(scope="module")
def estimated(tmp_path_factory):
    directory = tmp_path_factory.mktemp("estimates")
    study = write(directory, STUDY)
    result = run_study(study, out=directory / "out", workers=1)
    return study, directory / "out", result


def test_an_estimate_study_expands_into_requests_by_field(estimated):
    study, _, _ = estimated
    points = expand(load_study(study).spec)
    assert [p.values for p in points][1] == {
        "request.model": "deepseek-v3", "request.input_tokens": 1000, "request.batch": 1,
    }  # fmt: skip


def test_infeasible_and_failed_points_are_recorded_not_raised(estimated):
    _, out, result = estimated
    assert result.counts == {"error": 1, "infeasible": 1, "ok": 2}
    frame = pd.read_parquet(out / "points.parquet").set_index("point")
    assert frame.loc[2, "message"].startswith("does not fit")
    assert frame.loc[3, "message"].startswith("request.model: ")
    assert frame.loc[[2, 3], "tpot_s"].isna().all()
    assert study_status(out).n_failed == 1


def test_tables_hold_the_estimate_columns_in_parquet_and_csv(estimated):
    _, out, _ = estimated
    parquet = pd.read_parquet(out / "points.parquet")
    csv = pd.read_csv(out / "points.csv")
    assert set(ESTIMATE_COLUMNS) <= set(parquet.columns)
    assert list(parquet.columns) == list(csv.columns)
    assert parquet["bound"].iloc[0] in ("compute", "bandwidth", "capacity", "interconnect")
    assert parquet["devices"].iloc[:3].tolist() == [8, 8, 8]


FP8_BYTES = 1.0


def test_oi_and_cf_match_hand_arithmetic_from_the_catalog(estimated):
    """Decode at a fixed batch, pure roofline. llama-3.1-70b (GQA): 70.6e9 parameters, 80
    layers, 8 KV heads of 128, 64 query heads. deepseek-v3 (MLA): 37e9 active of 671e9
    parameters, 61 layers, a 512 + 64 latent per token and layer, 128 heads."""
    _, out, _ = estimated
    rows = pd.read_parquet(out / "points.parquet").set_index("point")
    # llama-3.1-70b, 8,000 tokens, batch 64: FLOPs per token 2 x 70.6e9 for the weights plus
    # 4 x 80 x 64 x 128 x 8000 for attention scores and values; bytes: every weight once
    # (FP8) plus every sequence's KV (2 x 80 x 8 x 128 x 1 B = 163,840 B per token).
    kv_per_token = 2 * 80 * 8 * 128 * FP8_BYTES
    flops = 64 * (2 * 70.6e9 + 4 * 80 * 64 * 128 * 8000)
    moved = 70.6e9 * FP8_BYTES + 64 * 8000 * kv_per_token
    assert rows.loc[0, "oi_decode_flop_per_byte"] == pytest.approx(flops / moved, rel=0.03)
    # CF: a sequence's KV plus a 64th of the weights
    cf = 8000 * kv_per_token + 70.6e9 * FP8_BYTES / 64
    assert rows.loc[0, "cf_bytes_per_request"] == pytest.approx(cf, rel=0.03)
    # deepseek-v3, 1,000 tokens, batch 1: 2 x 37e9 for the active weights plus the absorbed
    # attention, 2 x 128 heads x (576 + 512) per cached token and layer; bytes: the active
    # weights once. The latent (576 x 61 x 1 B = 35,136 B per token) is held whole on each of
    # the 8 tensor ranks, and CF counts all 671e9 weights at batch 1.
    flops = 2 * 37e9 + 2 * 128 * (576 + 512) * 1000 * 61
    assert rows.loc[1, "oi_decode_flop_per_byte"] == pytest.approx(flops / 37e9, rel=0.03)
    cf = 671e9 * FP8_BYTES + 8 * 1000 * 576 * 61 * FP8_BYTES
    assert rows.loc[1, "cf_bytes_per_request"] == pytest.approx(cf, rel=0.03)


def test_each_point_says_whether_its_context_is_within_the_models_window(estimated):
    """Both models document 131,072 tokens: 8,000 + 2 and 1,000 + 2 are within it, 1,000,000
    + 2 is beyond (estimated anyway, here infeasible at batch 4,096); the point that failed
    before any estimate has no answer."""
    _, out, _ = estimated
    rows = pd.read_parquet(out / "points.parquet").set_index("point")
    assert rows["context_window"].tolist()[:3] == ["within", "within", "beyond"]
    assert pd.isna(rows.loc[3, "context_window"])


def test_a_rerun_computes_only_missing_points(estimated):
    study, out, _ = estimated
    again = run_study(study, out=out, workers=1)
    assert (again.n_reused, again.n_computed) == (4, 0)
    journal = out / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:-1]))
    third = run_study(study, out=out, workers=1)
    assert (third.n_reused, third.n_computed) == (3, 1)
    assert pd.read_csv(out / "points.csv")["point"].tolist() == [0, 1, 2, 3]


def test_report_of_an_estimate_study_writes_its_findings(estimated, tmp_path):
    _, out, _ = estimated
    report = report_study(out, out=tmp_path / "report")
    summary = (tmp_path / "report" / "summary.md").read_text()
    assert report.n_figures >= 1 and (tmp_path / "report" / "report.html").is_file()
    assert "### Threshold: capacity_max_batch < 8 along request.input_tokens" in summary
    assert "### Ranges per request.model" in summary
    assert "point 3: error: request.model: " in summary


BAD = {
    "unknown-field": ("[study.request]\nmodel = 'a'\nacceleratr = 'b'\n",
                      "study.toml: study: request.acceleratr: unknown key"),
    "wrong-type": ("[study.request]\nmodel = 'a'\naccelerator = 'b'\ntp = '2'\n",
                   "study.toml: study: request.tp: Input should be a valid integer"),
    "no-accelerator": ("[study.request]\nmodel = 'a'\n",
                       "study.toml: study: request.accelerator: required field missing"),
    "no-request": ("", "study.toml: study: request: required by an estimate study"),
}  # fmt: skip


@pytest.mark.parametrize(("table", "line"), BAD.values(), ids=BAD.keys())
def test_an_invalid_request_table_is_a_one_line_error(tmp_path, table, line):
    head = '[study]\nname = "bad"\nkind = "estimate"\n'
    axis = '[[axis]]\nfield = "request.input_tokens"\nvalues = [1000]\n'
    with pytest.raises(StudyError) as caught:
        load_study(write(tmp_path, head + table + axis))
    assert f"{line}" in str(caught.value), str(caught.value)


def test_an_axis_that_is_not_a_request_field_is_refused(tmp_path):
    body = STUDY.replace('field = "request.batch"', 'field = "serve.0.batch"')
    with pytest.raises(StudyError, match=r"serve\.0\.batch: field: an estimate study's axes"):
        load_study(write(tmp_path, body))


def test_an_unknown_catalog_id_in_the_table_stops_the_run(tmp_path):
    body = STUDY.replace('accelerator = "h200-sxm"', 'accelerator = "h900"')
    with pytest.raises(StudyError, match=r"study\.toml: study: request\.accelerator: "):
        run_study(write(tmp_path, body), out=tmp_path / "out", workers=1)
    assert not (tmp_path / "out").exists()
