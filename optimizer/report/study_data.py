"""The numbers of a study report, computed before anything is drawn: which axes vary, the points
held fixed against each axis (slices), one finding per numeric axis and slice, the findings the
study file asks for (thresholds and ranges), the extremes, the Pareto front of cost against
energy and the points table. Pure: a pandas DataFrame in (the study's ``points`` table), frozen
records out; no files, no model. Solve and estimate tables alike: an estimate table is one
without an ``objective`` column."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ANSWERED = ("optimal", "feasible")
"""Statuses of points with a fleet and its figures."""
ESTIMATED = ("ok",)
"""Statuses of estimate points with figures (an ``infeasible`` estimate has none)."""

OBJECTIVE_UNITS = {"usd_per_hour": "$/h", "facility_kwh_per_hour": "facility kWh/h"}
"""Objective units as people read them (anything else is shown as the table names it)."""

FIGURES = (
    ("cost_usd_per_hour", "cost", 1.0, "$/h"),
    ("usd_per_million_output_tokens", "cost per million output tokens", 1.0, "$"),
    ("power_w", "peak IT power", 1e-3, "kW"),
    ("average_power_w", "average IT power", 1e-3, "kW"),
    ("energy_j_per_token", "energy per output token", 1.0, "J"),
)
"""(column, name, scale to the shown unit, shown unit) of the figures every point reports."""

ESTIMATE_FIGURES = (
    ("tpot_s", "TPOT", 1e3, "ms"),
    ("output_tokens_per_s_per_accelerator", "throughput per accelerator", 1.0, "tokens/s"),
    ("oi_decode_flop_per_byte", "decode OI", 1.0, "FLOP/byte"),
    ("oi_prefill_flop_per_byte", "prefill OI", 1.0, "FLOP/byte"),
    ("cf_bytes_per_request", "CF", 1e-9, "GB per request"),
    ("capacity_max_batch", "capacity max batch", 1.0, "sequences"),
    ("energy_j_per_output_token", "energy per output token", 1.0, "J"),
)
"""The same for an estimate point's figures (findings, extremes and table)."""

MAX_TABLE_ROWS = 500
"""Points listed in the report's table; the rest are in ``points.csv``."""
MAX_SLICES_SHOWN = 8
"""Findings listed per axis (one per combination of the other axes); the rest are counted."""
MAX_FAILURES_SHOWN = 20
MAX_POINTS_NAMED = 30
"""Pareto-optimal points named in the summary; the figure marks them all."""


@dataclass(frozen=True, slots=True)
class StudyMeta:
    """What the report says about the study besides its table."""

    name: str
    description: str
    study_file: str
    axes: tuple[str, ...]  # in the study file's order
    n_planned: int  # points in the design, journaled or not
    design: str  # grid, zip, random or lhs
    asked: tuple[Threshold | Highest | Range, ...] = ()  # the study file's [[finding]]s


@dataclass(frozen=True, slots=True)
class Threshold:
    """A ``[[finding]]`` of kind threshold: per combination of the other varying axes, the
    first (lowest) value of ``axis`` at which ``column`` equals ``equals`` (text) or is below
    ``below`` (a number)."""

    axis: str
    column: str
    equals: str | None = None
    below: float | None = None


@dataclass(frozen=True, slots=True)
class Highest:
    """A ``[[finding]]`` of kind highest: per combination of the other varying axes, the last
    (highest) value of ``axis`` at which ``column`` equals ``equals`` (text) or is above
    ``above`` (a number), as the highest tier price at which the optimum still buys a tier."""

    axis: str
    column: str
    equals: str | None = None
    above: float | None = None


@dataclass(frozen=True, slots=True)
class Range:
    """A ``[[finding]]`` of kind range: per combination of the ``by`` axes, the lowest and
    highest value of each of ``columns`` over the answered points."""

    by: tuple[str, ...]
    columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FindingTable:
    """A computed ``[[finding]]``: one sentence and its table."""

    title: str
    sentence: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Slice:
    """Points of one combination of the axes held fixed against ``axis``, sorted by ``axis``.

    ``fixed`` names those axes' values (empty when nothing else varies independently);
    ``rows`` are positions in the frame given to :func:`slices`.
    """

    label: str
    rows: tuple[int, ...]
    key: str = ""  # the fixed axes' values alone, for a legend titled with their names
    fields: tuple[str, ...] = ()  # the fixed axes


