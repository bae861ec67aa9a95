"""Per-operator FLOPs, bytes, OI and CF of one step, and the data behind ``hetplan analyze``.

The seed paper's argument operator by operator (docs/model.md §1–3): each operator of a
prefill or a decode step gets its FLOPs, the bytes it moves from device memory, its operational
intensity (OI = FLOPs / bytes), its capacity footprint per request (CF) and the wall it meets on
an accelerator. Bytes are weights read plus KV read and written; activations are left out, as in
:mod:`optimizer.perf.step`, so the OI of a long prefill's weight matmuls is an upper bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import numpy as np

from optimizer.catalog.model_arch import ModelArch
from optimizer.catalog.model_facts import (
    attention_params,
    input_embedding_params,
    kept_bf16_attention_params,
    kept_bf16_ffn_params,
    lm_head_params,
    params_total,
)
from optimizer.catalog.precision import Precision
from optimizer.perf.arithmetic import (
    attention_flops_over_span,
    bytes_per_element,
    expected_experts_touched,
    kv_elements_per_sequence,
    prefill_kv_elements,
    weight_bytes,
)
from optimizer.perf.bound import Bound
from optimizer.perf.efficiency import Phase
from optimizer.perf.serving import Request
from optimizer.perf.shape import model_shape


class Operator(StrEnum):
    """The operators of one transformer step, summed over its layers."""

    ATTENTION_PROJECTIONS = "attention-projections"  # q, k, v and o (MLA: down/up projections)
    ATTENTION = "attention"  # scores and values over the KV cache
    FFN = "ffn"  # dense FFN, or router + shared experts + routed experts
    NORMS = "norms"  # RMS/LayerNorm weights
    LM_HEAD = "lm-head"  # output projection to the vocabulary


# --------------------------------------------------------------------------------------------
# Operators of one step
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OperatorParams:
    """Weight elements of each operator of a model, summed over its layers (precision-free)."""

    attention_projections: float
    norms: float
    ffn_fixed: float  # dense FFNs, shared experts and routers: read whatever the routing
    routed_expert: float  # one routed expert of one MoE layer
    n_moe_layers: int
    n_routed_experts: int
    n_active_experts: int
    lm_head: float  # the output projection; the embedding table itself when tied
    lm_head_tied: bool
    total: float  # every weight held in memory, the input embedding included

    @property
    def routed(self) -> float:
        """All routed experts of all MoE layers."""
        return self.n_moe_layers * self.n_routed_experts * self.routed_expert

    @property
    def ffn_resident(self) -> float:
        """FFN weights that must stay in memory: every expert, touched or not."""
        return self.ffn_fixed + self.routed

    @property
    def ffn_active_per_token(self) -> float:
        """FFN weights one token multiplies: the fixed part and its ``k`` routed experts."""
        return self.ffn_fixed + self.n_moe_layers * self.n_active_experts * self.routed_expert


def _norm_elements(m: ModelArch) -> float:
    """Norm weights: every layer's norms, the final norm and any embedding norm."""
    per_norm = m.hidden_size * (2 if m.norm == "layernorm" else 1)
    return per_norm * (m.n_layers * m.norms_per_layer + (2 if m.embedding_norm else 1))


@lru_cache(maxsize=256)
def operator_params(m: ModelArch) -> OperatorParams:
    """The weights of ``m`` split by operator (cached: the architecture is immutable).

    The FFN's fixed part is what remains of :func:`params_total` once the embedding, the
    lm_head, the attention blocks, the norms and the routed experts are taken out, so the
    operators always add up to the catalog's parameter count.
    """
    s = model_shape(m)
    total = float(params_total(m))
    attention = float(m.n_layers * attention_params(m))
    norms = float(_norm_elements(m))
    untied_head = float(lm_head_params(m))
    ffn_fixed = total - input_embedding_params(m) - untied_head - attention - norms
    ffn_fixed -= s.routed_params
    tied = untied_head == 0
    return OperatorParams(
        attention_projections=attention,
        norms=norms,
        ffn_fixed=ffn_fixed,
        routed_expert=s.expert_params,
        n_moe_layers=s.n_moe_layers,
        n_routed_experts=s.n_routed_experts,
        n_active_experts=s.n_active_experts,
        lm_head=float(m.vocab_size * m.hidden_size) if tied else untied_head,
        lm_head_tied=tied,
        total=total,
    )


