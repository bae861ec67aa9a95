"""Co-design: a Bayesian search over hypothetical hardware, each trial an optimal fleet.

The search engine (``search``) runs an Optuna study over knobs whatever a trial evaluates:
samplers (``samplers``), storages with heartbeats (``storage``), the trials as a table
(``trials``). Hypothetical parts are priced and powered from sourced constants (``constants``,
``parts``). A co-design file (``spec``) names base problems and knobs (``space``); a trial adds
the design's parts to each problem's catalog and solves its fleets (``evaluate``); ``runner``
runs a file into a directory and ``report`` writes its report. Names load on first use, so
importing this package stays cheap.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "Knob": "optimizer.codesign.search",
    "TrialOutcome": "optimizer.codesign.search",
    "Evaluator": "optimizer.codesign.search",
    "SearchSettings": "optimizer.codesign.search",
    "SearchResult": "optimizer.codesign.search",
    "SearchError": "optimizer.codesign.search",
    "run_search": "optimizer.codesign.search",
    "open_study": "optimizer.codesign.search",
    "trials_frame": "optimizer.codesign.trials",
    "best_trials": "optimizer.codesign.trials",
    "SAMPLERS": "optimizer.codesign.samplers",
    "SamplerError": "optimizer.codesign.samplers",
    "StorageError": "optimizer.codesign.storage",
    "Constants": "optimizer.codesign.constants",
    "load_constants": "optimizer.codesign.constants",
    "AcceleratorKnobs": "optimizer.codesign.parts",
    "PoolKnobs": "optimizer.codesign.parts",
    "Part": "optimizer.codesign.parts",
    "accelerator_part": "optimizer.codesign.parts",
    "pool_entries": "optimizer.codesign.parts",
    "host_entries": "optimizer.codesign.parts",
    "Codesign": "optimizer.codesign.spec",
    "CodesignError": "optimizer.codesign.spec",
    "load_codesign": "optimizer.codesign.spec",
    "DesignEvaluator": "optimizer.codesign.evaluate",
    "CodesignRun": "optimizer.codesign.runner",
    "run_codesign": "optimizer.codesign.runner",
    "CodesignReport": "optimizer.codesign.report",
    "report_codesign": "optimizer.codesign.report",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'optimizer.codesign' has no attribute {name!r}")