@dataclass(frozen=True, slots=True)
class Extreme:
    """The lowest and highest value of one figure over the answered points, and where."""

    figure: str  # e.g. "cost ($/h)"
    low: str
    low_at: str
    high: str
    high_at: str


@dataclass(frozen=True, slots=True)
class Pareto:
    """Cost against an energy figure over the answered points; ``front`` marks those no other
    point beats on both (lower is better on each)."""

    x_column: str
    y_column: str
    points: tuple[int, ...]  # point indices, in frame order
    front: tuple[bool, ...]


@dataclass(frozen=True, slots=True)
class ReportData:
    """Everything a study report shows, as numbers and sentences; renderers only lay it out."""

    meta: StudyMeta
    n_rows: int  # points in the table (journaled)
    counts: dict[str, int]  # points by status
    n_answered: int  # points with a fleet
    numeric_axes: tuple[str, ...]  # varying, numeric, less one-to-one partners of earlier axes
    categorical_axes: tuple[str, ...]  # varying, anything else, the same
    primary_axis: str | None  # the axis compositions and savings are drawn against
    findings: tuple[tuple[str, tuple[str, ...]], ...]  # (numeric lead axis, sentences)
    finding_tables: tuple[FindingTable, ...]  # the study file's [[finding]]s, computed
    pareto_text: str | None
    extremes: tuple[Extreme, ...]
    pareto: Pareto | None
    failures: tuple[str, ...]  # "point N: status: message" of points without an answer
    table_header: tuple[str, ...]
    table_rows: tuple[tuple[str, ...], ...]
    saving_columns: tuple[str, ...]  # those with data


def display_value(value) -> str:
    """An axis value as the study file would read: lists in brackets, booleans in lowercase."""
    if isinstance(value, list | tuple | np.ndarray):
        return "[" + ", ".join(display_value(v) for v in value) + "]"
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if value is None or (isinstance(value, float | np.floating) and not math.isfinite(value)):
        return "—"
    if isinstance(value, float | np.floating):
        return f"{float(value):g}"
    return str(value)


def number_text(x: float | None) -> str:
    """A figure for people: four significant digits at most, thousands separated."""
    if x is None or not math.isfinite(x):
        return "—"
    size = abs(x)
    if size >= 1000:
        return f"{x:,.0f}"
    if size >= 100:
        return f"{x:.1f}"
    if size >= 1 or size == 0:
        return f"{x:.2f}"
    return f"{x:.3g}"


def is_estimate_table(frame) -> bool:
    """A table of estimate points (no objective column)."""
    return "objective" not in frame.columns


def answered_mask(frame):
    """Points with figures: a fleet (solve) or an estimate (status ``ok``)."""
    if is_estimate_table(frame):
        return frame["status"].isin(ESTIMATED)
    return frame["objective"].notna()


def objective_units_text(units: str) -> str:
    return OBJECTIVE_UNITS.get(units, units)


def is_numeric_axis(frame, axis: str) -> bool:
    """Numbers (not booleans) at every point."""
    import pandas as pd

    column = frame[axis]
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def axis_keys(frame, axes: Sequence[str]):
    """The axis columns with every value hashable and comparable: numeric axes as they are,
    the others as their display text."""
    keys = frame[list(axes)].copy()
    for axis in axes:
        if not is_numeric_axis(frame, axis):
            keys[axis] = frame[axis].map(display_value)
    return keys


def varying(keys, axes: Sequence[str]) -> list[str]:
    return [a for a in axes if keys[a].nunique(dropna=False) > 1]


def determined_by(keys, axis: str, other: str) -> bool:
    """Whether every value of ``axis`` comes with one value of ``other`` (a zip design's axes,
    or any axis of a random design whose values never repeat)."""
    return bool((keys.groupby(axis, sort=False)[other].nunique(dropna=False) <= 1).all())


