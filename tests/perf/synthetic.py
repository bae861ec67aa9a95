"""Calibration rows with a known truth: bundled rows whose measured values are replaced by what
chosen efficiency factors predict, so that a fit of them has a right answer."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from optimizer.api.calibration import predict_cases
from optimizer.catalog.cases import Case, load_cases
from optimizer.catalog.loader import bundled_catalog_dir, load_catalog
from optimizer.perf.efficiency import EfficiencyTable


def rows_valued_by(truth: EfficiencyTable, keep: Callable[[Case], bool]):
    """(catalog, the bundled published rows ``keep`` selects, each valued as ``truth``
    predicts it)."""
    cat = load_catalog()
    cases = load_cases(bundled_catalog_dir() / "measurements" / "published.csv")
    predicted, _ = predict_cases([c for c in cases if keep(c)], cat, truth)
    return cat, [dataclasses.replace(p.case, value=p.predicted) for p in predicted]


def splitwise_h100_or_trtllm_h200(case: Case) -> bool:
    """Splitwise's H100 rows (research stack: batch 1–64 decode and prefill at TP 2–8) and the
    TensorRT-LLM tables' dense Llama-3 H200 rows (offline throughput)."""
    return case.case_id.startswith("splitwise-llama-2-70b-h100") or (
        case.case_id.startswith("trtllm-perf-overview-llama-3") and case.accelerator == "h200-sxm"
    )
