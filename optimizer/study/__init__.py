"""Design studies: many variants of one problem solved in parallel, journaled and resumable.

A study file names a base problem or an estimate request, axes over its dotted fields and a
design (``spec``); the design expands into points (``design``), each a call of
``optimizer.api.solve`` or ``optimizer.api.estimate`` (``estimates``) run by local processes or
Dask (``executor``), journaled by a content hash (``journal``, ``keys``) and
tabled (``results``); ``report`` writes a directory's report, or one page over several. Names
load on first use, so importing this package stays cheap.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "run_study": "optimizer.study.runner",
    "study_status": "optimizer.study.runner",
    "StudyRun": "optimizer.study.runner",
    "StudyStatus": "optimizer.study.runner",
    "load_study": "optimizer.study.spec",
    "Study": "optimizer.study.spec",
    "StudySpec": "optimizer.study.spec",
    "StudyError": "optimizer.study.spec",
    "expand": "optimizer.study.design",
    "Point": "optimizer.study.design",
    "Outcome": "optimizer.study.executor",
    "report_study": "optimizer.study.report",
    "StudyReport": "optimizer.study.report",
    "summarize_studies": "optimizer.study.report",
    "StudiesSummary": "optimizer.study.report",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'optimizer.study' has no attribute {name!r}")