def slices(frame, axis: str, axes: Sequence[str]) -> tuple[list[Slice], list[str]]:
    """The answered points split by the other varying axes that ``axis`` does not determine
    (and, in a solve table, by objective kind), each slice sorted by ``axis``; and the other
    varying axes that
    move with ``axis`` (not held fixed within a slice).

    Which axes move with ``axis`` is judged on every point of the table, answered or not, so
    that a failed point does not make a grid look like a zip.
    """
    keys = axis_keys(frame, axes)
    others = [a for a in varying(keys, axes) if a != axis]
    moving = [a for a in others if determined_by(keys, axis, a)]
    fixed = [a for a in others if a not in moving]
    answered = answered_mask(frame).to_numpy()
    kind = "" if is_estimate_table(frame) else frame["objective_kind"].astype(str)
    keys = keys.assign(_kind=kind, _pos=range(len(frame)))
    keys = keys[answered]
    if keys.empty:
        return [], moving
    groups = keys.groupby([*fixed, "_kind"], sort=False, dropna=False)
    found = []
    for values, group in groups:
        values = values if isinstance(values, tuple) else (values,)
        label = ", ".join(
            f"{a} = {display_value(v)}" for a, v in zip(fixed, values[:-1], strict=True)
        )
        key = ", ".join(display_value(v) for v in values[:-1])
        ordered = group.sort_values(axis, kind="stable")
        found.append(Slice(label, tuple(int(p) for p in ordered["_pos"]), key, tuple(fixed)))
    return found, moving


def change_text(low: float, high: float, unit: str = "") -> str:
    """How a figure changes from ``low`` to ``high``: ``grows 9.0× (4.70 → 42.30 $/h)``,
    ``falls 78 % (…)``, ``stays at …`` or, across zero, ``goes from … to …``."""
    unit = f" {unit}" if unit else ""
    span = f"({number_text(low)} → {number_text(high)}{unit})"
    if math.isclose(low, high, rel_tol=1e-9, abs_tol=1e-12):
        return f"stays at {number_text(low)}{unit}"
    if low > 0 and high > 0:
        ratio = high / low
        if ratio > 1:
            return f"grows {ratio_text(ratio)}× {span}"
        fall_pct = 100.0 * (1.0 - ratio)
        shown = f"{fall_pct:.2g}" if fall_pct < 10 else f"{fall_pct:.0f}"
        return f"falls {shown} % {span}"
    return f"goes from {number_text(low)} to {number_text(high)}{unit}"


def ratio_text(ratio: float) -> str:
    return f"{ratio:.1f}" if ratio < 10 else f"{ratio:,.0f}"


def is_monotone(values: Sequence[float]) -> bool:
    """Never rising or never falling (ties allowed, up to rounding)."""
    steps = np.diff(np.asarray(values, dtype=float))
    tol = 1e-9 * max(1.0, float(np.nanmax(np.abs(values))))
    return bool((steps >= -tol).all() or (steps <= tol).all())


def _axis_change_text(axis: str, low: float, high: float) -> str:
    if low > 0:
        return f"as {axis} grows {ratio_text(high / low)}× ({low:g} → {high:g})"
    return f"as {axis} goes from {low:g} to {high:g}"


def _figure_change(name: str, values, xs, axis: str, unit: str) -> str | None:
    """``name`` + how it changes between the slice's ends, and where it peaks or dips when it
    does not change monotonically; None when an end lacks the figure."""
    values = np.asarray(values, dtype=float)
    if not (math.isfinite(values[0]) and math.isfinite(values[-1])):
        return None
    text = f"{name} {change_text(values[0], values[-1], unit)}"
    finite = np.isfinite(values)
    if not is_monotone(values[finite]):
        lo, hi = int(np.nanargmin(values)), int(np.nanargmax(values))
        text += (f", not monotonically (lowest {number_text(values[lo])} at {axis} = "
                 f"{xs[lo]:g}, highest {number_text(values[hi])} at {xs[hi]:g})")  # fmt: skip
    return text


def moving_text(moving: Sequence[str], design: str) -> str:
    """What the other axes that ``slices`` could not hold fixed do: a zip design's move with
    the axis; a random design's merely differ."""
    if not moving:
        return ""
    if design == "zip":
        return f"{', '.join(moving)} {'moves' if len(moving) == 1 else 'move'} with it"
    return f"{', '.join(moving)} not held fixed"


def _estimate_pieces(rows, xs, axis: str) -> list[str | None]:
    """How TPOT, throughput per accelerator, decode OI and CF change along a slice."""
    return [
        _figure_change(name, rows[column].astype(float) * scale, xs, axis, unit)
        for column, name, scale, unit in ESTIMATE_FIGURES
        if column not in ("oi_prefill_flop_per_byte", "capacity_max_batch",
                          "energy_j_per_output_token")
    ]  # fmt: skip


