"""Leave-one-source-out validation (issue 13, item 4): source groups, and a fit that never sees
the rows it predicts."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from optimizer.api import leave_one_source_out
from optimizer.catalog.cases import source_group

PUBLISHED = Path(__file__).resolve().parents[2] / "catalogs" / "measurements" / "published.csv"


@pytest.mark.parametrize(
    ("source", "group"),
    [
        ("github.com/mlcommons/inference_results_v4.1/blob/198fc467/closed/AMD/results/x.txt",
         "inference_results_v4.1"),
        ("https://github.com/samuel-bohman/AI-benchmarking-guide/blob/main/README.md",
         "AI-benchmarking-guide"),  # a fork is its upstream
        ("github.com/ml-energy/leaderboard@0cd52dab:public/data/models/x.json", "leaderboard"),
        ("arxiv.org/abs/2407.08608", "arxiv.org/abs"),
    ],
)  # fmt: skip
def test_source_groups_are_publisher_and_round(source, group):
    assert source_group(source) == group


def test_a_left_out_group_is_predicted_by_a_fit_without_it(tmp_path):
    """Three MLPerf rounds: left out, v5.1's Hopper fp8 rows are predicted by factors fitted on
    v4.1's Hopper fp8 rows; v4.0's Gaudi2 fp8 rows have no kept row of their family and
    precision, so they are scored apart as extrapolation (one of the two cannot be predicted)."""
    rounds = {"inference_results_v4.0", "inference_results_v4.1", "inference_results_v5.1"}
    with open(PUBLISHED, newline="") as f:
        reader = csv.DictReader(f)
        rows = [r for r in reader if source_group(r["source"]) in rounds]
        fields = reader.fieldnames
    path = tmp_path / "mlperf.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        writer.writerows(rows)
    result = leave_one_source_out(path)
    scores = {g.group: g for g in result.groups}
    assert set(scores) == rounds
    assert sum(g.rows for g in result.groups) == len(rows)
    v51, v40 = scores["inference_results_v5.1"], scores["inference_results_v4.0"]
    assert v51.core == 11 and v51.extrapolated == 0 and v51.median is not None
    assert v40.core == 0 and 1 <= v40.extrapolated <= 2 and v40.median is None  # one skipped
    assert result.to_dict()["success"]


def test_a_decode_row_may_give_its_kv_length_alone(tmp_path):
    """``context_tokens`` (issue 13, item 5): a decode step at a stated KV length is the step
    of a request of input + output/2 tokens. Splitwise's 512-in/128-out decode row (context
    512 + 128/2 = 576) and the same row written as context_tokens = 576 predict the same step;
    the column on another metric is refused with its reason."""
    from optimizer.api import calibrate

    header = ("case_id,source,model,accelerator,accelerators,precision_weights,precision_kv,tp,"
              "pp,instances,scenario,input_tokens,output_tokens,batch,metric,value,unit,notes,"
              "context_tokens")  # fmt: skip
    common = "splitwise,llama-2-70b,h100-sxm,4,fp16,fp16,4,1,1,single-request"
    path = tmp_path / "decode.csv"
    path.write_text("\n".join([
        header,
        f"lengths,{common},512,128,1,decode_step_ms,29.72,ms,,",
        f"context,{common},,,1,decode_step_ms,29.72,ms,,576",
        f"prefill,{common},512,128,1,prefill_latency_ms,100,ms,,576",
    ]) + "\n")  # fmt: skip
    result = calibrate(path)
    predicted = {r.case_id: r.predicted for r in result.rows}
    assert predicted["context"] == pytest.approx(predicted["lengths"], rel=1e-12)
    (skipped,) = result.skipped
    assert skipped["case_id"] == "prefill" and "context_tokens" in skipped["reason"]
