"""Time, traffic and energy of one engine step (docs/model.md §3–4, §9), vectorized.

A step carries ``decode_batch`` sequences that each produce one token over a context of
``decode_context`` tokens, plus ``prefill_tokens`` prompt tokens (a chunk) that each attend over
``prefill_span`` keys on average. Pure prefill has no decode batch; pure decode no chunk.

    t_linear    = a ⊕ b of linear FLOPs / (N·peak·mfu) and weight bytes / (bw·mbu)
                  (a MoE layer's routed-expert FLOPs at mfu · expert instead; the lm_head and
                  any blocks a quantized checkpoint keeps in bf16 at the bf16 peak and 2 bytes)
    t_attention = max(attention FLOPs / (N·peak_a·mfu) ⊕ KV bytes / (bw·mbu), tier bytes / tier_bw)
                  (peak_a: the peak of attention's format, compute_dtype.attention_precision)
    t = (t_linear + t_attention + t_comm) ⊕ layers · launch_per_layer
        + sequences / dp · overhead_per_sequence

where ``a ⊕ b`` is ``max(a, b)`` under the pure roofline (SOL) and ``√(a² + b²)`` in every
calibrated model (``Config.smooth``). Each kind of kernel overlaps its own FLOPs and traffic,
but not perfectly: near its ridge point a kernel reaches neither roof, so the two combine
smoothly (at balance ``√2 ×`` the larger; far from it, the larger). The GEMMs and the attention
run one after the other: at a large batch the GEMMs are compute-bound while attention stays
bound by the KV it reads, and their times add. The host launches a step's kernels ahead of the
device, so launch time shows mostly where the kernels are shorter (small batches, eager
stacks), and in between a host close to the device's pace stalls it now and then (the same
``⊕``); a captured CUDA graph launches a layer far faster. Host time per sequence (scheduling,
sampling) is spent by each attention-data-parallel rank on its own sequences, the ranks side by
side: a step's is its ``1/dp`` share's (TensorRT-LLM and SGLang run one executor per
attention-DP rank, each with its own requests and KV cache).

Board power (§9): P = idle + (TDP − idle) · min(1, busy + compute · d_c + memory · d_m), where
d_c and d_m are the shares of the step the compute and memory terms fill. Above a power cap
the clock drops: the compute term stretches by the dynamic power asked over the dynamic power
allowed, ``(P − idle) / (cap − idle)``, and the device draws the cap. A part whose TDP pays for
less compute power than its family's (an H100 PCIe beside the SXM) cannot hold its spec peak
under GEMM load at all: its compute terms run at a derated clock (:func:`tdp_clock_derate`).

Pipeline parallelism: a *pipelined* step keeps every stage busy with its own micro-batch (steady
decode, batched prefill), so compute and KV traffic divide over all ``tp·pp·dp`` devices; a step
in *series* (one request's prefill) passes the stages one after another, so only ``tp·dp``
devices work at a time. Each stage re-reads its weights for every micro-batch, so a device's
weight traffic per step is ``W / tp`` either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.perf.arithmetic import (
    attention_flops_over_span,
    expected_experts_touched,
    kv_elements_per_sequence,
    prefill_kv_elements,
    weight_bytes,
)
from optimizer.perf.bound import Bound
from optimizer.perf.capacity import expert_shards, kv_shards
from optimizer.perf.config import Config
from optimizer.perf.efficiency import Phase
from optimizer.perf.shape import ModelShape

TP_ALL_REDUCES_PER_LAYER = 2  # after attention and after the FFN (Megatron-LM)
HIDDEN_STATE_BYTES = 2.0  # the residual stream between layers stays in bf16 whatever the GEMMs


@dataclass(frozen=True, slots=True)
class StepCost:
    """One step's terms (seconds, per instance) and traffic (per instance), arrays."""

    linear_compute_s: np.ndarray  # the linear layers' (GEMM) FLOPs
    attention_compute_s: np.ndarray  # the attention kernels' FLOPs
    weight_memory_s: np.ndarray  # the weights read (and, MoE, the experts touched)
    kv_memory_s: np.ndarray  # the KV cache read and written
    tier_s: np.ndarray
    comm_s: np.ndarray
    launch_s: np.ndarray  # host time launching the step's kernels, overlapped with them
    fixed_s: np.ndarray  # host time per sequence (scheduling, sampling), not overlapped
    flops: np.ndarray
    hbm_bytes: np.ndarray
    weight_bytes: np.ndarray  # of hbm_bytes, per device
    kv_bytes: np.ndarray  # of hbm_bytes, per device
    link_bytes: np.ndarray
    tier_bytes: np.ndarray
    device_power_w: np.ndarray  # board power of each device over the step
    tier_energy_j: np.ndarray  # spent in the memory tier, outside the devices
    throttle: np.ndarray  # compute-term stretch of a capped device, 1 when within its cap
    bubble: np.ndarray  # pipeline stretch factor, 1 without PP
    devices: np.ndarray
    smooth: np.ndarray  # Config.smooth: how overlapped times combine

    @property
    def compute_s(self) -> np.ndarray:
        return self.linear_compute_s + self.attention_compute_s

    @property
    def memory_s(self) -> np.ndarray:
        return self.weight_memory_s + self.kv_memory_s

    @property
    def time_s(self) -> np.ndarray:
        kernels = (self.linear_compute_s, self.attention_compute_s, self.weight_memory_s,
                   self.kv_memory_s, self.tier_s, self.comm_s)  # fmt: skip
        device_s = _device_time(*kernels, self.smooth)
        return _step_time(device_s, self.launch_s, self.fixed_s, self.bubble, self.smooth)

    @property
    def energy_j(self) -> np.ndarray:
        """Of the instance's devices and its tier traffic, over the step."""
        return self.device_power_w * self.devices * self.time_s + self.tier_energy_j

    @property
    def power_w(self) -> np.ndarray:
        return self.energy_j / self.time_s

    def wall(self) -> np.ndarray:
        """Which term is largest, as ``Bound`` codes: compute, bandwidth (HBM or tier) or
        interconnect."""
        bandwidth = np.maximum(self.memory_s, self.tier_s)
        return np.where(
            self.comm_s > np.maximum(self.compute_s, bandwidth),
            Bound.INTERCONNECT,
            np.where(self.compute_s >= bandwidth, Bound.COMPUTE, Bound.BANDWIDTH),
        )


