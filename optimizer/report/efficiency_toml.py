"""Fitted efficiency factors and power shares written as an ``[[efficiency]]`` / ``[[power]]``
TOML file (``calibrate --fit``)."""

from __future__ import annotations

import tomli_w

from optimizer.perf.calibration import FittedFamily, FittedPower
from optimizer.perf.efficiency import FACTORS, POWER_SHARES


def _round(x: float) -> float:
    return float(f"{x:.4g}")


def efficiency_toml(
    fitted: list[FittedFamily], power: list[FittedPower], cases_file: str, fitted_on: str
) -> str:
    """TOML text of ``fitted`` and ``power``; each entry names the file and rows it was fitted
    on. A file with only one of the two kinds leaves the other to the catalog."""
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
    power_entries = [
        {
            "id": f"{p.family}-power",
            "name": f"{p.family} power shares (fitted)",
            "family": p.family,
            **{n: _round(getattr(p.shares, n)) for n in POWER_SHARES},
            "fit_rows": p.rows,
            "fit_median_abs_error": _round(p.median_abs_error),
            "confidence": "medium" if p.rows >= 40 else "uncertain",
            "sources": [
                f"hetplan calibrate --fit on {cases_file}: "
                + ("every family's" if p.family == "default" else f"the {p.family}")
                + f" board and system power rows ({p.rows}); SciPy least_squares on "
                "log(predicted / measured), soft-L1 loss, shares within [0, 1], with the "
                "efficiency factors in force for the step times"
            ],
        }
        for p in power
    ]
    header = (
        "# Efficiency factors: how far real serving stacks fall short of the roofline, per\n"
        "# accelerator family and phase (docs/model.md section 4), and power shares: how board\n"
        "# power rises from idle to TDP (section 9). Written by `hetplan calibrate --fit`; each\n"
        "# entry says what it was fitted on. Families without enough rows use `default`.\n\n"
    )
    tables = {"efficiency": entries} if entries else {}
    if power_entries:
        tables["power"] = power_entries
    return header + tomli_w.dumps(tables)
