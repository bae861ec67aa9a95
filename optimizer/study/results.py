"""A study's table: one flat row per point with unit-suffixed columns, read off each point's
:class:`~optimizer.api.Solution` or :class:`~optimizer.api.Estimate` (never recomputed),
written as Parquet and CSV."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from optimizer.output import write_bytes_atomic, write_text_atomic
from optimizer.results import plain
from optimizer.study.design import Point

BASELINES = ("homogeneous-aggregated", "homogeneous-disaggregated", "no-memory-tiers")
"""The solver's three baselines, in the order their saving columns appear."""

SOLUTION_COLUMNS = (
    "objective_kind",
    "objective",
    "objective_units",
    "gap",
    "cost_usd_per_hour",
    "usd_per_million_output_tokens",
    "power_w",
    "average_power_w",
    "energy_j_per_token",
    "n_devices",
    "tier_gb",
    "disaggregated_frac",
    "pools",
    "walls",
    *(f"saving_vs_{name.replace('-', '_')}_pct" for name in BASELINES),
)
"""What a solved point adds to its row (``docs/studies.md`` defines each)."""

FLOAT_COLUMNS = tuple(
    c for c in SOLUTION_COLUMNS if c not in ("objective_kind", "objective_units", "n_devices",
                                             "pools", "walls")
)  # fmt: skip
HEAD_COLUMNS = ("point", "point_hash")
VERDICT_COLUMNS = ("status", "message")
TAIL_COLUMNS = ("wall_s",)
TABLE_NAMES = ("points.parquet", "points.csv")


def solution_row(solution) -> dict:
    """The figures of one solved point, JSON-ready; ``devices`` (accelerator → devices) stays a
    mapping until the table spreads it into ``devices.<accelerator>`` columns. Savings are the
    solver's own (``Baseline.saving_pct``), None where a baseline was not solved."""
    solved = solution.objective is not None
    savings = {b.name: b.saving_pct for b in solution.baselines}
    row = {
        "objective_kind": solution.objective_kind,
        "objective": solution.objective,
        "objective_units": solution.objective_units,
        "gap": solution.gap,
        "cost_usd_per_hour": solution.cost_usd_per_hour,
        "usd_per_million_output_tokens": solution.usd_per_million_output_tokens,
        "power_w": solution.power_w,
        "average_power_w": solution.average_power_w,
        "energy_j_per_token": solution.energy_j_per_token,
        "n_devices": sum(solution.devices.values()) if solved else None,
        "tier_gb": sum(t.gb for t in solution.tier_pools) if solved else None,
        "disaggregated_frac": disaggregated_frac(solution) if solved else None,
        "pools": composition(solution) if solved else None,
        "walls": "; ".join(sorted({p.bound for p in solution.pools if p.bound})) or None,
        **{f"saving_vs_{n.replace('-', '_')}_pct": savings.get(n) for n in BASELINES},
        "devices": dict(solution.devices) if solved else None,
    }
    return plain(row)


def disaggregated_frac(solution) -> float | None:
    """The share of all requests handed from a prefill to a decode pool: each class's share
    weighted by its rate (None without traffic)."""
    total = sum(w.requests_per_s for w in solution.workloads)
    if not total:
        return None
    return sum(w.requests_per_s * w.disaggregated_share for w in solution.workloads) / total


def composition(solution) -> str:
    """The fleet in one line, largest pools first: ``3x h200-nvl/tp2/fp8/aggregated; 1x ...``
    (the model is left out of pool names when the problem serves one model)."""
    models = {w.model for w in solution.workloads if w.model}
    prefix = f"{next(iter(models))}/" if len(models) == 1 else None
    pools = sorted(solution.pools, key=lambda p: (-p.instances, p.name))
    return "; ".join(
        f"{p.instances}x {p.name.removeprefix(prefix) if prefix else p.name}" for p in pools
    )


def table_columns(kind: str) -> tuple[str, ...]:
    """The figure columns of a ``solve`` or ``estimate`` study's table (``devices.*`` aside)."""
    from optimizer.study.estimates import ESTIMATE_COLUMNS

    return ESTIMATE_COLUMNS if kind == "estimate" else SOLUTION_COLUMNS


