"""The figures of a co-design report: cost against energy of every feasible trial with the
Pareto front and the catalog-only fleets (two objectives), and the best value so far against
the trial number with the catalog-only level (each objective). Infeasible trials with values
are drawn as crosses, those without (not evaluated) as ticks on the trial axis. Drawn on Agg
canvases (matplotlib imported inside) as PNG and SVG bytes, the same data giving the same bytes.
"""

from __future__ import annotations

import numpy as np

from optimizer.report.codesign_data import (
    CodesignData,
    feasible_values,
    objective_text,
    reference_text,
)
from optimizer.report.study_plots import DrawnFigure, FigurePlan, encode_figure, new_figure

FIGURE_NAMES = ("pareto_front", "progress")
MAX_LABELS = 30
"""Pareto-optimal trials labelled with their number in the figure."""
CATALOG_STYLE = {"color": "black", "linestyle": "--", "linewidth": 1, "zorder": 1}
MIN_SPAN_FRAC = 1e-6
"""An axis whose values span less than this share of their size shows ±5 % around them
(trials tied with the catalog-only fleets differ in the last bits)."""
INFEASIBLE_COLOR = "tab:orange"


def draw_figures(frame, data: CodesignData) -> list[DrawnFigure]:
    """The figures ``data`` supports: the Pareto front with two objectives and a trial with
    values; the progress of each objective when any trial has values."""
    frame = frame.sort_values("number").reset_index(drop=True)
    if not _valued(frame, data.objectives).any():
        return []
    figures = []
    if len(data.objectives) == 2:
        plan = FigurePlan("pareto_front", "pareto", _pareto_title(data), None)
        figures.append(_draw(_pareto, plan, frame, data))
    plan = FigurePlan("progress", "progress", "Best value so far against trials", "number")
    figures.append(_draw(_progress, plan, frame, data))
    return figures


def _draw(draw, plan: FigurePlan, frame, data: CodesignData) -> DrawnFigure:
    fig, caption = draw(plan, frame, data)
    png, svg = encode_figure(fig)
    return DrawnFigure(plan, caption, png, svg)


def _pareto_title(data: CodesignData) -> str:
    x, y = (objective_text(c).split(" (")[0] for c in data.objectives)
    return f"{x.capitalize()} against {y}: the Pareto front of designs"


def _valued(frame, objectives) -> np.ndarray:
    """Complete trials with every objective finite."""
    values = frame[list(objectives)].to_numpy(dtype=float)
    return (frame["state"] == "complete").to_numpy() & np.isfinite(values).all(axis=1)


def _infeasible(frame) -> np.ndarray:
    complete = (frame["state"] == "complete").to_numpy()
    return complete & ~frame["feasible"].fillna(True).astype(bool).to_numpy()


def _pareto(plan: FigurePlan, frame, data: CodesignData):
    xc, yc = data.objectives
    fig, (ax,) = new_figure(plan.title)
    feasible = feasible_values(frame, data.objectives)
    ax.scatter(feasible[xc], feasible[yc], s=18, color="0.6", label="feasible trial")
    crossed = frame[_valued(frame, data.objectives) & _infeasible(frame)]
    if len(crossed):
        ax.scatter(crossed[xc], crossed[yc], s=30, marker="x", color=INFEASIBLE_COLOR,
                   label="infeasible trial")  # fmt: skip
    if data.best:
        xs = np.array([d.values[xc] for d in data.best])
        ys = np.array([d.values[yc] for d in data.best])
        ax.step(xs, ys, where="post", color="tab:red", linewidth=1, alpha=0.6)
        ax.scatter(xs, ys, s=36, color="tab:red", zorder=3, label="Pareto front")
        if len(data.best) <= MAX_LABELS:
            for x, y, design in zip(xs, ys, data.best, strict=True):
                ax.annotate(str(design.number), (x, y), textcoords="offset points",
                            xytext=(4, 4), fontsize=8)  # fmt: skip
    cx, cy = (data.reference_totals.get(c) for c in data.objectives)
    if cx is not None and cy is not None:
        ax.scatter([cx], [cy], s=260, marker="*", color="black", zorder=2,
                   label="catalog-only fleets")  # fmt: skip
    _limits(ax.set_xlim, ax.xaxis, [*feasible[xc], *crossed[xc], cx])
    _limits(ax.set_ylim, ax.yaxis, [*feasible[yc], *crossed[yc], cy])
    ax.set_xlabel(objective_text(xc))
    ax.set_ylabel(objective_text(yc))
    ax.legend(fontsize=8, loc="best")
    caption = (
        f"{objective_text(xc)} against {objective_text(yc)} of each feasible trial (grey); red: "
        "the designs no other feasible design beats on both, labelled with their trial number"
        f"; black star: the best catalog-only fleets ({_reference(data)})."
    )
    if len(crossed):
        caption += " Orange crosses: infeasible trials that have values."
    return fig, caption


