"""Fitted efficiency factors written as an ``[[efficiency]]`` TOML file (``calibrate --fit``)."""

from __future__ import annotations

import tomli_w

from optimizer.perf.calibration import FittedFamily
from optimizer.perf.efficiency import FACTORS


def _round(x: float) -> float:
    return float(f"{x:.4g}")


def efficiency_toml(fitted: list[FittedFamily], cases_file: str, fitted_on: str) -> str:
    """TOML text of ``fitted``; each entry names the file and rows it was fitted on."""
    entries = []
    for f in fitted:
        rows = "every family's rows" if f.family == "default" else f"the {f.family} rows"
        for phase in ("prefill", "decode"):
            e = f.efficiency.prefill if phase == "prefill" else f.efficiency.decode
            entries.append(
                {
                    "id": f"{f.family}-{phase}",
                    "name": f"{f.family} {phase} efficiency (fitted)",
                    "family": f.family,
                    "phase": phase,
                    **{f.name: _round(getattr(e, f.name)) for f in FACTORS},
                    "fit_rows": f.rows,
                    "fit_median_abs_error": _round(f.median_abs_error),
                    "confidence": "medium" if f.rows >= 100 else "uncertain",
                    "sources": [
                        f"hetplan calibrate --fit on {cases_file}: {rows} ({f.rows}) of "
                        f"{fitted_on}; SciPy least_squares on log(predicted / measured), "
                        "soft-L1 loss; compute and memory bounded above by the family's "
                        "microbenchmark fractions in the same file"
                    ]
                    + (
                        []
                        if phase in f.phases
                        else [
                            "no prefill-latency rows: only compute was fitted (on the prompt "
                            "chunks of aggregated runs); the other factors are the decode ones"
                        ]
                    ),
                }
            )
    header = (
        "# Efficiency factors: how far real serving stacks fall short of the roofline, per\n"
        "# accelerator family and phase (docs/model.md section 4). Written by\n"
        "# `hetplan calibrate --fit`; each entry says what it was fitted on. Families without\n"
        "# enough rows use `default`.\n\n"
    )
    return header + tomli_w.dumps({"efficiency": entries})
