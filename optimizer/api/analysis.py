"""``analyze``: OI, CF and the binding wall of a model's operators on a set of accelerators,
with the curves behind the paper's four plots (which ``optimizer.report.analysis_plots`` draws).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from optimizer.api.context import Context, open_context
from optimizer.api.defaults import ANALYSIS_ACCELERATORS
from optimizer.api.fields import (
    FieldError,
    at_least,
    entry,
    precision,
    token_request,
    workload_alone,
)
from optimizer.catalog.catalog import Catalog
from optimizer.catalog.hardware import Accelerator
from optimizer.catalog.model_arch import ModelArch
from optimizer.catalog.precision import Precision
from optimizer.catalog.units import GIGA, TERA
from optimizer.errors import HetplanError
from optimizer.perf.capacity import valid_split
from optimizer.perf.compute_dtype import compute_peak
from optimizer.perf.config import Config, build_config
from optimizer.perf.efficiency import SOL
from optimizer.perf.operators import (
    CONTEXT_SWEEP_TOKENS,
    Analysis,
    DeviceView,
    KvCurve,
    OperatorCost,
    PhaseBreakdown,
    WorkloadView,
    kv_elements_per_sequence,
    phase_walls,
    request_operators,
    roofline_wall,
)
from optimizer.perf.phases import memory
from optimizer.perf.serving import Request
from optimizer.perf.shape import ModelShape, model_shape
from optimizer.results import Verdict
from optimizer.workload.requests import representative_request

SCHEMA_VERSION = 1

AGENTIC_WORKLOADS = ("chat", "coding-agent", "web-agent", "computer-use-agent")
ATTENTION_REFERENCE_MODELS = {"mha": "llama-2-7b", "gqa": "llama-3.1-70b", "mla": "deepseek-v3"}
"""One model per attention kind for the CF-against-context curves (seed paper Figure 3)."""

REFERENCE_REQUEST = Request(input_tokens=8192.0, output_tokens=512.0)
"""The request analysed when no workload is named: an 8K-token prompt, 512 output tokens."""


def _device_dict(d: DeviceView) -> dict:
    return {
        "id": d.accelerator,
        "peak_flop_per_s": d.peak_flop_per_s,
        "mem_bw_bytes_per_s": d.mem_bw_bytes_per_s,
        "ridge_flop_per_byte": d.ridge_flop_per_byte,
        "memory_bytes": d.memory_bytes,
        "tp": d.tp,
        "tp_for_batch": d.tp_for_batch,
        "max_batch_prefill": d.max_batch_prefill,
        "max_batch_decode": d.max_batch_decode,
    }


def _request_dict(r: Request) -> dict:
    return {
        "input_tokens": r.input_tokens,
        "output_tokens": r.output_tokens,
        "prefix_tokens": r.prefix_tokens,
        "new_tokens": r.new_tokens,
        "decode_context_tokens": r.mean_context,
    }


def _operator_dict(op: OperatorCost, devices: tuple[DeviceView, ...]) -> dict:
    oi = float(op.oi_flop_per_byte)
    return {
        "operator": op.operator.value,
        "flops": float(op.flops),
        "weight_bytes": float(op.weight_bytes),
        "kv_bytes": float(op.kv_bytes),
        "bytes": float(op.bytes),
        "oi_flop_per_byte": oi,
        "cf_bytes": float(op.cf_bytes),
        "wall": {d.accelerator: str(roofline_wall(oi, d.ridge_flop_per_byte)) for d in devices},
    }


def phase_dict(b: PhaseBreakdown, devices: tuple[DeviceView, ...]) -> dict:
    """JSON-ready view of a (scalar) phase breakdown with its walls on ``devices``."""
    return {
        "phase": b.phase.value,
        "tokens": float(b.tokens),
        "sequences": float(b.sequences),
        "context_tokens": float(b.context_tokens),
        "flops": float(b.flops),
        "bytes": float(b.bytes),
        "oi_flop_per_byte": float(b.oi_flop_per_byte),
        "cf_bytes": float(b.cf_bytes),
        "wall": phase_walls(b, devices),
        "operators": [_operator_dict(op, devices) for op in b.operators],
    }


def analysis_dict(a: Analysis) -> dict:
    """JSON-ready fields of an analysis (SI units: FLOPs, bytes, seconds)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "model": a.model,
        "attention": a.attention,
        "workload": a.workload,
        "request": _request_dict(a.request),
        "precision": a.precision,
        "kv_precision": a.kv_precision,
        "batch": a.batch,
        "accelerators": [_device_dict(d) for d in a.devices],
        "phases": [phase_dict(b, a.devices) for b in a.phases],
        "workloads": [
            {
                "workload": v.workload,
                "request": _request_dict(v.request),
                "points": [
                    {
                        "phase": b.phase.value,
                        "operator": op.operator.value,
                        "oi_flop_per_byte": float(op.oi_flop_per_byte),
                        "cf_bytes": float(op.cf_bytes),
                    }
                    for b in (v.prefill, v.decode)
                    for op in b.operators
                ],
            }
            for v in a.workloads
        ],
        "context_sweep": {
            "context_tokens": a.context_tokens.tolist(),
            "kv_bytes_per_sequence": {c.model: c.kv_bytes.tolist() for c in a.kv_curves},
            "max_batch": {d.accelerator: d.max_batch_curve.tolist() for d in a.devices},
        },
        "notes": list(a.notes),
        "catalog_fingerprint": a.catalog_fingerprint,
    }


