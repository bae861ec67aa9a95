"""Fitted efficiency factors and power shares written as an ``[[efficiency]]`` / ``[[power]]``
TOML file (``calibrate --fit``)."""

from __future__ import annotations

import tomli_w

from optimizer.perf.calibration import (
    ASSUMED_HARDWARE,
    GRAPH_OVERHEAD_US_PER_LAYER,
    FitResult,
    FittedPower,
    engine_phase,
)
from optimizer.perf.efficiency import FACTORS, POWER_SHARES

_DERIVED = {
    "graph_overhead_us_per_layer": "derived: a prompt step is never a captured graph (the eager "
    "per-layer overhead)",
    "overhead_us_per_sequence": "derived: not separable from the per-layer overhead in prompt "
    "steps (0)",
    "hop_latency_scale": "derived: the decode phase's (a hop's latency is the link's, whatever "
    "the phase)",
}


def _derived(name: str, phase: str) -> str:
    if name == "graph_overhead_us_per_layer" and phase == "decode":
        return (
            f"assumed: {GRAPH_OVERHEAD_US_PER_LAYER:g} µs per layer, about eight kernels a "
            "microsecond or so apart in a replayed CUDA graph (an estimate; no published row "
            "isolates it)"
        )
    return _DERIVED[name]


_SOL = {f.name: f.sol for f in FACTORS}


def _whose(key: str, kind: str, rows: int) -> str:
    return f"every {kind}'s rows ({rows})" if key == "default" else f"the {key} rows ({rows})"


def _round(x: float) -> float:
    return float(f"{x:.4g}")


def efficiency_toml(
    fitted: FitResult | None, power: list[FittedPower], cases_file: str, fitted_on: str
) -> str:
    """TOML text of ``fitted`` (hardware factors per family, overheads per engine) and
    ``power``; each entry names the file and rows it was fitted on, and each factor whether it
    was fitted or pooled. A file with only one of the kinds leaves the others to the catalog."""
    how = (
        f"hetplan calibrate --fit on {cases_file}: {{whose}} of {fitted_on}; SciPy least_squares "
        "on log(predicted / measured), soft-L1 loss; pooled factors first, then each group's "
        "deviation from them under a prior (docs/model.md section 4)"
    )
    entries, overheads = [], []
    for f in fitted.families if fitted else ():
        for phase in ("prefill", "decode"):
            names = [n for p, n in f.values if p == phase]
            roofline = {n: why for (p, n), why in ASSUMED_HARDWARE.items() if p == phase}
            assumed = all(why.startswith("assumed") for why in f.provenance.values())
            source = (
                f"hetplan calibrate --fit on {cases_file}: {next(iter(f.provenance.values()))}"
                if assumed
                else how.format(whose=_whose(f.key, "family", f.rows))
                + "; compute and memory bounded above by the family's microbenchmark fractions "
                "in the same file"
            )
            entries.append(
                {
                    "id": f"{f.key}-{phase}",
                    "name": f"{f.key} {phase} efficiency ({'assumed' if assumed else 'fitted'})",
                    "family": f.key,
                    "phase": phase,
                    **{n: _round(f.values[(phase, n)]) for n in names},
                    **{n: _SOL[n] for n in roofline},
                    "provenance": {n: f.provenance[(phase, n)] for n in names} | roofline,
                    "fit_rows": f.rows,
                    **({} if assumed else {"fit_median_abs_error": _round(f.median_abs_error)}),
                    "confidence": "medium" if f.rows >= 100 and not assumed else "uncertain",
                    "sources": [source],
                }
            )
    for e in fitted.engines if fitted else ():
        for phase in ("prefill", "decode"):
            values = engine_phase(e.values, phase)
            overheads.append(
                {
                    "id": f"{e.key}-{phase}-overhead",
                    "name": f"{e.key} {phase} overheads (fitted)",
                    "engine": e.key,
                    "phase": phase,
                    **{n: _round(v) for n, v in values.items()},
                    "provenance": {
                        n: e.provenance[(phase, n)]
                        if (phase, n) in e.provenance
                        else _derived(n, phase)
                        for n in values
                    },
                    "fit_rows": e.rows,
                    "fit_median_abs_error": _round(e.median_abs_error),
                    "confidence": "medium" if e.rows >= 100 else "uncertain",
                    "sources": [how.format(whose=_whose(e.key, "engine", e.rows))]
                    + [
                        f"{engine} has no entry of its own and takes these: {why}, so the rows "
                        "cannot tell its overheads from that hardware's factors"
                        for engine, why in (fitted.pooled_engines if e.key == "default" else ())
                    ],
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
        "# entry says what it was fitted on, each factor whether its rows fitted it or it is\n"
        "# the pooled `default`'s. Families and engines without fitted rows use `default`.\n\n"
    )
    tables = {"efficiency": entries} if entries else {}
    if overheads:
        tables["overhead"] = overheads
    if power_entries:
        tables["power"] = power_entries
    return header + tomli_w.dumps(tables)