def _limits(set_limits, axis, values) -> None:
    """Plain tick labels (no offset); ±5 % around values that barely differ."""
    axis.get_major_formatter().set_useOffset(False)
    values = np.array([v for v in values if v is not None], dtype=float)
    values = values[np.isfinite(values)]
    if values.size and np.ptp(values) <= MIN_SPAN_FRAC * np.abs(values).max():
        middle = float(values.mean())
        set_limits(middle - 0.05 * abs(middle) - 1e-9, middle + 0.05 * abs(middle) + 1e-9)


def _reference(data: CodesignData) -> str:
    return "; ".join(
        f"{objective_text(c).split(' (')[0]}: {reference_text(data.reference, c)}"
        for c in data.objectives
    )


def _progress(plan: FigurePlan, frame, data: CodesignData):
    fig, axes = new_figure(plan.title, len(data.objectives), height_per_row=3.6)
    numbers = frame["number"].to_numpy(dtype=float)
    feasible = frame["feasible"].fillna(False).astype(bool).to_numpy()
    infeasible = _infeasible(frame)
    for ax, column in zip(axes, data.objectives, strict=True):
        values = frame[column].to_numpy(dtype=float)
        good = feasible & np.isfinite(values)
        ax.scatter(numbers[good], values[good], s=14, color="0.6", label="feasible trial")
        best = np.fmin.accumulate(np.where(good, values, np.inf))
        shown = np.isfinite(best)
        ax.step(numbers[shown], best[shown], where="post", color="tab:blue", zorder=3,
                label="best so far")  # fmt: skip
        crossed = infeasible & np.isfinite(values)
        if crossed.any():
            ax.scatter(numbers[crossed], values[crossed], s=26, marker="x",
                       color=INFEASIBLE_COLOR, label="infeasible trial")  # fmt: skip
        ticks = infeasible & ~np.isfinite(values)
        if ticks.any():
            ax.scatter(numbers[ticks], np.zeros(ticks.sum()), marker="|", s=60,
                       color=INFEASIBLE_COLOR, transform=ax.get_xaxis_transform(),
                       label="infeasible, not evaluated", clip_on=False)  # fmt: skip
        level = data.reference_totals.get(column)
        if level is not None:
            ax.axhline(level, label="catalog-only fleets", **CATALOG_STYLE)
        _limits(ax.set_ylim, ax.yaxis, [*values[np.isfinite(values)], level])
        ax.set_ylabel(objective_text(column))
        ax.legend(fontsize=8, loc="best")
    axes[-1].set_xlabel("trial")
    caption = (
        "Each objective's best feasible value so far (blue) against the trial number, over "
        "the feasible trials (grey), with the best catalog-only fleets' value (dashed)."
    )
    if (infeasible & ~_valued(frame, data.objectives)).any():
        caption += " Orange ticks on the trial axis: infeasible trials, not evaluated."
    if (infeasible & _valued(frame, data.objectives)).any():
        caption += " Orange crosses: infeasible trials that have values."
    return fig, caption