def _tp_candidates(m: ModelArch, acc: Accelerator) -> list[int]:
    """Powers of two up to the scale-up domain that split the model validly."""
    tps, tp = [], 1
    while tp <= acc.scale_up_domain:
        if bool(valid_split(m, tp, 1, 1)):
            tps.append(tp)
        tp *= 2
    return tps


def _instances(
    catalog: Catalog, acc: Accelerator, m: ModelArch, s: ModelShape, precision, kv, context
) -> list[tuple[int, Config, float]]:
    """(tp, config, max batch at ``context``) of each TP instance whose weights fit."""
    found = []
    for tp in _tp_candidates(m, acc):
        try:
            config, _ = build_config(catalog, acc, tp=tp, weights=precision, kv=kv, efficiency=SOL)
        except HetplanError:
            continue
        mem = memory(s, config, context)
        if float(mem.kv_free_per_device) > 0:
            found.append((tp, config, float(mem.max_batch)))
    return found


def _kv_curve_models(catalog: Catalog, m: ModelArch) -> list[ModelArch]:
    """An MHA, a GQA and an MLA model (the reference ones where present), then ``m``."""
    models = catalog.models
    chosen = []
    for kind, ref in ATTENTION_REFERENCE_MODELS.items():
        if ref in models:
            chosen.append(models[ref])
            continue
        same_kind = [x for x in models.values() if x.attention.value == kind]
        if same_kind:
            chosen.append(same_kind[0])
    if all(x.id != m.id for x in chosen):
        chosen.append(m)
    return chosen


