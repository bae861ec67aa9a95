"""The figures of a study report: for a solve study the objective against each axis, the fleets'
devices per accelerator as stacked bars, the savings over the baselines and the Pareto front of
cost against energy; for an estimate study TPOT, throughput per accelerator, decode OI and CF
against each axis, the binding wall along the first numeric axis and decode OI against CF;
planned from :class:`~optimizer.report.study_data.ReportData` (so a caller can
check the files before drawing) and drawn as PNG and SVG bytes.

matplotlib is imported inside the functions (it is slow to import) and draws on Agg canvases
without touching pyplot's global state; the same data always gives the same bytes.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import numpy as np

from optimizer.report.png import compact_png
from optimizer.report.study_data import (
    ENERGY_NAMES,
    ReportData,
    answered_mask,
    axis_keys,
    display_value,
    moving_text,
    objective_units_text,
    slices,
)

FORMATS = ("png", "svg")
FIGURE_PREFIXES = ("objective_vs_", "devices_vs_", "savings_vs_", "pareto_cost_vs_",
                   "estimate_vs_", "bound_vs_", "oi_vs_cf")  # fmt: skip
"""How every figure's file name starts (a report replaced with ``force`` drops old ones)."""
_METADATA = {"png": {"Software": None}, "svg": {"Date": None}}  # no timestamps: same bytes
MAX_BARS = 40
"""Bars of the composition figure: one per point up to this, else one per value (or range)
of the axis, averaged over its points."""
MAX_LEGEND = 10
"""Series named in a legend; with more, the subtitle says what the lines are."""
LINE_DESIGNS = ("grid", "zip")
"""Designs whose points along an axis are joined by lines (a random design's are scattered:
their other axes differ from point to point)."""
MAX_LABEL_CHARS = 28
MIN_SAVING_SPAN_PCT = 10.0
"""The least y range of a savings panel, in percentage points."""
RASTER_POINTS = 2000
"""Studies with more points embed their markers as an image in the SVG, so it stays small."""
ESTIMATE_PANELS = (
    ("tpot_s", "TPOT (ms)", 1e3),
    ("output_tokens_per_s_per_accelerator", "tokens/s per accelerator", 1.0),
    ("oi_decode_flop_per_byte", "decode OI (FLOP/byte)", 1.0),
    ("cf_bytes_per_request", "CF (GB per request)", 1e-9),
)
"""(column, y label, scale) of the panels of an estimate figure."""
BOUND_COLORS = {"compute": "tab:blue", "bandwidth": "tab:green", "interconnect": "tab:purple",
                "capacity": "tab:red", "slo": "tab:orange"}  # fmt: skip
MAX_BOUND_ROWS = 60
"""Rows (combinations of the other axes) of the binding-wall figure."""


@dataclass(frozen=True, slots=True)
class FigurePlan:
    """One figure to draw: its file stem, what it shows and the axis it is drawn against."""

    name: str
    kind: str  # objective, composition, savings or pareto
    title: str
    axis: str | None


@dataclass(frozen=True, slots=True)
class DrawnFigure:
    """A drawn figure in every format, and the caption the pages show under it."""

    plan: FigurePlan
    caption: str
    png: bytes
    svg: bytes