@dataclass(frozen=True, slots=True)
class OperatorCost:
    """One operator of one step; arrays broadcast over the step's batch and context.

    ``weight_bytes`` and ``kv_bytes`` are read (KV: and written) from device memory;
    ``cf_bytes`` is what one request needs resident for this operator: its KV, or its share
    of the operator's weights (weights / sequences in the step).
    """

    operator: Operator
    flops: np.ndarray
    weight_bytes: np.ndarray
    kv_bytes: np.ndarray
    cf_bytes: np.ndarray

    @property
    def bytes(self) -> np.ndarray:
        return self.weight_bytes + self.kv_bytes

    @property
    def oi_flop_per_byte(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.flops / self.bytes


@dataclass(frozen=True, slots=True)
class PhaseBreakdown:
    """The operators of one prefill or decode step of ``sequences`` requests.

    ``context_tokens`` is each request's KV length the CF counts: cached + new tokens for a
    prefill, the live context for a decode step. ``cf_bytes`` is the request's whole CF,
    ``KV(context) + W / sequences`` (docs/model.md §1), input embedding included.
    """

    phase: Phase
    tokens: np.ndarray  # tokens the step processes
    sequences: np.ndarray
    context_tokens: np.ndarray
    operators: tuple[OperatorCost, ...]
    cf_bytes: np.ndarray

    @property
    def flops(self) -> np.ndarray:
        return sum(op.flops for op in self.operators)

    @property
    def bytes(self) -> np.ndarray:
        return sum(op.bytes for op in self.operators)

    @property
    def oi_flop_per_byte(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.flops / self.bytes

    def operator(self, name: Operator | str) -> OperatorCost:
        """The cost of operator ``name``."""
        for op in self.operators:
            if op.operator == name:
                return op
        raise KeyError(name)


def _breakdown(
    m: ModelArch,
    phase: Phase,
    *,
    tokens,
    sequences,
    logit_rows,
    attention_flops,
    kv_bytes,
    context_tokens,
    weights,
    kv,
) -> PhaseBreakdown:
    """Assemble a step's operators from its token counts and its attention terms."""
    p = operator_params(m)
    s = model_shape(m)
    w = bytes_per_element(weights)
    kvb = bytes_per_element(kv)
    # a quantized checkpoint keeps its lm_head and embedding, and maybe blocks, in bf16
    attention_bytes = weight_bytes(p.attention_projections, kept_bf16_attention_params(m), w)
    kept_ffn = kept_bf16_ffn_params(m)
    lm_head_bytes = weight_bytes(p.lm_head, p.lm_head, w)
    tokens = np.asarray(tokens, dtype=np.float64)
    sequences = np.asarray(sequences, dtype=np.float64)
    context = np.asarray(context_tokens, dtype=np.float64)
    touched = p.n_moe_layers * expected_experts_touched(s, tokens) * p.routed_expert
    shape = np.broadcast_shapes(tokens.shape, sequences.shape, context.shape)

    def full(x) -> np.ndarray:
        return np.broadcast_to(np.asarray(x, dtype=np.float64), shape)

    with np.errstate(divide="ignore", invalid="ignore"):
        per_request = 1.0 / sequences
    zero = full(0.0)
    ops = (
        OperatorCost(
            Operator.ATTENTION_PROJECTIONS,
            full(2.0 * p.attention_projections * tokens),
            full(attention_bytes),
            zero,
            full(attention_bytes * per_request),
        ),
        OperatorCost(
            Operator.ATTENTION,
            full(attention_flops),
            zero,
            full(kv_bytes),
            full(kv_elements_per_sequence(s, context) * kvb),
        ),
        OperatorCost(
            Operator.FFN,
            full(2.0 * p.ffn_active_per_token * tokens),
            full(weight_bytes(p.ffn_fixed + touched, kept_ffn, w)),
            zero,
            full(weight_bytes(p.ffn_resident, kept_ffn, w) * per_request),
        ),
        OperatorCost(
            Operator.NORMS,
            full(2.0 * p.norms * tokens),  # the step model's convention: 2 FLOPs per weight
            full(p.norms * w),
            zero,
            full(p.norms * w * per_request),
        ),
        OperatorCost(
            Operator.LM_HEAD,
            full(2.0 * p.lm_head * np.asarray(logit_rows, dtype=np.float64)),
            full(lm_head_bytes),
            zero,
            full(lm_head_bytes * per_request),
        ),
    )
    held = weight_bytes(p.total, s.bf16_params, w)
    cf = kv_elements_per_sequence(s, context) * kvb + held * per_request
    return PhaseBreakdown(phase, full(tokens), full(sequences), full(context), ops, full(cf))


def prefill_operators(
    m: ModelArch,
    new_tokens,
    cached_tokens,
    *,
    requests=1.0,
    weights: Precision | float = Precision.BF16,
    kv: Precision | float | None = None,
) -> PhaseBreakdown:
    """One prefill pass of ``requests`` prompts, each ``new_tokens`` over ``cached_tokens``.

    FLOPs: ``2 · W_op`` per token for the weight matmuls, causal attention over
    ``cached + new/2`` keys on average, and logits for each request's last token only (serving
    engines compute no others). Bytes: every multiplied weight once (the routed experts the
    pass's tokens touch), the new tokens' KV written and the cached KV read once per
    FlashAttention query tile, as :func:`optimizer.perf.step.step_cost` counts them.

    Args:
        m: the model.
        new_tokens: tokens each request prefills, shape broadcasting with the others.
        cached_tokens: prefix tokens each request finds in the KV cache.
        requests: prompts in the pass; the weights' CF is shared among them.
        weights: weight precision (or bytes per element).
        kv: KV-cache precision (or bytes per element); the weights' when None.

    Returns:
        The pass's operators, arrays of the broadcast shape.
    """
    kv = weights if kv is None else kv
    s = model_shape(m)
    new = np.asarray(new_tokens, dtype=np.float64)
    cached = np.asarray(cached_tokens, dtype=np.float64)
    requests = np.asarray(requests, dtype=np.float64)
    tokens = requests * new
    span = cached + new / 2.0
    kv_elements = prefill_kv_elements(s, tokens, span)
    return _breakdown(
        m,
        Phase.PREFILL,
        tokens=tokens,
        sequences=requests,
        logit_rows=requests,
        attention_flops=attention_flops_over_span(s, tokens, span, decode=False),
        kv_bytes=kv_elements * bytes_per_element(kv),
        context_tokens=cached + new,
        weights=weights,
        kv=kv,
    )


def decode_operators(
    m: ModelArch,
    batch,
    context_tokens,
    *,
    weights: Precision | float = Precision.BF16,
    kv: Precision | float | None = None,
) -> PhaseBreakdown:
    """One decode step: ``batch`` sequences each add a token over ``context_tokens``.

    FLOPs: ``2 · W_op · batch`` for the weight matmuls (routed experts: the ``k`` active ones
    per token) and attention over the context (MLA in its latent space). Bytes: the weights
    once (only the routed experts the batch touches, ``E · (1 − (1 − k/E)^B)`` per layer) and
    each sequence's whole KV cache; the one new KV token per sequence is not counted, as in
    :func:`optimizer.perf.step.step_cost`.

    Args:
        m: the model.
        batch: sequences in the step, shape broadcasting with ``context_tokens``.
        context_tokens: each sequence's KV length.
        weights: weight precision (or bytes per element).
        kv: KV-cache precision (or bytes per element); the weights' when None.

    Returns:
        The step's operators, arrays of the broadcast shape.
    """
    kv = weights if kv is None else kv
    s = model_shape(m)
    batch = np.asarray(batch, dtype=np.float64)
    context = np.asarray(context_tokens, dtype=np.float64)
    return _breakdown(
        m,
        Phase.DECODE,
        tokens=batch,
        sequences=batch,
        logit_rows=batch,
        attention_flops=attention_flops_over_span(s, batch, context, decode=True),
        kv_bytes=batch * kv_elements_per_sequence(s, context) * bytes_per_element(kv),
        context_tokens=context,
        weights=weights,
        kv=kv,
    )


def ridge_flop_per_byte(peak_flop_per_s, bandwidth_bytes_per_s) -> np.ndarray:
    """An accelerator's ridge point: the OI above which a kernel is compute-bound."""
    return np.asarray(peak_flop_per_s, dtype=np.float64) / bandwidth_bytes_per_s


def roofline_wall(oi_flop_per_byte, ridge) -> np.ndarray:
    """``"compute"`` where the OI reaches the ridge point, else ``"bandwidth"``."""
    return np.where(
        np.asarray(oi_flop_per_byte) >= ridge, Bound.COMPUTE.label, Bound.BANDWIDTH.label
    )


def request_cf_bytes(m: ModelArch, context_tokens, batch, *, weights, kv=None) -> np.ndarray:
    """CF of one request: ``KV(context) + W / batch`` bytes (docs/model.md §1)."""
    kv = weights if kv is None else kv
    s = model_shape(m)
    kv_bytes = kv_elements_per_sequence(s, context_tokens) * bytes_per_element(kv)
    held = weight_bytes(operator_params(m).total, s.bf16_params, weights)
    return kv_bytes + held / np.asarray(batch, dtype=np.float64)


def request_operators(
    m: ModelArch, request: Request, batch, *, weights, kv=None
) -> tuple[PhaseBreakdown, PhaseBreakdown]:
    """(prefill, decode) of ``batch`` copies of ``request``: the prefill of its new tokens
    over its cached prefix, and a decode step at its mean live context."""
    prefill = prefill_operators(
        m,
        request.new_tokens,
        request.prefix_tokens,
        requests=batch,
        weights=weights,
        kv=kv,
    )
    decode = decode_operators(m, batch, request.mean_context, weights=weights, kv=kv)
    return prefill, decode


# --------------------------------------------------------------------------------------------
# The analysis of one model on a set of accelerators (built by ``optimizer.api.analyze``)
# --------------------------------------------------------------------------------------------

CONTEXT_SWEEP_TOKENS = np.geomspace(1024.0, 1024.0**2, 41)
"""Contexts from 1K to 1M tokens for the CF and capacity-wall curves."""


@dataclass(frozen=True, slots=True)
class DeviceView:
    """One accelerator as the analysis sees it.

    ``tp`` is the smallest power-of-two tensor-parallel instance (within the scale-up domain)
    that holds the weights and one request at the decode context (else the largest one that
    holds the weights; 0 when none does): the capacity wall binds there when the batch does not
    fit, and ``tp_for_batch`` says how many devices the batch would need. Batches are per
    instance of ``tp`` devices.
    """

    accelerator: str
    peak_flop_per_s: float  # dense, at the analysis precision
    mem_bw_bytes_per_s: float
    memory_bytes: float  # usable capacity of one device
    tp: int
    tp_for_batch: int  # smallest TP holding the analysis batch at the decode context; 0: none
    max_batch_prefill: float  # at the prefill context (cached + new)
    max_batch_decode: float  # at the decode context
    max_batch_curve: np.ndarray  # over CONTEXT_SWEEP_TOKENS

    @property
    def ridge_flop_per_byte(self) -> float:
        return float(ridge_flop_per_byte(self.peak_flop_per_s, self.mem_bw_bytes_per_s))

    def max_batch(self, phase: Phase) -> float:
        return self.max_batch_prefill if phase is Phase.PREFILL else self.max_batch_decode


@dataclass(frozen=True, slots=True)
class KvCurve:
    """KV bytes of one sequence of one model over CONTEXT_SWEEP_TOKENS."""

    model: str
    attention: str
    max_context_tokens: int  # the model's window; the curve beyond it is hypothetical
    kv_bytes: np.ndarray


@dataclass(frozen=True, slots=True)
class WorkloadView:
    """A workload's representative request on the analysed model, both phases."""

    workload: str
    request: Request
    prefill: PhaseBreakdown
    decode: PhaseBreakdown


def phase_walls(b: PhaseBreakdown, devices: tuple[DeviceView, ...]) -> dict[str, str]:
    """The wall a whole step meets on each device: ``capacity`` when its requests do not fit,
    else the roofline's."""
    walls = {}
    for d in devices:
        if d.max_batch(b.phase) < float(b.sequences):
            walls[d.accelerator] = Bound.CAPACITY.label
        else:
            walls[d.accelerator] = str(roofline_wall(b.oi_flop_per_byte, d.ridge_flop_per_byte))
    return walls


@dataclass(frozen=True, slots=True)
class Analysis:
    """OI/CF of one model and request on a set of accelerators, with the curves to plot."""

    model: str
    attention: str
    workload: str | None
    request: Request
    precision: str
    kv_precision: str
    batch: float
    prefill: PhaseBreakdown
    decode: PhaseBreakdown
    devices: tuple[DeviceView, ...]
    context_tokens: np.ndarray  # the sweep of the curves
    kv_curves: tuple[KvCurve, ...]
    workloads: tuple[WorkloadView, ...]
    notes: tuple[str, ...]
    catalog_fingerprint: str

    @property
    def phases(self) -> tuple[PhaseBreakdown, PhaseBreakdown]:
        return self.prefill, self.decode