def build_analysis(
    catalog: Catalog,
    model_id: str,
    *,
    workload_id: str | None = None,
    accelerator_ids: tuple[str, ...] | list[str] = ANALYSIS_ACCELERATORS,
    precision: Precision = Precision.BF16,
    kv_precision: Precision | None = None,
    batch: float = 16.0,
    request: Request | None = None,
) -> Analysis:
    """OI, CF and walls of ``model_id`` serving a workload's mean turn on each accelerator.

    Weights are stored in ``precision`` and the compute runs at its peak (or the nearest wider
    one, said in the notes); the roofline is the pure one (sol). Prefill is one pass over
    ``batch`` requests' new tokens, decode one step of ``batch`` sequences; both share the
    weights' CF among ``batch`` requests.

    Args:
        catalog: the loaded catalog.
        model_id: a model id.
        workload_id: a workload whose representative request is analysed; without one,
            ``request`` (default :data:`REFERENCE_REQUEST`).
        accelerator_ids: accelerators for walls, rooflines and capacity curves.
        precision: weights precision.
        kv_precision: KV-cache precision; default the weights', fp8 under sub-byte weights
            (4-bit KV caches are not what engines ship).
        batch: requests sharing a step (and the weights' CF).
        request: the request when no workload is named.

    Returns:
        The analysis, with the curves its plots draw.

    Raises:
        UnknownIdError: an id the catalog does not hold.
        FieldError: no accelerator, or a batch below one.
    """
    if not accelerator_ids:
        raise FieldError("accelerators", "name at least one accelerator")
    at_least("batch", batch, 1)
    m = entry(catalog, "models", "model", model_id)
    accs = [entry(catalog, "accelerators", "accelerators", a) for a in accelerator_ids]
    notes: list[str] = []
    if workload_id is not None:
        workload = entry(catalog, "workloads", "workload", workload_id)
        request = Request.mean_turn(representative_request(workload))
    request = request or REFERENCE_REQUEST
    beyond = m.window_note(request.input_tokens + request.output_tokens, "analysed anyway")
    if beyond:
        notes.append(beyond)
    s = model_shape(m)
    batch = float(batch)
    kv = kv_precision or (precision if precision.bytes_per_element >= 1 else Precision.FP8)
    if kv_precision is None and kv is not precision:
        notes.append(f"KV cache in {kv.value} under {precision.value} weights")
    prefill, decode = request_operators(m, request, batch, weights=precision, kv=kv)
    contexts = CONTEXT_SWEEP_TOKENS
    devices = []
    for acc in accs:
        peak = compute_peak(acc, precision)
        if peak.note and peak.note not in notes:
            notes.append(peak.note)
        instances = _instances(catalog, acc, m, s, precision, kv, request.mean_context)
        holding_one = [i for i in instances if i[2] >= 1]
        tp, config, _ = (holding_one or instances[-1:] or [(0, None, 0.0)])[0]
        tp_for_batch = next((i[0] for i in instances if i[2] >= batch), 0)
        if config is None:
            notes.append(
                f"{acc.id}: the weights of {m.id} in {precision.value} do not fit on one"
                f" scale-up domain ({acc.scale_up_domain} devices)"
            )
            prefill_max = decode_max = 0.0
            curve = np.zeros_like(contexts)
        else:
            prefill_max = float(memory(s, config, float(prefill.context_tokens)).max_batch)
            decode_max = float(memory(s, config, request.mean_context).max_batch)
            curve = np.asarray(memory(s, config, contexts).max_batch, dtype=np.float64)
        devices.append(
            DeviceView(
                accelerator=acc.id,
                peak_flop_per_s=peak.flop_per_s,
                mem_bw_bytes_per_s=acc.memory_bandwidth_tb_per_s * TERA,
                memory_bytes=(acc.memory_usable_gb or acc.memory_capacity_gb) * GIGA,
                tp=tp,
                tp_for_batch=tp_for_batch,
                max_batch_prefill=prefill_max,
                max_batch_decode=decode_max,
                max_batch_curve=curve,
            )
        )
    kv_curves = tuple(
        KvCurve(
            x.id,
            x.attention.value,
            x.max_context_tokens,
            np.asarray(kv_elements_per_sequence(model_shape(x), contexts) * kv.bytes_per_element),
        )
        for x in _kv_curve_models(catalog, m)
    )
    workload_ids = [w for w in AGENTIC_WORKLOADS if w in catalog.workloads]
    if workload_id is not None and workload_id not in workload_ids:
        workload_ids.append(workload_id)
    views = []
    for wid in workload_ids:
        r = Request.mean_turn(representative_request(catalog.workloads[wid]))
        views.append(
            WorkloadView(wid, r, *request_operators(m, r, batch, weights=precision, kv=kv))
        )
    return Analysis(
        model=m.id,
        attention=m.attention.value,
        workload=workload_id,
        request=request,
        precision=precision.value,
        kv_precision=kv.value,
        batch=batch,
        prefill=prefill,
        decode=decode,
        devices=tuple(devices),
        context_tokens=contexts,
        kv_curves=kv_curves,
        workloads=tuple(views),
        notes=tuple(notes),
        catalog_fingerprint=catalog.fingerprint,
    )