def step_cost(
    s: ModelShape,
    c: Config,
    *,
    decode_batch=0.0,
    decode_context=0.0,
    prefill_tokens=0.0,
    prefill_span=0.0,
    prefill_requests=0.0,
    phase: Phase,
    pipelined: bool = True,
    spill_frac=0.0,
) -> StepCost:
    """Cost of one step on the instances ``c``; ``spill_frac`` of the decode KV lives in the
    attached tier and is streamed from it. Prompt FLOPs run at the prefill compute efficiency,
    decode FLOPs at the decode one (different GEMM shapes); ``phase`` picks the memory
    efficiency and overheads."""
    batch = np.asarray(decode_batch, dtype=np.float64)
    context = np.asarray(decode_context, dtype=np.float64)
    chunk = np.asarray(prefill_tokens, dtype=np.float64)
    span = np.asarray(prefill_span, dtype=np.float64)
    tokens = batch + chunk
    stages_parallel = c.pp if pipelined else 1.0
    working = c.tp * c.dp * stages_parallel

    decode_attention = attention_flops_over_span(s, batch, context, decode=True)
    decode_flops = s.linear_flops_per_token * batch + decode_attention
    requests = np.asarray(prefill_requests, dtype=np.float64)
    prefill_attention = attention_flops_over_span(s, chunk, span, decode=False)
    prefill_flops = (
        (s.linear_flops_per_token - s.lm_head_flops_per_token) * chunk
        + s.lm_head_flops_per_token * requests  # logits of each prompt's last token only
        + prefill_attention
    )
    flops = decode_flops + prefill_flops
    # a pipelined step with decode tokens keeps min(B, pp) micro-batches in flight (the engines'
    # PP executors schedule one per stage); a stage reads its weights once per micro-batch
    micro = np.where(pipelined & (batch > 0), np.clip(batch, 1.0, c.pp), c.pp)
    # weights: dense share over TP; routed experts touched by this step's tokens over their shards
    expert_tokens = np.where(c.ep > 1, tokens, tokens / c.dp)
    touched = s.n_moe_layers * expected_experts_touched(s, expert_tokens) * s.expert_params
    dense_bytes = weight_bytes(s.dense_read_params, s.bf16_read_params, c.weight_bytes)
    weights_dev = (
        (dense_bytes / c.tp + touched * c.weight_bytes / expert_shards(c.tp, c.ep))
        * micro / c.pp
    )  # fmt: skip
    # KV: decode reads each sequence's cache; prefill writes its tokens and reads the cache once
    # per query tile; split over KV shards, DP ranks and (pipelined) stages
    kv_split = kv_shards(s, c.tp) * c.dp * stages_parallel
    decode_kv = batch * kv_elements_per_sequence(s, context) * c.kv_bytes
    prefill_kv = prefill_kv_elements(s, chunk, span) * c.kv_bytes
    spill = np.asarray(spill_frac, dtype=np.float64)
    kv_dev = (decode_kv * (1.0 - spill) + prefill_kv) / kv_split
    # a device streams the spilled KV it attends over from the tier over its own link: a KV
    # copy replicated on several ranks (MLA's latent, KV heads fewer than TP) is read once per
    # rank, not shared out between them
    tier_dev = decode_kv * spill / kv_split

    # attention-DP ranks each take whole prompts: fewer prompts than ranks leave ranks idle
    prompt_ranks = np.minimum(c.dp, np.maximum(requests, 1.0))
    spread = c.dp / prompt_ranks

    derate = tdp_clock_derate(c)

    def seconds(decode, prefill, peak):
        """Of ``decode`` and ``prefill`` FLOPs at ``peak`` per device, each at its phase's
        compute efficiency."""
        return (decode / c.decode_compute_eff + prefill / c.prefill_compute_eff
                * spread) * derate / (working * peak)  # fmt: skip

    attention_s = seconds(decode_attention, prefill_attention, c.attention_peak_flop_per_s)
    # the routed experts' linear FLOPs run at the expert factor of the dense rate: each costs
    # 1/expert of a dense one, so they add (1/expert − 1) of themselves
    expert_flops = s.linear_expert_flops_per_token
    extra_decode = expert_flops * batch * (1.0 / c.decode_expert_eff - 1.0)
    extra_prefill = expert_flops * chunk * (1.0 / c.prefill_expert_eff - 1.0)
    # the lm_head and any blocks a quantized checkpoint keeps in bf16 multiply at bf16's peak
    bf16_decode = (s.lm_head_flops_per_token + s.kept_flops_per_token) * batch
    bf16_prefill = s.lm_head_flops_per_token * requests + s.kept_flops_per_token * chunk
    linear_s = seconds(decode_flops - decode_attention + extra_decode - bf16_decode,
                       prefill_flops - prefill_attention + extra_prefill - bf16_prefill,
                       c.peak_flop_per_s)  # fmt: skip
    linear_s = linear_s + seconds(bf16_decode, bf16_prefill, c.bf16_peak_flop_per_s)
    bandwidth = c.mem_bw_bytes_per_s * c.factor("memory_eff", phase)
    weight_s, kv_s = weights_dev / bandwidth, kv_dev / bandwidth
    with np.errstate(divide="ignore", invalid="ignore"):
        tier_s = np.where(tier_dev > 0, tier_dev * c.devices / c.tier_bw_bytes_per_s, 0.0)

    comm_s, link_bytes = _communication(s, c, tokens, phase, stages_parallel)
    sequences = batch + requests
    launch_s = s.n_layers * _launch_per_layer_s(c, batch, chunk, requests, phase)
    # each attention-DP rank schedules and samples its own sequences in its own process, side
    # by side with the others: host time per step is its share's, not the instance's
    fixed_s = sequences / c.dp * c.factor("overhead_s_per_sequence", phase)

    devices = c.devices
    hbm_bytes = (weights_dev + kv_dev) * devices * stages_parallel / c.pp
    tier_bytes = tier_dev * devices * stages_parallel / c.pp
    # a micro-batch's next token waits for its last one to leave the last stage: with m ≥ pp
    # micro-batches every stage stays busy; with fewer, a stage idles pp − m of every pp turns
    bubble = c.pp / micro
    terms = (linear_s, attention_s, weight_s, kv_s, tier_s, comm_s)
    power_w, throttle = _board_power(c, terms, launch_s, fixed_s, bubble)
    shape = np.shape(power_w)
    return StepCost(
        linear_compute_s=np.broadcast_to(linear_s * throttle, shape),
        attention_compute_s=np.broadcast_to(attention_s * throttle, shape),
        weight_memory_s=np.broadcast_to(weight_s, shape),
        kv_memory_s=np.broadcast_to(kv_s, shape),
        tier_s=tier_s,
        comm_s=comm_s,
        launch_s=np.broadcast_to(launch_s, np.shape(power_w)),
        fixed_s=np.broadcast_to(fixed_s, np.shape(power_w)),
        flops=flops,
        hbm_bytes=hbm_bytes,
        weight_bytes=np.broadcast_to(weights_dev, np.shape(power_w)),
        kv_bytes=kv_dev,
        link_bytes=link_bytes,
        tier_bytes=tier_bytes,
        device_power_w=power_w,
        tier_energy_j=tier_bytes * c.tier_energy_j_per_byte,
        throttle=throttle,
        bubble=np.broadcast_to(bubble, np.shape(power_w)),
        devices=devices,
        smooth=c.smooth,
    )


