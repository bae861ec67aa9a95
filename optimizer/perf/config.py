"""One serving instance as arrays: device peaks, links, precisions, tier and efficiency factors.

:class:`Config` holds every per-configuration number the step model needs, each a float64 array
(or scalar) so that a grid of configurations evaluates in one NumPy pass. :func:`build_config`
fills one from catalog entries; :func:`stack_configs` joins many into one grid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Protocol

import numpy as np

from optimizer.catalog.engine_spec import Collective, Engine, MoeExchange
from optimizer.catalog.hardware import Accelerator, Attachment, Interconnect, LinkScope, MemoryTier
from optimizer.catalog.host import idle_power_w
from optimizer.catalog.power_density import compute_power_scale
from optimizer.catalog.precision import Precision
from optimizer.catalog.units import BITS_PER_BYTE, GIGA, MICRO, NANO, PICO, TERA
from optimizer.errors import HetplanError
from optimizer.perf.compute_dtype import attention_precision, compute_peak
from optimizer.perf.efficiency import FACTORS, POWER_SHARES, Efficiency, Phase


@dataclass(frozen=True, slots=True)
class EngineProfile:
    """What a serving engine decides about every step (docs/model.md §4; the catalog's
    ``[[engine]]`` entries): at most ``max_batch`` sequences and ``max_tokens_per_step``
    tokens, ``memory_fraction`` of device memory for weights and KV (the rest is the runtime
    reserve: CUDA context, activations, fragmentation), pure-decode steps of at most
    ``graph_max_batch`` sequences replayed as CUDA graphs, the all-reduce algorithms it
    chooses from, and the share of each request's output whose KV it reserves on admission
    (``kv_reserved_output_share``, which sets the capacity wall: :func:`perf.serving.
    admitted_context`), and how expert-parallel MoE layers exchange tokens."""

    max_batch: int = 2048
    max_tokens_per_step: int = 8192
    memory_fraction: float = 0.9
    graph_max_batch: int = 0
    collectives: tuple[Collective, ...] = (Collective.RING,)
    kv_reserved_output_share: float = 0.0
    moe_exchange: MoeExchange = MoeExchange.GATHER
    graph_mixed_steps: bool = False

    @classmethod
    def of(cls, engine: Engine) -> EngineProfile:
        return cls(engine.max_batch, engine.max_tokens_per_step, engine.memory_fraction,
                   engine.graph_max_batch, engine.collectives,
                   engine.kv_reserved_output_share, engine.moe_exchange,
                   engine.graph_mixed_steps)  # fmt: skip


GENERIC_ENGINE = EngineProfile()
"""Without a named engine: TensorRT-LLM's scheduler limits (``max_batch_size`` 2048,
``max_num_tokens`` 8192), the 0.9 memory share vLLM and TensorRT-LLM both default to, eager
steps, NCCL's ring, KV allocated as tokens come (a sequence holds its mean context: the
capacity footprint of docs/model.md §5) and MoE tokens gathered across attention-DP ranks (what
TensorRT-LLM, vLLM and SGLang do by default)."""


class ConfigError(HetplanError):
    """A configuration the hardware cannot host (missing link, tier out of reach...)."""


@dataclass(frozen=True, slots=True)
class Config:
    """Per-configuration numbers; every field broadcasts against the others."""

    tp: np.ndarray
    pp: np.ndarray
    dp: np.ndarray
    ep: np.ndarray
    weight_bytes: np.ndarray  # per element
    kv_bytes: np.ndarray
    act_bytes: np.ndarray
    peak_flop_per_s: np.ndarray  # dense peak of the compute dtype
    attention_peak_flop_per_s: np.ndarray  # dense peak attention's matmuls run at
    bf16_peak_flop_per_s: np.ndarray  # kept-bf16 weights multiply at (the weights' own if wider)
    mem_bw_bytes_per_s: np.ndarray
    mem_usable_bytes: np.ndarray
    tdp_w: np.ndarray
    idle_w: np.ndarray
    power_cap_w: np.ndarray  # the most a device may draw (its TDP unless capped lower)
    compute_power_scale: np.ndarray  # its GEMMs' power at peak clock over its TDP's budget, ≥ 1
    tp_bw_bytes_per_s: np.ndarray
    tp_latency_s: np.ndarray
    ep_bw_bytes_per_s: np.ndarray
    ep_latency_s: np.ndarray
    pp_bw_bytes_per_s: np.ndarray
    pp_latency_s: np.ndarray
    xfer_bw_bytes_per_s: np.ndarray  # KV hand-off to another instance, all devices' scale-out
    xfer_latency_s: np.ndarray
    tier_bytes: np.ndarray  # per instance; 0 without a tier
    tier_bw_bytes_per_s: np.ndarray  # per instance
    tier_latency_s: np.ndarray
    tier_energy_j_per_byte: np.ndarray
    prefill_compute_eff: np.ndarray
    prefill_memory_eff: np.ndarray
    prefill_expert_eff: np.ndarray
    prefill_overhead_s_per_layer: np.ndarray
    prefill_hop_latency_scale: np.ndarray
    prefill_overhead_s_per_sequence: np.ndarray
    prefill_link_eff: np.ndarray
    decode_compute_eff: np.ndarray
    decode_memory_eff: np.ndarray
    decode_expert_eff: np.ndarray
    decode_overhead_s_per_layer: np.ndarray
    decode_hop_latency_scale: np.ndarray
    decode_overhead_s_per_sequence: np.ndarray
    decode_link_eff: np.ndarray
    prefill_graph_overhead_s_per_layer: np.ndarray
    decode_graph_overhead_s_per_layer: np.ndarray
    max_batch: np.ndarray  # EngineProfile
    max_tokens_per_step: np.ndarray
    memory_fraction: np.ndarray
    graph_max_batch: np.ndarray
    graph_mixed_steps: np.ndarray  # 1 where steps with a prompt chunk replay graphs too
    kv_reserved_output_share: np.ndarray
    one_shot: np.ndarray  # 1 where the engine may use the algorithm, else 0
    two_shot: np.ndarray
    ring: np.ndarray
    moe_gather: np.ndarray  # 1 where EP layers gather tokens, 0 where they go all-to-all
    power_busy: np.ndarray  # PowerShares, docs/model.md §9
    power_compute: np.ndarray
    power_memory: np.ndarray
    smooth: np.ndarray  # 1: overlapped times add in quadrature (calibrated); 0: their max (SOL)

    @property
    def devices(self) -> np.ndarray:
        """Accelerators in one instance: ``tp · pp · dp``."""
        return self.tp * self.pp * self.dp

    def factor(self, name: str, phase: Phase) -> np.ndarray:
        """The efficiency field ``name`` (a ``Factor.config_suffix``) of ``phase``."""
        return getattr(self, f"{phase.value}_{name}")

    def tiled(self, times: int) -> Config:
        """The grid repeated ``times`` times end to end, to serve several requests in one
        evaluation (a stacked grid's fields are 1-D)."""
        return Config(**{f.name: np.tile(getattr(self, f.name), times) for f in fields(self)})

    def reshape(self, shape: tuple[int, ...]) -> Config:
        """Every field as an array of ``shape`` (for broadcasting against batch grids)."""
        return Config(**{f.name: np.reshape(getattr(self, f.name), shape) for f in fields(self)})


def efficiency_fields(efficiency: Efficiency) -> dict[str, np.float64]:
    """The Config fields that hold ``efficiency`` (its power shares too), for building or
    swapping them."""
    factors = {
        f"{phase.value}_{f.config_suffix}": np.float64(
            getattr(efficiency.phase(phase), f.name) * f.to_si
        )
        for phase in Phase
        for f in FACTORS
    }
    power = {f"power_{n}": np.float64(getattr(efficiency.power, n)) for n in POWER_SHARES}
    return factors | power | {"smooth": np.float64(efficiency.smooth)}


def stack_configs(configs: list[Config]) -> Config:
    """Many single configurations as one grid (1-D arrays, one entry per configuration)."""
    names = [f.name for f in fields(Config)]
    table = np.array([[getattr(c, name) for name in names] for c in configs], np.float64)
    columns = np.ascontiguousarray(table.T)  # one row per field, each contiguous
    return Config(**dict(zip(names, columns, strict=True)))


@dataclass(frozen=True, slots=True)
class TierChoice:
    """A memory tier attached to an instance, and how much of it."""

    tier: MemoryTier
    gb: float


class Parts(Protocol):
    """The entries an accelerator names by id (its links and memory type), and the ones its
    defaults come from (the median idle power of the accelerators); a catalog is one.

    The model resolves only these references of the accelerator it is given: the ids a user
    asks for are looked up by the use case (``optimizer.api``).
    """

    @property
    def interconnects(self) -> Mapping[str, Interconnect]: ...

    @property
    def memory(self) -> Mapping[str, MemoryTier]: ...

    @property
    def accelerators(self) -> Mapping[str, Accelerator]: ...


def _link(catalog: Parts, link_id: str | None) -> Interconnect | None:
    return catalog.interconnects.get(link_id) if link_id else None


def device_link(
    catalog: Parts, acc: Accelerator, role: str
) -> tuple[float, Interconnect] | tuple[None, None]:
    """(per-direction GB/s, link) one device of ``acc`` has in ``role`` (``scale_up``,
    ``scale_out`` or ``host``): the device's own figure wins over the generic link entry. The
    role matters because one link id may serve two roles at different rates (Gaudi's RoCE)."""
    link = _link(catalog, getattr(acc, f"{role}_link"))
    if link is None:
        return None, None
    own = getattr(acc, f"{role}_bandwidth_gb_per_s_per_direction")
    return own or link.bandwidth_gb_per_s_per_direction, link


def group_link(catalog: Parts, acc: Accelerator, group: int) -> tuple[float, Interconnect]:
    """(bandwidth bytes/s per direction, link) a collective over ``group`` devices runs on:
    the scale-up link inside its domain, else PCIe between the cards of one server, else
    scale-out."""
    if group <= acc.scale_up_domain and acc.scale_up_link:
        gb, link = device_link(catalog, acc, "scale_up")
        return gb * GIGA, link
    gb, host = device_link(catalog, acc, "host")
    if host is not None and host.scope is LinkScope.HOST and group <= host.max_domain:
        return gb * GIGA, host
    gb, out = device_link(catalog, acc, "scale_out")
    if out is None:
        raise ConfigError(
            f"{acc.id}: a group of {group} devices exceeds its scale-up domain "
            f"({acc.scale_up_domain}) and it lists no scale_out_link"
        )
    return gb * GIGA, out


def _tier_arrays(catalog: Parts, acc: Accelerator, tier: TierChoice | None, devices: int):
    """(bytes, instance bandwidth, latency, energy per byte) of an attached tier.

    Each device reaches the tier over its link; the units share their bandwidth: a pooled
    unit serving up to ``max_devices_per_unit`` devices gives each at most its fair share,
    a host's own units (the whole ones its GB fill) give the instance their sum."""
    if tier is None or tier.gb <= 0:
        return 0.0, 0.0, 0.0, 0.0
    t = tier.tier
    link = _link(catalog, t.link)
    energy = t.energy_pj_per_bit
    latency_s = t.latency_ns * NANO
    link_gb_per_s = np.inf
    if link is not None:
        link_gb_per_s = _tier_link_gb_per_s(catalog, acc, t, link)
        energy += link.energy_pj_per_bit
        latency_s += link.latency_us * MICRO
    if t.max_devices_per_unit is not None:
        units_gb_per_s = devices * t.bandwidth_gb_per_s_per_unit / t.max_devices_per_unit
    else:
        units_gb_per_s = (
            np.ceil(tier.gb / t.capacity_gb_per_unit - 1e-9) * t.bandwidth_gb_per_s_per_unit
        )
    return (
        tier.gb * GIGA,
        min(devices * link_gb_per_s, units_gb_per_s) * GIGA,
        latency_s,
        energy * PICO * BITS_PER_BYTE,
    )


def _tier_link_gb_per_s(catalog: Parts, acc: Accelerator, tier: MemoryTier, link: Interconnect):
    """Per-direction GB/s one device reaches ``tier`` at: its own host-link figure when the
    tier sits on that link; a host or expander tier on another link is read through the
    device's host link too, so the slower of the two (a PCIe 4.0 card reads a PCIe 5.0 host's
    DDR5 at Gen4 speed); a pooled appliance over its own fabric link."""
    host_gb_per_s, _ = device_link(catalog, acc, "host")
    if link.id == acc.host_link:
        return host_gb_per_s
    through_host = (
        tier.attach in (Attachment.HOST, Attachment.EXPANDER) and host_gb_per_s is not None
    )
    if through_host:
        return min(host_gb_per_s, link.bandwidth_gb_per_s_per_direction)
    return link.bandwidth_gb_per_s_per_direction


def build_config(
    catalog: Parts,
    acc: Accelerator,
    *,
    tp: int = 1,
    pp: int = 1,
    dp: int = 1,
    ep: int = 1,
    weights: Precision = Precision.BF16,
    kv: Precision | None = None,
    activations: Precision | None = None,
    efficiency: Efficiency,
    tier: TierChoice | None = None,
    power_cap_w: float | None = None,
    engine: EngineProfile = GENERIC_ENGINE,
) -> tuple[Config, list[str]]:
    """One instance of ``acc`` served by ``engine`` as a :class:`Config`, and notes on what
    was assumed; ``power_cap_w`` limits each device's board power (its TDP when None)."""
    notes: list[str] = []
    peak = compute_peak(acc, weights)
    if peak.note:
        notes.append(peak.note)
    act = activations or Precision(peak.dtype)
    kv = kv or weights
    attention_peak = compute_peak(acc, attention_precision(weights, kv))
    kept = max((weights, Precision.BF16), key=lambda p: p.bytes_per_element)
    bf16_peak = compute_peak(acc, kept)
    devices = tp * pp * dp
    bw = acc.memory_bandwidth_tb_per_s * TERA
    idle, idle_note = idle_power_w(catalog, acc)
    if idle_note:
        notes.append(idle_note)
    cap = acc.tdp_w if power_cap_w is None else min(power_cap_w, acc.tdp_w)
    if cap <= idle:
        raise ConfigError(
            f"power cap {power_cap_w:g} W is not above {acc.id}'s idle power ({idle:g} W)"
        )
    tp_bw, tp_link = group_link(catalog, acc, tp) if tp > 1 else (np.inf, None)
    ep_bw, ep_link = group_link(catalog, acc, ep) if ep > 1 else (np.inf, None)
    pp_bw, pp_link = group_link(catalog, acc, devices) if pp > 1 else (np.inf, None)
    xfer_gb_per_s, xfer_link = device_link(catalog, acc, "scale_out")
    if xfer_link is None:
        xfer_gb_per_s, xfer_link = device_link(catalog, acc, "host")
    xfer_bw = xfer_gb_per_s * GIGA * devices if xfer_link else 0.0
    tier_bytes, tier_bw, tier_latency, tier_energy = _tier_arrays(catalog, acc, tier, devices)
    usable_gb = acc.memory_usable_gb or acc.memory_capacity_gb
    config = Config(
        tp=np.float64(tp),
        pp=np.float64(pp),
        dp=np.float64(dp),
        ep=np.float64(ep),
        weight_bytes=np.float64(weights.bytes_per_element),
        kv_bytes=np.float64(kv.bytes_per_element),
        act_bytes=np.float64(act.bytes_per_element),
        peak_flop_per_s=np.float64(peak.flop_per_s),
        attention_peak_flop_per_s=np.float64(attention_peak.flop_per_s),
        bf16_peak_flop_per_s=np.float64(bf16_peak.flop_per_s),
        mem_bw_bytes_per_s=np.float64(bw),
        mem_usable_bytes=np.float64(usable_gb * GIGA),
        tdp_w=np.float64(acc.tdp_w),
        idle_w=np.float64(idle),
        power_cap_w=np.float64(cap),
        compute_power_scale=np.float64(compute_power_scale(catalog, acc)),
        tp_bw_bytes_per_s=np.float64(tp_bw),
        tp_latency_s=np.float64(tp_link.latency_us * MICRO if tp_link else 0.0),
        ep_bw_bytes_per_s=np.float64(ep_bw),
        ep_latency_s=np.float64(ep_link.latency_us * MICRO if ep_link else 0.0),
        pp_bw_bytes_per_s=np.float64(pp_bw),
        pp_latency_s=np.float64(pp_link.latency_us * MICRO if pp_link else 0.0),
        xfer_bw_bytes_per_s=np.float64(xfer_bw),
        xfer_latency_s=np.float64(xfer_link.latency_us * MICRO if xfer_link else 0.0),
        tier_bytes=np.float64(tier_bytes),
        tier_bw_bytes_per_s=np.float64(tier_bw),
        tier_latency_s=np.float64(tier_latency),
        tier_energy_j_per_byte=np.float64(tier_energy),
        **efficiency_fields(efficiency),
        **engine_fields(engine, direct=tp <= 1 or _scale_up(tp_link)),
    )
    return config, notes


def _scale_up(link: Interconnect | None) -> bool:
    return link is not None and link.scope is LinkScope.SCALE_UP


def engine_fields(engine: EngineProfile, *, direct: bool = True) -> dict[str, np.float64]:
    """The Config fields that hold ``engine``'s profile; without ``direct`` links between every
    pair of TP ranks (a scale-up domain) only the ring remains: the engines' one- and two-shot
    kernels need peer access (vLLM turns its custom all-reduce off beyond two PCIe cards)."""
    return {
        "max_batch": np.float64(engine.max_batch),
        "max_tokens_per_step": np.float64(engine.max_tokens_per_step),
        "memory_fraction": np.float64(engine.memory_fraction),
        "graph_max_batch": np.float64(engine.graph_max_batch),
        "graph_mixed_steps": np.float64(engine.graph_mixed_steps),
        "kv_reserved_output_share": np.float64(engine.kv_reserved_output_share),
        "one_shot": np.float64(direct and Collective.ONE_SHOT in engine.collectives),
        "two_shot": np.float64(direct and Collective.TWO_SHOT in engine.collectives),
        "ring": np.float64(Collective.RING in engine.collectives),
        "moe_gather": np.float64(engine.moe_exchange is MoeExchange.GATHER),
    }