def file_stem(text: str) -> str:
    """``text`` as a file-name part: letters, digits, ``.``, ``_`` and ``-`` only."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def device_columns(frame) -> list[str]:
    """``devices.<accelerator>`` columns with at least one device at some point."""
    return [
        c
        for c in frame.columns
        if c.startswith("devices.") and frame[c].fillna(0).astype(float).gt(0).any()
    ]


def _comparable(frame, axis: str, data: ReportData) -> bool:
    """Whether some slice (the other axes and the objective kind held) has two values of
    ``axis``: an axis that sets the objective kind has objectives in different units."""
    found, _ = slices(frame, axis, data.meta.axes)
    keys = axis_keys(frame, [axis])[axis]
    return any(keys.iloc[list(part.rows)].nunique() > 1 for part in found)


def plan_figures(data: ReportData, frame) -> list[FigurePlan]:
    """The figures ``data`` supports: the objective against each varying axis (where the
    objective, in one unit, varies with it); devices and savings (when saving columns have
    data) against the first; cost against energy when both vary. None without an answered
    point."""
    if not data.n_answered:
        return []
    if "objective" not in frame.columns:
        return _estimate_plans(data, frame)
    plans = [
        FigurePlan(f"objective_vs_{file_stem(a)}", "objective", f"Objective against {a}", a)
        for a in data.meta.axes
        if (a in data.numeric_axes or a in data.categorical_axes) and _comparable(frame, a, data)
    ]
    axis = data.primary_axis
    if axis is not None and device_columns(frame[frame["objective"].notna()]):
        name, title = f"devices_vs_{file_stem(axis)}", f"Devices per accelerator against {axis}"
        plans.append(FigurePlan(name, "composition", title, axis))
    if axis is not None and data.saving_columns:
        name, title = f"savings_vs_{file_stem(axis)}", f"Savings over the baselines against {axis}"
        plans.append(FigurePlan(name, "savings", title, axis))
    if data.pareto is not None:
        energy = ENERGY_NAMES[data.pareto.y_column]
        name = f"pareto_cost_vs_{data.pareto.y_column}"
        plans.append(FigurePlan(name, "pareto", f"Cost against {energy}: the Pareto front", None))
    return plans


def _estimate_plans(data: ReportData, frame) -> list[FigurePlan]:
    """An estimate study's figures: its figures against each numeric axis (or the first
    varying axis when none is numeric: many categorical panels say little), the binding wall
    along the first numeric axis, decode OI against CF when both vary."""
    drawn = data.numeric_axes or data.categorical_axes[:1]
    plans = [
        FigurePlan(
            f"estimate_vs_{file_stem(a)}",
            "estimate",
            f"TPOT, throughput, OI and CF against {a}",
            a,
        )  # fmt: skip
        for a in data.meta.axes
        if a in drawn and _comparable(frame, a, data)
    ]
    if data.numeric_axes:
        axis = data.numeric_axes[0]
        plans.append(FigurePlan(f"bound_vs_{file_stem(axis)}", "bound",
                                f"The binding wall against {axis}", axis))  # fmt: skip
    answered = frame[answered_mask(frame)]
    if all(answered[c].nunique() > 1 for c in ("oi_decode_flop_per_byte",
                                               "cf_bytes_per_request")):  # fmt: skip
        plans.append(FigurePlan("oi_vs_cf", "oi_cf", "Decode OI against CF", None))
    return plans


def draw_figure(plan: FigurePlan, frame, data: ReportData) -> DrawnFigure:
    """``plan`` drawn from the study's table (``frame``, as given to ``build_report_data``)."""
    draw = {"objective": _objective, "composition": _composition, "savings": _savings,
            "pareto": _pareto, "estimate": _estimate, "bound": _bound,
            "oi_cf": _oi_cf}[plan.kind]  # fmt: skip
    fig, caption = draw(plan, frame.reset_index(drop=True), data)
    png, svg = encode_figure(fig)
    return DrawnFigure(plan, caption, png, svg)


def encode_figure(fig) -> tuple[bytes, bytes]:
    """(PNG, SVG) bytes of ``fig``, without timestamps: the same figure gives the same bytes."""
    import matplotlib

    images = []
    with matplotlib.rc_context({"svg.hashsalt": "hetplan", "svg.fonttype": "none"}):
        for fmt in FORMATS:
            image = io.BytesIO()
            fig.savefig(image, format=fmt, dpi=120, metadata=_METADATA[fmt])
            images.append(image.getvalue())
    return compact_png(images[0]), images[1]


def new_figure(title: str, n_rows: int = 1, *, height_per_row: float = 4.2):
    """A fresh figure on an Agg canvas with ``n_rows`` axes sharing x."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    height = height_per_row + 0.8 if n_rows == 1 else 1.2 + height_per_row * 0.62 * n_rows
    fig = Figure(figsize=(8.0, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(n_rows, 1, sharex=True, squeeze=False)[:, 0]
    fig.suptitle(title, fontsize=12)
    for ax in axes:
        ax.grid(True, alpha=0.3)
    return fig, list(axes)


def _colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "viridis"]
    return [cmap(i % 10) if n <= 10 else cmap(i / max(n - 1, 1)) for i in range(n)]


def _short(text: str) -> str:
    return text if len(text) <= MAX_LABEL_CHARS else text[: MAX_LABEL_CHARS - 1] + "…"


def _is_numeric(data: ReportData, axis: str) -> bool:
    return axis in data.numeric_axes


def _log_x(values) -> bool:
    """Log scale for positive values spanning at least a factor 10."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return values.size > 1 and values.min() > 0 and values.max() / values.min() >= 10