def axis_findings(frame, axis: str, meta: StudyMeta) -> tuple[str, ...]:
    """One sentence per slice of the answered points along numeric ``axis``: how the
    objective, the cost per million output tokens and the energy per output token (a solve
    study), or TPOT, throughput per accelerator, decode OI and CF (an estimate study) change
    from the slice's lowest to its highest value of ``axis``."""
    found, moving = slices(frame, axis, meta.axes)
    lines = []
    for part in found:
        rows = frame.iloc[list(part.rows)]
        rows = rows.drop_duplicates(subset=[axis], keep="first")
        xs = rows[axis].to_numpy(dtype=float)
        if len(xs) < 2:
            continue
        if is_estimate_table(frame):
            pieces = _estimate_pieces(rows, xs, axis)
        else:
            kind = rows["objective_kind"].iloc[0]
            unit = objective_units_text(rows["objective_units"].iloc[0])
            pieces = [
                _figure_change(f"objective ({kind})", rows["objective"], xs, axis, unit),
                _figure_change(
                    "cost per million output tokens",
                    rows["usd_per_million_output_tokens"], xs, axis, "$",
                ),
                _figure_change("energy per output token", rows["energy_j_per_token"], xs, axis,
                               "J"),
            ]  # fmt: skip
        along = _axis_change_text(axis, xs[0], xs[-1])
        if moving:
            along += f" ({moving_text(moving, meta.design)})"
        head = f"{part.label}: {along}" if part.label else along[0].upper() + along[1:]
        lines.append(f"{head}, " + "; ".join(p for p in pieces if p))
    if not lines:
        return ("no two answered points differ in it alone",)
    if len(lines) > MAX_SLICES_SHOWN:
        n_more = len(lines) - MAX_SLICES_SHOWN
        lines = [*lines[:MAX_SLICES_SHOWN], f"and {n_more} more combinations (see the table)"]
    return tuple(lines)


def lead_axes(keys, axes: Sequence[str], design: str) -> list[str]:
    """The varying axes less, in a zip design, those that go one-to-one with an earlier one
    (the other rates of a rate sweep): each is drawn and described once, its partners named
    with it. (A random design's axes go one-to-one too, by chance: each is kept.)"""
    leads = []
    for axis in varying(keys, axes):
        partner = design == "zip" and any(
            determined_by(keys, a, axis) and determined_by(keys, axis, a) for a in leads
        )
        if not partner:
            leads.append(axis)
    return leads


