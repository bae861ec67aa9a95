"""hetplan: plan heterogeneous AI-inference fleets with an OI/CF model and an ILP.

The public API is loaded lazily so that ``import optimizer`` stays cheap; each name is imported
from its layer on first use.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "load_catalog": "optimizer.catalog",
    "Catalog": "optimizer.catalog",
    "Precision": "optimizer.catalog",
    "model_facts": "optimizer.catalog",
    "estimate": "optimizer.perf.estimate",
    "EstimateInput": "optimizer.perf.estimate",
    "load_cases": "optimizer.catalog.cases",
    "predict_cases": "optimizer.perf.calibration",
    "fit_families": "optimizer.perf.calibration",
    "load_problem": "optimizer.catalog.problem_loader",
    "LoadedProblem": "optimizer.catalog.problem_loader",
    "solve": "optimizer.search.provision",
    "Solution": "optimizer.search.solution",
    "read_solution": "optimizer.search.solution",
    "HetplanError": "optimizer.errors",
    "CatalogError": "optimizer.errors",
    "ProblemError": "optimizer.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'optimizer' has no attribute {name!r}")