def overlapped(a, b, smooth) -> np.ndarray:
    """Two times that overlap: the longer under the sharp roofline (``smooth`` 0), their
    quadrature sum under the calibrated model's smooth one (``smooth`` 1). ``√(a² + b²)``
    is the 2-norm of the pair: the larger alone far from balance, ``√2 ×`` it at balance,
    where a kernel's loads and math (or a host's launches and the device's kernels) wait on
    each other most (docs/model.md §4)."""
    smooth = np.asarray(smooth)
    if smooth.all():  # a grid of one mode (always, in practice): one of the two forms alone
        return np.sqrt(a * a + b * b)  # np.hypot guards an overflow seconds never reach, 9× slower
    if not smooth.any():
        return np.maximum(a, b)
    return np.where(smooth > 0, np.sqrt(a * a + b * b), np.maximum(a, b))


def _device_time(linear_s, attention_s, weight_s, kv_s, tier_s, comm_s, smooth):
    """The device's time: the linear layers' kernels (their FLOPs overlap their weight
    traffic), then the attention kernels (their FLOPs overlap their KV traffic; the tier's
    stream, over its own link, runs beside them), then the collectives. Kernels of the two
    kinds run one after the other, so a large batch's compute-bound GEMMs do not hide its
    memory-bound attention."""
    linear = overlapped(linear_s, weight_s, smooth)
    attention = np.maximum(overlapped(attention_s, kv_s, smooth), tier_s)
    return linear + attention + comm_s