def pareto_front(x, y) -> np.ndarray:
    """Boolean mask of the points no other point beats on both ``x`` and ``y`` (lower is
    better; a point equal to another on both is kept). O(n log n): sweep by ``x``."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    order = np.lexsort((y, x))
    front = np.zeros(len(x), dtype=bool)
    best_x = best_y = math.inf
    for i in order:
        if y[i] < best_y:
            front[i] = True
            best_x, best_y = x[i], y[i]
        elif y[i] == best_y and x[i] == best_x:  # the same point twice
            front[i] = True
    return front


def _pareto(frame) -> Pareto | None:
    """Cost against average power (else energy per token) when both vary."""
    cost = frame["cost_usd_per_hour"]
    if cost.dropna().nunique() < 2:
        return None
    for energy in ("average_power_w", "energy_j_per_token"):
        both = frame[cost.notna() & frame[energy].notna()]
        if both[energy].nunique() >= 2 and both["cost_usd_per_hour"].nunique() >= 2:
            mask = pareto_front(both["cost_usd_per_hour"], both[energy])
            return Pareto(
                "cost_usd_per_hour", energy, tuple(int(p) for p in both["point"]),
                tuple(bool(m) for m in mask),
            )  # fmt: skip
    return None


ENERGY_NAMES = {"average_power_w": "average IT power", "energy_j_per_token": "energy per token"}


def _pareto_text(pareto: Pareto | None) -> str | None:
    if pareto is None:
        return None
    on = [p for p, f in zip(pareto.points, pareto.front, strict=True) if f]
    shown = ", ".join(str(p) for p in on[:MAX_POINTS_NAMED])
    more = f" and {len(on) - MAX_POINTS_NAMED} more" if len(on) > MAX_POINTS_NAMED else ""
    verb = "is" if len(on) == 1 else "are"
    return (f"{len(on)} of {len(pareto.points)} answered points {verb} Pareto-optimal in cost "
            f"($/h) and {ENERGY_NAMES[pareto.y_column]} (no other point is lower in both): "
            f"point{'s' * (len(on) != 1)} {shown}{more}")  # fmt: skip


def where_text(row, axes: Sequence[str]) -> str:
    """``point 3 (rate = 5, objective.kind = energy)``: the point and its varying axes."""
    values = ", ".join(f"{a} = {display_value(row[a])}" for a in axes)
    return f"point {int(row['point'])}" + (f" ({values})" if values else "")


def _extremes(answered, axes: Sequence[str]) -> list[Extreme]:
    found = []
    columns = []
    if is_estimate_table(answered):
        columns = [(answered, c, name, scale, unit) for c, name, scale, unit in ESTIMATE_FIGURES]
        return _extremes_of(columns, axes)
    for (kind, units), _ in answered.groupby(["objective_kind", "objective_units"], sort=True):
        mask = (answered["objective_kind"] == kind) & (answered["objective_units"] == units)
        columns.append((answered[mask], "objective", f"objective, {kind}", 1.0,
                        objective_units_text(units)))  # fmt: skip
    columns += [(answered, c, name, scale, unit) for c, name, scale, unit in FIGURES]
    return found + _extremes_of(columns, axes)


def _extremes_of(columns, axes: Sequence[str]) -> list[Extreme]:
    """The lowest and highest of each (rows, column, name, scale, unit)."""
    found = []
    for rows, column, name, scale, unit in columns:
        values = rows[column].astype(float)
        if values.notna().sum() == 0:
            continue
        low, high = rows.loc[values.idxmin()], rows.loc[values.idxmax()]
        found.append(Extreme(
            f"{name} ({unit})", number_text(low[column] * scale), where_text(low, axes),
            number_text(high[column] * scale), where_text(high, axes),
        ))  # fmt: skip
    return found


def _estimate_table(frame, axes: Sequence[str]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    header = ("point", *axes, "status", *(f"{name} ({unit})" for _, name, _, unit in
                                          ESTIMATE_FIGURES), "bound")  # fmt: skip
    rows = []
    for _, row in frame.head(MAX_TABLE_ROWS).iterrows():
        figures = [_number(row[c], scale) for c, _, scale, _ in ESTIMATE_FIGURES]
        bound = row["bound"] if isinstance(row["bound"], str) else "—"
        rows.append((str(int(row["point"])), *(display_value(row[a]) for a in axes),
                     str(row["status"]), *figures, bound))  # fmt: skip
    return header, rows


def _table(frame, axes: Sequence[str]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    if is_estimate_table(frame):
        return _estimate_table(frame, axes)
    header = ("point", *axes, "status", "objective", "cost ($/h)", "$/M output tokens",
              "peak power (kW)", "avg power (kW)", "J/output token", "pools")  # fmt: skip
    rows = []
    for _, row in frame.head(MAX_TABLE_ROWS).iterrows():
        objective = _number(row["objective"], 1.0)
        if objective != "—":
            objective += f" {objective_units_text(row['objective_units'])}"
        figures = [_number(row[c], scale) for c, _, scale, _ in FIGURES]
        pools = row["pools"] if isinstance(row["pools"], str) else "—"
        rows.append((str(int(row["point"])), *(display_value(row[a]) for a in axes),
                     str(row["status"]), objective, *figures, pools))  # fmt: skip
    return header, rows


def _number(value, scale: float) -> str:
    import pandas as pd

    return "—" if pd.isna(value) else number_text(float(value) * scale)


def column_scale(column: str) -> tuple[float, str]:
    """How a column is shown, by its unit suffix: bytes as GB, seconds as ms, else as is."""
    if column.endswith("_bytes") or "_bytes_per_" in column:
        return 1e-9, "GB" + column.split("_bytes", 1)[1].replace("_", " ")
    if column.endswith("_s") and not column.endswith("_per_s"):
        return 1e3, "ms"
    for suffix, unit in (
        ("_flop_per_byte", "FLOP/byte"),
        ("_gb", "GB"),
        ("_w", "W"),
        ("_per_s", "per s"),
        ("_j_per_output_token", "J/token"),
    ):
        if column.endswith(suffix):
            return 1.0, unit
    return 1.0, ""


def _label(fixed: Sequence[str], values) -> str:
    values = values if isinstance(values, tuple) else (values,)
    return ", ".join(display_value(v) for v in values[: len(fixed)])


def threshold_table(frame, spec: Threshold, axes: Sequence[str]) -> FindingTable:
    """Per combination of the other varying axes: the lowest value of ``spec.axis`` at which
    ``spec.column`` meets the condition, and the lowest at which a point has no answer (an
    infeasible or failed point: past the wall altogether)."""
    keys = axis_keys(frame, axes)
    others = [a for a in varying(keys, axes) if a != spec.axis]
    fixed = [a for a in others if not determined_by(keys, spec.axis, a)]
    if spec.equals is not None:
        condition = frame[spec.column].astype(object).eq(spec.equals)
        what = f"{spec.column} = {spec.equals}"
    else:
        condition = frame[spec.column].astype(float).lt(spec.below)
        what = f"{spec.column} < {spec.below:g}"
    answered = answered_mask(frame)
    work = keys.assign(_x=frame[spec.axis], _hit=condition.fillna(False).astype(bool) & answered,
                       _none=~answered)  # fmt: skip
    rows, n_reached = [], 0
    groups = work.groupby(fixed, sort=False, dropna=False) if fixed else [((), work)]
    for values, group in groups:
        ordered = group.sort_values("_x", kind="stable")
        hits = ordered[ordered["_hit"]]["_x"]
        nones = ordered[ordered["_none"]]["_x"]
        n_reached += not hits.empty
        first = display_value(hits.iloc[0]) if not hits.empty else "never"
        gone = display_value(nones.iloc[0]) if not nones.empty else "—"
        label = values if isinstance(values, tuple) else (values,)
        rows.append((*(display_value(v) for v in label[: len(fixed)]), first, gone,
                     display_value(ordered["_x"].max())))  # fmt: skip
    header = (*fixed, f"first {spec.axis} where {what}", f"first {spec.axis} without an answer",
              f"highest {spec.axis}")  # fmt: skip
    per = f" per {', '.join(fixed)}" if fixed else ""
    sentence = (f"The lowest {spec.axis} at which {what}{per}: reached in {n_reached} of "
                f"{len(rows)} combination{'s' * (len(rows) != 1)}; the table gives each, and "
                "where points stop having an answer at all.")  # fmt: skip
    return FindingTable(f"Threshold: {what} along {spec.axis}", sentence, header, tuple(rows))


def highest_table(frame, spec: Highest, axes: Sequence[str]) -> FindingTable:
    """Per combination of the other varying axes, over the answered points: the highest value
    of ``spec.axis`` at which ``spec.column`` meets the condition, the next value tried above it
    (the crossing lies between the two) and the lowest at which the condition fails (below the
    highest where it holds: not monotone along the axis)."""
    keys = axis_keys(frame, axes)
    others = [a for a in varying(keys, axes) if a != spec.axis]
    fixed = [a for a in others if not determined_by(keys, spec.axis, a)]
    if spec.equals is not None:
        condition = frame[spec.column].astype(object).eq(spec.equals)
        what = f"{spec.column} = {spec.equals}"
    else:
        condition = frame[spec.column].astype(float).gt(spec.above)
        what = f"{spec.column} > {spec.above:g}"
    answered = answered_mask(frame)
    work = keys.assign(_x=frame[spec.axis], _hit=condition.fillna(False).astype(bool))[answered]
    rows, n_held = [], 0
    groups = work.groupby(fixed, sort=False, dropna=False) if fixed else [((), work)]
    for values, group in groups:
        hits, misses = group[group["_hit"]]["_x"], group[~group["_hit"]]["_x"]
        n_held += not hits.empty
        top = hits.max() if not hits.empty else None
        above = misses[misses > top] if top is not None else misses
        label = values if isinstance(values, tuple) else (values,)
        rows.append((*(display_value(v) for v in label[: len(fixed)]),
                     "never" if top is None else display_value(top),
                     display_value(above.min()) if not above.empty else "—",
                     display_value(misses.min()) if not misses.empty else "—",
                     display_value(group["_x"].max())))  # fmt: skip
    header = (*fixed, f"highest {spec.axis} where {what}", f"next {spec.axis} tried",
              f"lowest {spec.axis} where not", f"highest {spec.axis} answered")  # fmt: skip
    per = f" per {', '.join(fixed)}" if fixed else ""
    sentence = (f"The highest {spec.axis} at which {what}{per}, over the answered points: it "
                f"holds somewhere in {n_held} of {len(rows)} combination"
                f"{'s' * (len(rows) != 1)}. The crossing lies between it and the next value "
                "tried (— : it holds up to the highest value tried); where it fails at a lower "
                "value than the highest where it holds, it is not monotone along the "
                "axis.")  # fmt: skip
    return FindingTable(f"Highest: {what} along {spec.axis}", sentence, header, tuple(rows))


def range_table(frame, spec: Range) -> FindingTable:
    """Per combination of the ``by`` axes: each column's lowest and highest value over the
    answered points (in the unit its suffix names), and how many points that is."""
    answered = frame[answered_mask(frame)]
    by = list(spec.by)
    keys = axis_keys(answered, by)
    rows = []
    for values, group in answered.groupby([keys[a] for a in by], sort=False):
        label = values if isinstance(values, tuple) else (values,)
        cells = []
        for column in spec.columns:
            scale, _ = column_scale(column)
            numbers = group[column].astype(float).dropna() * scale
            low, high = (numbers.min(), numbers.max()) if len(numbers) else (None, None)
            cells.append(f"{number_text(low)} – {number_text(high)}" if len(numbers) else "—")
        rows.append((*(str(v) for v in label), *cells, str(len(group))))
    header = (*by, *(f"{c} ({column_scale(c)[1]})".replace(" ()", "") for c in spec.columns),
              "points")  # fmt: skip
    sentence = (
        f"The lowest and highest {', '.join(spec.columns)} per {', '.join(by)}, over "
        f"the {len(answered)} answered points (the other axes vary within a row)."
    )
    return FindingTable(f"Ranges per {', '.join(by)}", sentence, header, tuple(rows))


def saving_columns(frame) -> list[str]:
    """The baseline-saving columns with a value at some point."""
    return [c for c in frame.columns if c.startswith("saving_vs_") and frame[c].notna().any()]


def _finding_table(frame, finding, axes: Sequence[str]) -> FindingTable:
    if isinstance(finding, Threshold):
        return threshold_table(frame, finding, axes)
    if isinstance(finding, Highest):
        return highest_table(frame, finding, axes)
    return range_table(frame, finding)


def build_report_data(frame, meta: StudyMeta) -> ReportData:
    """Every number and sentence of a study's report, from its points table.

    Args:
        frame: the study's ``points`` table (``optimizer.study.results.points_frame``), one
            row per journaled point, design order.
        meta: the study's name, description, file, axes and planned point count.

    Returns:
        The report's data: counts, findings per varying numeric axis, the study file's
        findings, extremes, the Pareto front of cost against energy (a solve study, None
        unless both vary) and the table.
    """
    frame = frame.reset_index(drop=True)
    axes = [a for a in meta.axes if a in frame.columns]
    keys = axis_keys(frame, axes)
    moving = varying(keys, axes)
    leads = lead_axes(keys, axes, meta.design)
    numeric = tuple(a for a in leads if is_numeric_axis(frame, a))
    categorical = tuple(a for a in leads if a not in numeric)
    answered = frame[answered_mask(frame)]
    counts = frame["status"].value_counts().sort_index()
    findings = tuple((a, axis_findings(frame, a, meta)) for a in numeric if len(answered))
    asked = tuple(_finding_table(frame, f, axes) for f in meta.asked)
    pareto = None if is_estimate_table(frame) else _pareto(answered)
    failed = frame[~answered_mask(frame)]
    failures = [f"point {int(r['point'])}: {r['status']}: {r['message']}"
                for _, r in failed.head(MAX_FAILURES_SHOWN).iterrows()]  # fmt: skip
    if len(failed) > MAX_FAILURES_SHOWN:
        failures.append(f"and {len(failed) - MAX_FAILURES_SHOWN} more (see points.csv)")
    header, rows = _table(frame, axes)
    return ReportData(
        meta=meta,
        n_rows=len(frame),
        counts={str(k): int(v) for k, v in counts.items()},
        n_answered=len(answered),
        numeric_axes=numeric,
        categorical_axes=categorical,
        primary_axis=(numeric or categorical or (None,))[0],
        findings=findings,
        finding_tables=asked,
        pareto_text=_pareto_text(pareto),
        extremes=tuple(_extremes(answered, moving)),
        pareto=pareto,
        failures=tuple(failures),
        table_header=header,
        table_rows=tuple(rows),
        saving_columns=tuple(saving_columns(answered)),
    )