def _categories(frame, axis: str) -> list[str]:
    """A categorical axis's values as text, in order of first appearance."""
    return list(dict.fromkeys(frame[axis].map(display_value)))


def _x_values(frame, rows, axis: str, data: ReportData, categories, offset: float):
    if _is_numeric(data, axis):
        return rows[axis].to_numpy(dtype=float)
    return np.array([categories.index(display_value(v)) for v in rows[axis]]) + offset


def _set_x_axis(ax, frame, axis: str, data: ReportData, categories) -> None:
    ax.set_xlabel(axis)
    if _is_numeric(data, axis):
        if _log_x(frame[axis]):
            ax.set_xscale("log")
            plain_log_ticks(ax.xaxis)
        return
    labels = [_short(c) for c in categories]
    ax.set_xticks(range(len(categories)), labels)
    ax.set_xlim(-0.6, len(categories) - 0.4)
    if len(categories) > 6 or max(map(len, labels)) > 10:
        ax.tick_params(axis="x", labelrotation=30)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")


def plain_log_ticks(axis) -> None:
    """Ticks of a log axis at 1, 2 and 5 times powers of ten, written as plain numbers (not
    ``6×10^0``), without labels on the minor ticks."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.10g}"))
    axis.set_minor_formatter(NullFormatter())


def _offsets(n: int) -> list[float]:
    """Sideways shifts of ``n`` marker groups on a categorical axis, so they do not hide each
    other."""
    width = min(0.5, 0.12 * (n - 1))
    return list(np.linspace(-width / 2, width / 2, n)) if n > 1 else [0.0]


def _subtitle(frame, data: ReportData, moving: list[str], n_series: int, what: str) -> str:
    """What the lines are and what is not drawn."""
    parts = []
    if n_series > MAX_LEGEND:
        parts.append(f"{n_series} {what}, one per combination of the other axes")
    if moving:
        parts.append(moving_text(moving, data.meta.design))
    n_missing = len(frame) - data.n_answered
    if n_missing:
        parts.append(f"{n_missing} point{'s' * (n_missing != 1)} without {_answer(frame)} "
                     "not drawn")  # fmt: skip
    return "; ".join(parts)


def _answer(frame) -> str:
    return "an estimate" if "objective" not in frame.columns else "a fleet"


def _legend(ax, n_series: int, **kwargs) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if labels and n_series <= MAX_LEGEND:
        ax.legend(fontsize=8, title_fontsize=8, **kwargs)


def _fields(found) -> str | None:
    """The legend title of slices: the names of the axes their labels give the values of."""
    return ", ".join(found[0].fields) if found and found[0].fields else None


def _objective(plan: FigurePlan, frame, data: ReportData):
    axis = plan.axis
    found, moving = slices(frame, axis, data.meta.axes)
    kinds = list(dict.fromkeys(frame.iloc[list(s.rows)]["objective_kind"].iloc[0] for s in found))
    fig, axes = new_figure(plan.title, len(kinds))
    categories = _categories(frame, axis)
    numeric = _is_numeric(data, axis)
    n_series = 0
    for ax, kind in zip(axes, kinds, strict=True):
        series = [s for s in found if frame.iloc[s.rows[0]]["objective_kind"] == kind]
        n_series = max(n_series, len(series))
        colors, offsets = _colors(len(series)), _offsets(len(series))
        for part, color, offset in zip(series, colors, offsets, strict=True):
            rows = frame.iloc[list(part.rows)]
            xs = _x_values(frame, rows, axis, data, categories, offset)
            style = "-" if numeric and data.meta.design in LINE_DESIGNS else "none"
            ax.plot(xs, rows["objective"], marker="o", markersize=5, linestyle=style,
                    color=color, label=_short(part.key) if part.key else None,
                    rasterized=len(frame) > RASTER_POINTS)  # fmt: skip
        units = objective_units_text(frame.iloc[series[0].rows[0]]["objective_units"])
        ax.set_ylabel(f"objective, {kind} ({units})")
        ax.set_ylim(bottom=0)
        _legend(ax, len(series), title=_fields(series))
    _set_x_axis(axes[-1], frame, axis, data, categories)
    subtitle = _subtitle(frame, data, moving, n_series, "lines")
    if subtitle:
        axes[0].set_title(subtitle, fontsize=9)
    caption = f"The optimum's objective at each point against {axis}" + (
        ", one line per combination of the other axes." if n_series > 1 else "."
    )
    return fig, caption


def _bar_groups(rows, axis: str, data: ReportData, keys):
    """(label, rows) per bar: one per point, in order of ``axis``, while there are few; else
    one per value of ``axis`` (numeric axes with many values: per quantile range)."""
    import pandas as pd

    order = keys.loc[rows.index].assign(_point=rows["point"]).sort_values([axis, "_point"])
    rows = rows.loc[order.index]
    leads = [a for a in data.meta.axes if a in data.numeric_axes or a in data.categorical_axes]
    if len(rows) <= MAX_BARS:
        labels = [", ".join(display_value(r[a]) for a in leads) for _, r in rows.iterrows()]
        return [(_short(lab), rows.iloc[[i]]) for i, lab in enumerate(labels)], "point"
    values = keys.loc[rows.index, axis]
    if _is_numeric(data, axis) and values.nunique() > MAX_BARS // 2:
        bins = pd.qcut(values.astype(float), MAX_BARS // 2, duplicates="drop")
        groups = rows.groupby(bins.to_numpy(), sort=True, observed=True)
        return [(f"{b.left:.3g}–{b.right:.3g}", g) for b, g in groups], "mean over a range"
    groups = rows.groupby(values.to_numpy(), sort=True)
    return [(_short(display_value(v)), g) for v, g in groups], "mean over points"


def _composition(plan: FigurePlan, frame, data: ReportData):
    axis = plan.axis
    answered = frame[frame["objective"].notna()]
    columns = device_columns(answered)
    keys = axis_keys(frame, data.meta.axes)
    groups, per = _bar_groups(answered, axis, data, keys)
    fig, (ax,) = new_figure(plan.title)
    bottom = np.zeros(len(groups))
    positions = np.arange(len(groups))
    for column, color in zip(columns, _colors(len(columns)), strict=True):
        heights = np.array([g[column].astype(float).fillna(0).mean() for _, g in groups])
        ax.bar(positions, heights, bottom=bottom, color=color, width=0.7,
               label=column.removeprefix("devices."))  # fmt: skip
        bottom += heights
    labels = [label for label, _ in groups]
    ax.set_xticks(positions, labels)
    if len(groups) > 6 or max(map(len, labels)) > 10:
        ax.tick_params(axis="x", labelrotation=45)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    leads = [a for a in data.meta.axes if a in data.numeric_axes or a in data.categorical_axes]
    ax.set_xlabel(", ".join(leads) if per == "point" else axis)
    ax.set_ylabel("devices" if per == "point" else "devices (mean over the points)")
    if per == "point":
        from matplotlib.ticker import MaxNLocator

        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(False, axis="x")
    ax.legend(title="accelerator", fontsize=8, title_fontsize=8, loc="upper left")
    n_missing = len(frame) - len(answered)
    if n_missing:
        ax.set_title(f"{n_missing} point{'s' * (n_missing != 1)} without a fleet not drawn",
                     fontsize=9)  # fmt: skip
    caption = (
        "Accelerators in each point's fleet, stacked by accelerator"
        + (f", one bar per point in order of {axis}." if per == "point" else f", {per}.")
    )  # fmt: skip
    return fig, caption


def _savings(plan: FigurePlan, frame, data: ReportData):
    axis = plan.axis
    found, moving = slices(frame, axis, data.meta.axes)
    columns = list(data.saving_columns)
    fig, axes = new_figure(plan.title, len(columns), height_per_row=3.6)
    categories = _categories(frame, axis)
    colors, offsets = _colors(len(found)), _offsets(len(found))
    numeric = _is_numeric(data, axis)
    for ax, column in zip(axes, columns, strict=True):
        for part, color, offset in zip(found, colors, offsets, strict=True):
            rows = frame.iloc[list(part.rows)]
            xs = _x_values(frame, rows, axis, data, categories, offset)
            ax.plot(xs, rows[column], marker="o", markersize=5,
                    linestyle="-" if numeric and data.meta.design in LINE_DESIGNS else "none",
                    color=color, label=_short(part.key) if part.key else None,
                    rasterized=len(frame) > RASTER_POINTS)  # fmt: skip
        baseline = column.removeprefix("saving_vs_").removesuffix("_pct").replace("_", " ")
        ax.set_ylabel("saving (%)")
        ax.set_title(f"over the best {baseline} fleet", fontsize=9, loc="left")
        ax.axhline(0.0, color="0.4", linewidth=0.8)
        _at_least_span(ax, frame[column], MIN_SAVING_SPAN_PCT)
    _legend(axes[0], len(found), loc="best", title=_fields(found))
    _set_x_axis(axes[-1], frame, axis, data, categories)
    subtitle = _subtitle(frame, data, moving, len(found), "lines")
    if subtitle:
        fig.text(0.5, 0.005, subtitle, ha="center", va="bottom", fontsize=8)
    caption = (
        "The optimum's saving over each baseline, in percent of the baseline's objective "
        f"(0: the baseline is as good), against {axis}."
    )
    return fig, caption


def _at_least_span(ax, values, span: float) -> None:
    """A y range of at least ``span`` around the data and zero, in plain numbers: savings of
    1e-7 % (solver rounding) then lie flat on zero instead of filling the panel."""
    values = values.astype(float)
    low, high = min(0.0, values.min(skipna=True)), max(0.0, values.max(skipna=True))
    if high - low < span:
        ax.set_ylim(low - 0.05 * span, low + span)
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)


def _pareto(plan: FigurePlan, frame, data: ReportData):
    pareto = data.pareto
    rows = frame.set_index("point").loc[list(pareto.points)]
    scale, unit = (1e-3, "kW") if pareto.y_column == "average_power_w" else (1.0, "J")
    xs = rows[pareto.x_column].to_numpy(dtype=float)
    ys = rows[pareto.y_column].to_numpy(dtype=float) * scale
    front = np.array(pareto.front)
    fig, (ax,) = new_figure(plan.title)
    raster = len(xs) > RASTER_POINTS
    ax.scatter(xs[~front], ys[~front], s=18, color="0.6", label="dominated", rasterized=raster)
    order = np.argsort(xs[front], kind="stable")
    fx, fy = xs[front][order], ys[front][order]
    ax.step(fx, fy, where="post", color="tab:red", linewidth=1, alpha=0.6)
    ax.scatter(fx, fy, s=30, color="tab:red", zorder=3, label="Pareto-optimal")
    if len(fx) <= 30:
        points = np.array(pareto.points)[front][order]
        for x, y, p in zip(fx, fy, points, strict=True):
            ax.annotate(str(p), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("cost ($/h)")
    ax.set_ylabel(f"{ENERGY_NAMES[pareto.y_column]} ({unit})")
    ax.legend(fontsize=8)
    if _log_x(xs) and _log_x(ys):
        ax.set_xscale("log")
        ax.set_yscale("log")
        plain_log_ticks(ax.xaxis)
        plain_log_ticks(ax.yaxis)
    caption = (
        f"Each answered point's cost against its {ENERGY_NAMES[pareto.y_column]}; red: the "
        "points no other point beats on both, labelled with their point number."
    )
    return fig, caption


def _estimate(plan: FigurePlan, frame, data: ReportData):
    """TPOT, throughput per accelerator, decode OI and CF against ``plan.axis``, one line
    (or marker group) per combination of the other axes."""
    axis = plan.axis
    found, moving = slices(frame, axis, data.meta.axes)
    fig, axes = new_figure(plan.title, len(ESTIMATE_PANELS), height_per_row=3.4)
    categories = _categories(frame, axis)
    numeric = _is_numeric(data, axis)
    colors, offsets = _colors(len(found)), _offsets(len(found))
    for ax, (column, label, scale) in zip(axes, ESTIMATE_PANELS, strict=True):
        for part, color, offset in zip(found, colors, offsets, strict=True):
            rows = frame.iloc[list(part.rows)]
            xs = _x_values(frame, rows, axis, data, categories, offset)
            ax.plot(xs, rows[column].astype(float) * scale, marker="o", markersize=4,
                    linestyle="-" if numeric and data.meta.design in LINE_DESIGNS else "none",
                    color=color, label=_short(part.key) if part.key else None,
                    rasterized=len(frame) > RASTER_POINTS)  # fmt: skip
        ax.set_ylabel(label, fontsize=9)
        if _log_x(frame[column].astype(float)):
            ax.set_yscale("log")
    _legend(axes[0], len(found), loc="best", title=_fields(found))
    _set_x_axis(axes[-1], frame, axis, data, categories)
    subtitle = _subtitle(frame, data, moving, len(found), "lines")
    if subtitle:
        axes[0].set_title(subtitle, fontsize=9)
    caption = (
        f"Each answered estimate's TPOT, output tokens per second per accelerator, "
        f"decode OI and CF against {axis}"
        + (", one line per combination of the other axes." if len(found) > 1 else ".")
    )
    return fig, caption


def _bound(plan: FigurePlan, frame, data: ReportData):
    """One row per combination of the other axes, a marker per value of ``plan.axis``
    coloured by the binding wall (a cross: no estimate, past the wall altogether)."""
    axis = plan.axis
    keys = axis_keys(frame, data.meta.axes)
    others = [a for a in data.meta.axes if a != axis and keys[a].nunique() > 1]
    labels = (keys[others].astype(str).agg(", ".join, axis=1) if others
              else keys[axis].map(lambda _: "all points"))  # fmt: skip
    order = list(dict.fromkeys(labels))[:MAX_BOUND_ROWS]
    fig, (ax,) = new_figure(plan.title, height_per_row=max(3.0, 0.22 * len(order) + 1.5))
    xs = frame[axis].to_numpy(dtype=float)
    ys = labels.map({label: i for i, label in enumerate(order)})
    shown = ys.notna().to_numpy()
    answered = answered_mask(frame).to_numpy()
    for bound, color in BOUND_COLORS.items():
        mask = shown & answered & (frame["bound"] == bound).to_numpy()
        if mask.any():
            ax.scatter(xs[mask], ys[mask], s=30, color=color, label=bound, zorder=3)
    mask = shown & ~answered
    if mask.any():
        ax.scatter(xs[mask], ys[mask], s=30, marker="x", color="0.3", label="no estimate")
    ax.set_yticks(range(len(order)), [_short(o) for o in order], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(axis)
    if _log_x(xs):
        ax.set_xscale("log")
        plain_log_ticks(ax.xaxis)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    n_left = len(dict.fromkeys(labels)) - len(order)
    if n_left > 0:
        ax.set_title(f"the first {len(order)} combinations of {len(order) + n_left}", fontsize=9)
    caption = (
        f"The wall that binds each estimate along {axis}, one row per combination of "
        f"{', '.join(others) or 'the other axes'}; a cross: infeasible or failed."
    )
    return fig, caption


def _oi_cf(plan: FigurePlan, frame, data: ReportData):
    """Decode OI against CF, one colour per value of the first categorical axis: where each
    configuration lands on the OI-CF plane."""
    answered = frame[answered_mask(frame)]
    axis = data.categorical_axes[0] if data.categorical_axes else None
    groups = (
        [
            (display_value(v), g)
            for v, g in answered.groupby(answered[axis].map(display_value), sort=False)
        ]
        if axis
        else [("points", answered)]
    )
    fig, (ax,) = new_figure(plan.title)
    for (label, group), color in zip(groups, _colors(len(groups)), strict=True):
        ax.scatter(group["cf_bytes_per_request"].astype(float) * 1e-9,
                   group["oi_decode_flop_per_byte"].astype(float), s=22, color=color,
                   label=_short(label), rasterized=len(frame) > RASTER_POINTS)  # fmt: skip
    ax.set_xlabel("CF (GB per request)")
    ax.set_ylabel("decode OI (FLOP/byte)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _legend(ax, len(groups), title=axis)
    caption = (
        "Each answered estimate's decode operational intensity against its capacity "
        "footprint" + (f", coloured by {axis}." if axis else ".")
    )
    return fig, caption
