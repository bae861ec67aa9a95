"""The use cases of hetplan as plain functions: typed requests in, frozen typed results out.

``estimate``, ``analyze``, ``calibrate``, ``solve`` and ``compare`` validate their inputs by
field (:class:`FieldError`), own the catalog lookups and return results that read verdict first
(``status``, ``success``, ``message``) with ``to_dict()`` and ``to_row()``. Names load on first
use, so importing this package stays cheap.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "Context": "optimizer.api.context",
    "open_context": "optimizer.api.context",
    "efficiency_table": "optimizer.api.context",
    "FieldError": "optimizer.errors",
    "plain": "optimizer.results",
    "estimate": "optimizer.api.estimation",
    "EstimateRequest": "optimizer.api.estimation",
    "Estimate": "optimizer.api.estimation",
    "analyze": "optimizer.api.analysis",
    "AnalyzeRequest": "optimizer.api.analysis",
    "AnalysisResult": "optimizer.api.analysis",
    "calibrate": "optimizer.api.calibration",
    "Calibration": "optimizer.api.calibration",
    "leave_one_source_out": "optimizer.api.validation",
    "Validation": "optimizer.api.validation",
    "solve": "optimizer.api.provisioning",
    "load_problem": "optimizer.api.provisioning",
    "LoadedProblem": "optimizer.api.provisioning",
    "Solution": "optimizer.api.provisioning",
    "read_solution": "optimizer.api.provisioning",
    "compare": "optimizer.api.comparison",
    "check_destination": "optimizer.output",
    "schema": "optimizer.api.schema",
    "schema_names": "optimizer.api.schema",
    "Comparison": "optimizer.api.comparison",
    "problem_overrides": "optimizer.api.overrides",
    "Variant": "optimizer.api.overrides",
    "load_catalog": "optimizer.catalog.loader",
    "Catalog": "optimizer.catalog.catalog",
    "Origin": "optimizer.catalog.catalog",
    "KIND_BY_NAME": "optimizer.catalog.kinds",
    "Precision": "optimizer.catalog.precision",
    "HetplanError": "optimizer.errors",
    "CatalogError": "optimizer.errors",
    "ProblemError": "optimizer.errors",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'optimizer.api' has no attribute {name!r}")