def _step_time(device_s, launch_s, fixed_s, bubble, smooth):
    """The step: the host launches kernels ahead of the device (the two overlap), and
    per-sequence host work adds; a pipeline stretches it by its bubble."""
    return (overlapped(device_s, launch_s, smooth) + fixed_s) * bubble


def _launch_per_layer_s(c: Config, batch, chunk, requests, phase: Phase) -> np.ndarray:
    """Host time to launch one layer's kernels: a decode step of at most the engine's
    ``graph_max_batch`` sequences per attention-DP rank replays a captured CUDA graph; a step
    that carries a prompt chunk runs eagerly, unless the engine captures steps by their token
    count (``graph_mixed_steps``: vLLM V1's piecewise graphs) and it has at most that many
    tokens. An aggregated step carries a chunk in a share ``min(1, r)`` of steps (``r``
    prompts started per step), so those steps hold its ``chunk / min(1, r)`` prompt tokens."""
    graph = c.factor("graph_overhead_s_per_layer", phase)
    eager = c.factor("overhead_s_per_layer", phase)
    share = np.minimum(1.0, requests)
    plain = np.where((batch > 0) & (batch / c.dp <= c.graph_max_batch), graph, eager)
    with np.errstate(divide="ignore", invalid="ignore"):
        carrying = (batch + np.where(share > 0, chunk / share, 0.0)) / c.dp
    captured = (c.graph_mixed_steps > 0) & (carrying > 0) & (carrying <= c.graph_max_batch)
    return plain + (np.where(captured, graph, eager) - plain) * share