def points_frame(
    points: Sequence[Point], keys: Sequence[str], records: Mapping[str, dict], kind: str = "solve"
):
    """The table of every journaled point, in design order (a point not journaled yet has no
    row): point index, hash, axis values, verdict, figures, for a solve study
    ``devices.<accelerator>`` columns (0 where a fleet has none of it, null without a fleet),
    and the point's wall time."""
    import pandas as pd

    if kind == "estimate":
        return _estimate_frame(points, keys, records)

    rows = []
    for point, key in zip(points, keys, strict=True):
        record = records.get(key)
        if record is None:
            continue
        figures = dict(record.get("row") or {})
        devices = figures.pop("devices", None)
        row = {"point": point.index, "point_hash": key, **point.values}
        row |= {"status": record["status"], "message": record["message"]}
        row |= {c: figures.get(c) for c in SOLUTION_COLUMNS}
        row |= {f"devices.{g}": n for g, n in (devices or {}).items()}
        row["_solved"] = devices is not None
        row["wall_s"] = record["wall_s"]
        rows.append(row)
    axes = list(points[0].values) if points else []
    frame = pd.DataFrame(rows)
    fixed = [*HEAD_COLUMNS, *axes, *VERDICT_COLUMNS, *SOLUTION_COLUMNS]
    device_columns = sorted(c for c in frame.columns if c.startswith("devices."))
    frame = frame.reindex(columns=[*fixed, *device_columns, "_solved", *TAIL_COLUMNS])
    for column in device_columns:  # none of an accelerator in a fleet is 0, not unknown
        frame.loc[frame["_solved"].astype(bool), column] = frame[column].fillna(0)
        frame[column] = frame[column].astype("Int64")
    frame["n_devices"] = frame["n_devices"].astype("Int64")
    for column in FLOAT_COLUMNS:  # all-null columns (no baselines) stay numbers
        frame[column] = frame[column].astype("float64")
    return frame.drop(columns="_solved")


def _estimate_frame(points: Sequence[Point], keys: Sequence[str], records: Mapping[str, dict]):
    """``points_frame`` of an estimate study: the estimate's figures, numbers as float64 and
    counts as nullable integers, whatever points are null."""
    import pandas as pd

    from optimizer.study.estimates import (
        ESTIMATE_COLUMNS,
        ESTIMATE_COUNT_COLUMNS,
        ESTIMATE_TEXT_COLUMNS,
    )

    rows = []
    for point, key in zip(points, keys, strict=True):
        record = records.get(key)
        if record is None:
            continue
        figures = record.get("row") or {}
        row = {"point": point.index, "point_hash": key, **point.values}
        row |= {"status": record["status"], "message": record["message"]}
        row |= {c: figures.get(c) for c in ESTIMATE_COLUMNS}
        row["wall_s"] = record["wall_s"]
        rows.append(row)
    axes = list(points[0].values) if points else []
    columns = [*HEAD_COLUMNS, *axes, *VERDICT_COLUMNS, *ESTIMATE_COLUMNS, *TAIL_COLUMNS]
    frame = pd.DataFrame(rows).reindex(columns=columns)
    for column in ESTIMATE_COLUMNS:
        if column in ESTIMATE_COUNT_COLUMNS:
            frame[column] = frame[column].astype("Int64")
        elif column in ESTIMATE_TEXT_COLUMNS:
            frame[column] = frame[column].astype("object")
        else:
            frame[column] = frame[column].astype("float64")
    return frame


def write_tables(directory: Path, frame) -> dict[str, Path]:
    """``points.parquet`` and ``points.csv`` in ``directory``, each written atomically (a
    reader sees the previous table or the new one, never half of one)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    parquet = write_bytes_atomic(directory / TABLE_NAMES[0], buffer.getvalue(), force=True)
    csv = write_text_atomic(directory / TABLE_NAMES[1], frame.to_csv(index=False), force=True)
    return {"parquet": parquet, "csv": csv}
