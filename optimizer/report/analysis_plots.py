"""The plots of ``hetplan analyze``: roofline, CF against context, OI–CF quadrants and the
capacity wall, drawn from an :class:`~optimizer.perf.operators.Analysis` (computed first, drawn
second) and written as PNG and SVG.

matplotlib is imported inside the functions (it is slow to import) and draws on Agg canvases
without touching pyplot's global state.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from optimizer.catalog.units import GIGA, TERA
from optimizer.output import write_bytes_atomic
from optimizer.perf.operators import Analysis, Operator
from optimizer.report.png import compact_png

PLOTTED_OPERATORS = (
    Operator.ATTENTION_PROJECTIONS,
    Operator.ATTENTION,
    Operator.FFN,
    Operator.LM_HEAD,
)
"""Operators drawn on the roofline (norms sit on the FFN's OI and weigh nothing)."""

QUADRANT_OPERATORS = (Operator.ATTENTION, Operator.FFN)
"""The seed paper's quadrant operators: attention and FFN, each in prefill and decode."""

FORMATS = ("png", "svg")
_METADATA = {"png": {"Software": None}, "svg": {"Date": None}}  # reproducible files
_PHASE_MARKERS = {"prefill": "o", "decode": "s"}
_QUADRANT_MARKERS = {
    ("prefill", Operator.ATTENTION): "^",
    ("prefill", Operator.FFN): "o",
    ("decode", Operator.ATTENTION): "v",
    ("decode", Operator.FFN): "s",
}


PLOT_NAMES = ("roofline", "cf_vs_context", "oi_cf_quadrants", "max_batch_vs_context")


def plot_paths(model: str, workload: str | None, out_dir: Path) -> list[Path]:
    """Every file :func:`write_analysis_plots` writes for ``model`` and ``workload``, so a
    caller can check them before the analysis runs."""
    return [out_dir / f"{_file_stem(model, workload, p)}.{f}" for p in PLOT_NAMES for f in FORMATS]


def _file_stem(model: str, workload: str | None, plot: str) -> str:
    return f"{model}_{workload or 'request'}_{plot}"


def _stem(a: Analysis, plot: str) -> str:
    return _file_stem(a.model, a.workload, plot)


def _precisions(a: Analysis) -> str:
    if a.kv_precision == a.precision:
        return a.precision
    return f"{a.precision}, KV {a.kv_precision}"


def _subtitle(a: Analysis) -> str:
    r = a.request
    what = a.workload or "request"
    return (
        f"{a.model} ({a.attention.upper()}, {_precisions(a)}), {what}: {r.input_tokens:,.0f} in"
        f" ({r.prefix_tokens:,.0f} cached), {r.output_tokens:,.0f} out, batch {a.batch:g}"
    )


def _axes(title: str, subtitle: str):
    """A fresh figure on an Agg canvas and its axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 6.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    fig.suptitle(title, fontsize=12)
    ax.set_title(subtitle, fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    return fig, ax


def _save(fig, out_dir: Path, stem: str) -> list[Path]:
    """Write ``stem`` in every format into ``out_dir``, each file whole or not at all (drawn in
    memory, then written atomically, replacing an older plot); the paths written."""
    import matplotlib

    paths = []
    with matplotlib.rc_context({"svg.hashsalt": "hetplan", "svg.fonttype": "none"}):
        for fmt in FORMATS:
            image = io.BytesIO()
            fig.savefig(image, format=fmt, dpi=150, metadata=_METADATA[fmt])
            data = compact_png(image.getvalue()) if fmt == "png" else image.getvalue()
            paths.append(write_bytes_atomic(out_dir / f"{stem}.{fmt}", data, force=True))
    return paths


def _colors(n: int):
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def roofline(a: Analysis, out_dir: Path) -> list[Path]:
    """Attainable TFLOP/s against OI, one roofline per accelerator with its ridge point, and
    the analysed request's operators (prefill and decode) placed on the first accelerator's
    roof: left of a ridge an operator is bandwidth-bound, right of it compute-bound."""
    fig, ax = _axes("Roofline: operators against the catalog's ridge points", _subtitle(a))
    ois = [float(b.operator(op).oi_flop_per_byte) for b in a.phases for op in PLOTTED_OPERATORS]
    ridges = [d.ridge_flop_per_byte for d in a.devices]
    lo = min(min(ois), min(ridges)) / 4.0
    hi = max(max(ois), max(ridges)) * 4.0
    x = np.geomspace(lo, hi, 200)
    roofs = []
    for d, color in zip(a.devices, _colors(len(a.devices)), strict=True):
        peak = d.peak_flop_per_s / TERA
        (line,) = ax.plot(
            x,
            np.minimum(peak, x * d.mem_bw_bytes_per_s / TERA),
            color=color,
            lw=1.8,
            label=f"{d.accelerator}: ridge {d.ridge_flop_per_byte:.0f} FLOP/B",
        )
        ax.plot([d.ridge_flop_per_byte], [peak], marker="D", color=color, ms=7, ls="none")
        roofs.append(line)
    ref = a.devices[0]
    op_colors = dict(zip(PLOTTED_OPERATORS, _colors(len(PLOTTED_OPERATORS) + 4)[4:], strict=True))
    sizes = dict(zip(PLOTTED_OPERATORS, (13, 10, 7, 5), strict=True))
    for b in a.phases:
        for op in PLOTTED_OPERATORS:
            oi = float(b.operator(op).oi_flop_per_byte)
            y = min(ref.peak_flop_per_s, oi * ref.mem_bw_bytes_per_s) / TERA
            ax.plot(
                [oi],
                [y],
                marker=_PHASE_MARKERS[b.phase.value],
                ms=sizes[op],
                mfc="none",
                mew=1.6,
                color=op_colors[op],
                ls="none",
                label=f"{b.phase.value} {op.value}",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("operational intensity (FLOP / byte of device memory)")
    ax.set_ylabel("attainable TFLOP/s (one device, dense peak)")
    operators = [h for h in ax.get_lines() if h not in roofs and not h.get_label().startswith("_")]
    first = ax.legend(handles=roofs, fontsize=8, loc="upper left", title="rooflines (◆ ridge)")
    ax.add_artist(first)
    ax.legend(handles=operators, fontsize=8, loc="lower right", title=f"on {ref.accelerator}")
    return _save(fig, out_dir, _stem(a, "roofline"))


def cf_vs_context(a: Analysis, out_dir: Path) -> list[Path]:
    """KV bytes of one request against context for an MHA, a GQA and an MLA model (dotted past
    each model's window), with each accelerator's memory as a line: where a curve crosses a
    line, one request fills a whole device (the capacity wall)."""
    fig, ax = _axes(
        "Capacity footprint: KV cache of one request against context",
        f"KV in {a.kv_precision}; horizontal lines: usable memory of one device",
    )
    x = a.context_tokens
    for c, color in zip(a.kv_curves, _colors(len(a.kv_curves)), strict=True):
        gb = c.kv_bytes / GIGA
        window = float(c.max_context_tokens)
        label = f"{c.model} ({c.attention.upper()})"
        if window >= x[-1]:
            ax.plot(x, gb, color=color, lw=2.0, label=label)
            continue
        at_window = float(np.interp(window, x, gb))
        inside = x < window
        ax.plot([*x[inside], window], [*gb[inside], at_window], color=color, lw=2.0, label=label)
        ax.plot([window, *x[~inside]], [at_window, *gb[~inside]], color=color, lw=1.5, ls=":")
    styles = ("--", "-.", (0, (5, 1)), (0, (3, 1, 1, 1)))
    for i, d in enumerate(a.devices):
        ax.axhline(
            d.memory_bytes / GIGA,
            color="0.3",
            lw=1.0,
            ls=styles[i % len(styles)],
            label=f"{d.accelerator}: {d.memory_bytes / GIGA:.0f} GB",
        )
    ax.axvline(
        a.request.mean_context,
        color="0.6",
        lw=1.0,
        ls=":",
        label=f"this request: {a.request.mean_context:,.0f} tokens",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("KV cache per request (GB)")
    ax.legend(fontsize=8, loc="lower right", title="dotted: beyond the model's window")
    return _save(fig, out_dir, _stem(a, "cf_vs_context"))


def oi_cf_quadrants(a: Analysis, out_dir: Path) -> list[Path]:
    """OI against CF of attention and FFN, prefill and decode, for each agentic workload's mean
    turn, split at the first accelerator's ridge point (OI) and at the CF that lets a batch of
    ``batch`` requests fill one of its devices: the seed paper's four quadrants."""
    ref = a.devices[0]
    cf_line_gb = ref.memory_bytes / a.batch / GIGA
    fig, ax = _axes(
        "OI–CF quadrants of the agentic workloads",
        f"{a.model} ({_precisions(a)}), batch {a.batch:g}; lines: {ref.accelerator} ridge"
        f" {ref.ridge_flop_per_byte:.0f} FLOP/B and its memory / batch = {cf_line_gb:.1f} GB",
    )
    xs, ys = [], []
    # hollow markers shrinking per workload, so workloads on the same point stay visible
    sizes = np.linspace(15.0, 6.0, max(len(a.workloads), 2))
    for v, color, size in zip(a.workloads, _colors(len(a.workloads)), sizes, strict=False):
        for b in (v.prefill, v.decode):
            for op in QUADRANT_OPERATORS:
                cost = b.operator(op)
                cf_gb = float(cost.cf_bytes) / GIGA
                oi = float(cost.oi_flop_per_byte)
                xs.append(cf_gb)
                ys.append(oi)
                ax.plot(
                    [cf_gb],
                    [oi],
                    marker=_QUADRANT_MARKERS[(b.phase.value, op)],
                    ms=size,
                    mfc="none",
                    mew=1.8,
                    color=color,
                    ls="none",
                )
    ax.set_xscale("log")
    ax.set_yscale("log")
    x_lo, x_hi = min(xs + [cf_line_gb]) / 3.0, max(xs + [cf_line_gb]) * 3.0
    y_lo, y_hi = min(ys + [ref.ridge_flop_per_byte]) / 3.0, max(ys + [ref.ridge_flop_per_byte]) * 3
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.axhline(ref.ridge_flop_per_byte, color="0.3", lw=1.2, ls="--")
    ax.axvline(cf_line_gb, color="0.3", lw=1.2, ls="--")
    corners = (
        (0.02, 0.97, "left", "top", "compute-bound\n(high OI, low CF)"),
        (0.98, 0.97, "right", "top", "capacity-bound\n(high OI, high CF)"),
        (0.02, 0.03, "left", "bottom", "bandwidth-bound\n(low OI, low CF)"),
        (0.98, 0.03, "right", "bottom", "bandwidth + capacity\n(low OI, high CF)"),
    )
    for x, y, ha, va, text in corners:
        ax.text(x, y, text, transform=ax.transAxes, ha=ha, va=va, fontsize=8, color="0.4")
    from matplotlib.lines import Line2D

    workload_handles = [
        Line2D([], [], color=c, marker="o", ls="none", label=v.workload)
        for v, c in zip(a.workloads, _colors(len(a.workloads)), strict=True)
    ]
    op_handles = [
        Line2D([], [], color="0.3", marker=m, ls="none", label=f"{phase} {op.value}")
        for (phase, op), m in _QUADRANT_MARKERS.items()
    ]
    first = ax.legend(
        handles=workload_handles,
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        title="workload",
    )
    ax.add_artist(first)
    ax.legend(
        handles=op_handles,
        fontsize=8,
        loc="lower left",
        bbox_to_anchor=(1.01, 0.0),
        title="operator",
    )
    ax.set_xlabel("capacity footprint per request (GB: KV, or weights / batch)")
    ax.set_ylabel("operational intensity (FLOP / byte)")
    return _save(fig, out_dir, _stem(a, "oi_cf_quadrants"))


def max_batch_vs_context(a: Analysis, out_dir: Path) -> list[Path]:
    """Most sequences one instance holds against context, per accelerator (its tensor-parallel
    size in the label): the capacity wall that caps the decode batch."""
    fig, ax = _axes("Capacity wall: largest batch that fits against context", _subtitle(a))
    x = a.context_tokens
    for d, color in zip(a.devices, _colors(len(a.devices)), strict=True):
        fits = d.max_batch_curve >= 1
        label = f"{d.accelerator} ×{d.tp}" if d.tp else f"{d.accelerator}: weights do not fit"
        ax.plot(x[fits], d.max_batch_curve[fits], color=color, lw=2.0, label=label)
    ax.axhline(a.batch, color="0.4", lw=1.0, ls="--")
    ax.annotate(f"batch {a.batch:g}", (x[0], a.batch), xytext=(2, 3), textcoords="offset points")
    ax.axvline(a.request.mean_context, color="0.6", lw=1.0, ls="-.")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("context length per sequence (tokens)")
    ax.set_ylabel("max batch per instance (sequences)")
    ax.legend(fontsize=8, loc="upper right", title=f"{a.model}, {_precisions(a)}, ×TP")
    return _save(fig, out_dir, _stem(a, "max_batch_vs_context"))


PLOTS = (roofline, cf_vs_context, oi_cf_quadrants, max_batch_vs_context)


def write_analysis_plots(a: Analysis, out_dir: Path | str) -> list[Path]:
    """Draw every plot of ``a`` into ``out_dir`` (created if needed); the paths written."""
    out_dir = Path(out_dir)
    return [path for plot in PLOTS for path in plot(a, out_dir)]