def tdp_clock_derate(c: Config) -> np.ndarray:
    """How much slower than its spec peak a part whose TDP buys less compute power than its
    family's (``compute_power_scale`` k > 1, :mod:`catalog.power_density`: an H100 PCIe or NVL
    beside the SXM) runs its tensor cores: at that peak, under a full GEMM load, its compute
    asks ``busy + compute·k`` of its dynamic range where its family's sizing gives
    ``max(1, busy + compute)``, and its clock drops by the ratio (dynamic power ∝ clock, as
    under a cap). 1 where k = 1. A constant per part, so a step's throughput never falls as
    its batch grows (a duty-weighted ratio rose with the batch faster than the fixed terms
    amortized)."""
    sized = np.maximum(1.0, c.power_busy + c.power_compute)
    return np.maximum(1.0, (c.power_busy + c.power_compute * c.compute_power_scale) / sized)


def _board_power(c: Config, terms: tuple, launch_s, fixed_s, bubble):
    """(W per device, compute stretch): the power model of the module docstring. The duties
    are the compute and memory terms over the whole step (bubble and serial terms included);
    a capped device runs its compute term ``(P − idle) / (cap − idle)`` times slower, which
    lowers the duties again, so its draw is taken as the cap (one pass, not iterated)."""
    linear_s, attention_s, weight_s, kv_s, _, _ = terms
    compute_s, memory_s = linear_s + attention_s, weight_s + kv_s
    time_s = _step_time(_device_time(*terms, c.smooth), launch_s, fixed_s, bubble, c.smooth)
    with np.errstate(divide="ignore", invalid="ignore"):
        duty_c = np.where(time_s > 0, compute_s / time_s, 0.0)
        duty_m = np.where(time_s > 0, memory_s / time_s, 0.0)
    share = np.minimum(1.0, c.power_busy + c.power_compute * duty_c + c.power_memory * duty_m)
    asked = c.idle_w + (c.tdp_w - c.idle_w) * share
    throttle = np.maximum(1.0, (asked - c.idle_w) / (c.power_cap_w - c.idle_w))
    return np.minimum(asked, c.power_cap_w), throttle