@dataclass(frozen=True, slots=True)
class AnalyzeRequest:
    """A model and the request to analyse: a workload's mean turn, or token counts (default
    :data:`REFERENCE_REQUEST`)."""

    model: str
    workload: str | None = None
    accelerators: tuple[str, ...] = ANALYSIS_ACCELERATORS
    precision: str = "bf16"
    kv_precision: str | None = None
    batch: float = 16.0
    input_tokens: float | None = None
    output_tokens: float | None = None
    prefix_tokens: float = 0.0


@dataclass(frozen=True, repr=False)
class AnalysisResult(Verdict):
    """The analysis (its arrays for plots in ``analysis``) and the plot files written."""

    status: str
    message: str
    analysis: Analysis
    plots: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return self.verdict() | analysis_dict(self.analysis) | {"plots": list(self.plots)}

    def __repr__(self) -> str:
        a = self.analysis
        return (
            f"AnalysisResult(status={self.status!r}, model={a.model!r}, workload={a.workload!r})"
        )


def _request(req: AnalyzeRequest) -> Request | None:
    """The request analysed without a workload (None with one)."""
    if req.workload is not None:
        workload_alone(req.input_tokens, req.output_tokens, req.prefix_tokens)
        return None
    return token_request(
        REFERENCE_REQUEST.input_tokens if req.input_tokens is None else req.input_tokens,
        REFERENCE_REQUEST.output_tokens if req.output_tokens is None else req.output_tokens,
        req.prefix_tokens,
    )


def analyze(
    request: AnalyzeRequest,
    *,
    plots_dir: str | Path | None = None,
    catalog_dirs: tuple[str | Path, ...] = (),
    efficiency: str | Path | None = None,
    context: Context | None = None,
) -> AnalysisResult:
    """FLOPs, bytes, OI, CF and the binding wall of each operator in prefill and decode on
    each accelerator (pure roofline), and, with ``plots_dir``, the roofline, CF-vs-context,
    OI-CF quadrant and capacity-wall plots as PNG and SVG there.

    ``efficiency`` is accepted like every use case's, though the walls are the roofline's.

    Raises:
        FieldError: a field the analysis cannot take; UnknownIdError: an unknown id.
    """
    ctx = context or open_context(catalog_dirs, efficiency)
    analysis = build_analysis(
        ctx.catalog,
        request.model,
        workload_id=request.workload,
        accelerator_ids=list(dict.fromkeys(request.accelerators)),
        precision=precision("precision", request.precision),
        kv_precision=precision("kv_precision", request.kv_precision)
        if request.kv_precision
        else None,
        batch=request.batch,
        request=_request(request),
    )
    if efficiency is not None:
        note = f"{efficiency}: efficiency factors do not enter the analysis (roofline walls)"
        analysis = replace(analysis, notes=(*analysis.notes, note))
    plots: list[str] = []
    if plots_dir is not None:
        from optimizer.report.analysis_plots import write_analysis_plots

        plots = [str(p) for p in write_analysis_plots(analysis, Path(plots_dir))]
    oi = [float(b.oi_flop_per_byte) for b in analysis.phases]
    message = f"{analysis.model}: OI {oi[0]:,.0f} FLOP/byte in prefill, {oi[1]:,.1f} in decode"
    return AnalysisResult("ok", message, analysis, tuple(plots))