def all_reduce_s(c: Config, size_bytes, bw_bytes_per_s, hop_s) -> np.ndarray:
    """Seconds of one all-reduce of ``size_bytes`` over ``n = tp`` ranks by the fastest of the
    engine's algorithms (docs/model.md §4): ring ``2(n−1)/n · size / bw + 2(n−1)`` hops;
    two-shot (reduce-scatter, all-gather) the same traffic in 2 hops; one-shot (each rank reads
    its n−1 peers' whole buffers) ``(n−1) · size / bw`` in 1 hop. Two- and one-shot need every
    pair of ranks linked directly: the config allows them only inside a scale-up domain."""
    n = c.tp
    ring_bytes = 2.0 * (n - 1.0) / n * size_bytes
    options = np.stack(
        np.broadcast_arrays(
            np.where(c.ring > 0, ring_bytes / bw_bytes_per_s + 2.0 * (n - 1.0) * hop_s, np.inf),
            np.where(c.two_shot > 0, ring_bytes / bw_bytes_per_s + 2.0 * hop_s, np.inf),
            np.where(c.one_shot > 0, (n - 1.0) * size_bytes / bw_bytes_per_s + hop_s, np.inf),
        )
    )
    return options.min(axis=0)


def _communication(s: ModelShape, c: Config, tokens, phase: Phase, stages_parallel):
    """(seconds, bytes over links per instance) of TP all-reduces, EP all-to-alls and PP
    hand-offs in one step.

    TP: two all-reduces per layer of ``tokens/dp · d · b_a`` bytes, each by the fastest
    algorithm the engine has (:func:`all_reduce_s`). EP: a dispatch and a combine per MoE
    layer. Gathered (the engines' default, :class:`MoeExchange`): each device receives the
    other attention-DP ranks' ``(dp−1)/dp`` share of all ``tokens · d`` inputs at ``b_a`` and
    reduce-scatters as much of the outputs in the hidden state's 16 bits; without attention DP
    nothing moves beyond the TP all-reduces. All-to-all: each device exchanges ``(ep−1)/ep``
    of its ``tokens · k / ep`` expert inputs. PP: each stage hands its micro-batches'
    activations to the next. Link bytes count the ring's traffic.
    """
    scale = c.factor("hop_latency_scale", phase)
    link_eff = c.factor("link_eff", phase)
    series = c.pp / stages_parallel  # stages one after another multiply the per-device time
    act = tokens / c.dp * s.hidden * c.act_bytes
    ring = 2.0 * (c.tp - 1.0) / c.tp
    tp_layer_bytes = TP_ALL_REDUCES_PER_LAYER * ring * act
    tp_bytes_dev = tp_layer_bytes * s.n_layers / c.pp
    one = all_reduce_s(c, act, c.tp_bw_bytes_per_s * link_eff, c.tp_latency_s * scale)
    tp_s = np.where(c.tp > 1, TP_ALL_REDUCES_PER_LAYER * s.n_layers / c.pp * series * one, 0.0)
    k = max(s.n_active_experts, 1)
    a2a_dev = 2.0 * tokens * k * s.hidden * c.act_bytes / c.ep * (c.ep - 1.0) / c.ep
    gather_dev = tokens * s.hidden * (c.act_bytes + HIDDEN_STATE_BYTES) * (c.dp - 1.0) / c.dp
    a2a_bytes_dev = np.where(c.moe_gather > 0, gather_dev, a2a_dev) * s.n_moe_layers / c.pp
    ep_s = np.where(
        (c.ep > 1) & (a2a_bytes_dev > 0),
        a2a_bytes_dev * series / (c.ep_bw_bytes_per_s * link_eff)
        + 2.0 * s.n_moe_layers * c.ep_latency_s * scale,
        0.0,
    )
    pp_bytes = act * (c.pp - 1.0)
    pp_s = np.where(
        c.pp > 1,
        pp_bytes / (c.pp_bw_bytes_per_s * link_eff) + c.pp * c.pp_latency_s * scale,
        0.0,
    )
    link_bytes = (tp_bytes_dev + a2a_bytes_dev) * c.devices + pp_bytes * c.dp
    return tp_s + ep_s + pp_s, link_bytes
