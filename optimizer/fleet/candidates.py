"""Candidate instance types of a model-based problem, rated by the performance model.

Every allowed (model, accelerator, TP, DP, EP, precision, phase, memory tier) becomes a column: its
capability per traffic class at that class's SLOs (``perf.serving.serve`` over the stacked grid
of configurations), its cost per hour and its power (docs/model.md §8–10).

Assumptions, each also said in the solution's ``assumptions``:
- a class is served at its mean turn (``workload.representative_request``);
- targets are met at the class's percentile (``serve``'s ``ttft_q_s``, ``tpot_q_s``): a prefill
  instance with an M/D/1 queue, after the KV hand-off over its own scale-out links (``ttft =
  wait + prefill + transfer``); decoding sequences are negative binomial (``perf.occupancy``),
  so TPOT's percentile is the step at the batch's percentile;
- a decode instance's TTFT share is zero (the prefill pool emits the first token);
- KV spill adds ``tier_gb_per_device`` of a tier to every device; session parking keeps an
  agent's whole history in a tier between turns (Little's law: λ × tool time sessions are
  parked) and reloads it instead of prefilling it; without parking, a prefill or aggregated
  instance keeps the prefix-cache hits of the sessions whose KV fits beside its running batch
  during their tool time and prefills the rest again (``serve``'s ``idle_s``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cache
from itertools import product

import numpy as np

from optimizer.catalog.catalog import Catalog
from optimizer.catalog.choices import Mode, TierUse
from optimizer.catalog.engine_spec import default_engine, runs_on
from optimizer.catalog.hardware import Accelerator, Attachment, LinkScope, MemoryTier
from optimizer.catalog.host import (
    idle_fraction_of_tdp,
    idle_power_w,
    tier_slots_per_device,
)
from optimizer.catalog.precision import Precision
from optimizer.catalog.problem_spec import ProblemSpec
from optimizer.catalog.units import GIGA
from optimizer.errors import HetplanError
from optimizer.fleet.columns import Classes, Columns, PurchaseUnit, TierPool
from optimizer.fleet.pricing import DevicePrice, device_price, tier_usd_per_gb_hour
from optimizer.perf.arithmetic import kv_bytes_per_sequence
from optimizer.perf.bound import NONE_CODE, Bound
from optimizer.perf.capacity import valid_split
from optimizer.perf.compute_dtype import compute_peak
from optimizer.perf.config import (
    ConfigError,
    EngineProfile,
    TierChoice,
    build_config,
    stack_configs,
)
from optimizer.perf.efficiency import SOL, EfficiencyTable
from optimizer.perf.serving import Request, ServePhase, Slo, kv_transfer_s, serve
from optimizer.perf.shape import model_shape
from optimizer.workload.requests import representative_request

REFERENCE_KV = Precision.BF16
"""Class hand-off volumes are counted in bf16 KV bytes; each column's link rate is scaled by
``2 / its KV bytes per element`` so one class volume serves every precision."""


class NoCandidates(HetplanError):
    """The styles admit no instance type at all: the problem cannot be served (exit 1)."""

    exit_code = 1


@dataclass(frozen=True, slots=True)
class Variant:
    """One instance type before rating."""

    model: str
    accelerator: Accelerator
    price: DevicePrice
    tp: int
    dp: int  # attention data-parallel ranks, each with its own sequences and KV
    ep: int
    precision: Precision
    kv_precision: Precision
    phase: ServePhase
    tier: MemoryTier | None = None
    tier_use: TierUse | None = None
    tier_gb_per_device: float = 0.0
    engine: str | None = None  # the serving engine's id; None: the vendor's default

    @property
    def devices(self) -> int:
        """Accelerators in one instance: ``tp · dp`` (candidates have no pipeline stages)."""
        return self.tp * self.dp

    @property
    def split(self) -> str:
        """The parallel split as in the column's name: ``tp1-dp8-ep8``."""
        dp = f"-dp{self.dp}" if self.dp > 1 else ""
        ep = f"-ep{self.ep}" if self.ep > 1 else ""
        return f"tp{self.tp}{dp}{ep}"

    @property
    def name(self) -> str:
        parts = [self.model, self.accelerator.id, self.split]
        parts += [self.precision.value, self.phase.value]
        if self.tier is not None:
            size = f"-{self.tier_gb_per_device:g}gb" if self.tier_use is TierUse.SPILL else ""
            parts.append(f"{self.tier.id}-{self.tier_use.value}{size}")
        return "/".join(parts)


@dataclass(frozen=True)
class ClassTraffic:
    """One ``[[serve]]`` entry made concrete."""

    name: str
    model: str
    workload: str
    request: Request
    requests_per_s: float
    slo: Slo
    park_gb_per_request_rate: float  # bf16 tier GB held per request/s while sessions wait
    idle_s: float = 0.0  # mean tool time a session waits between turns
    park_bytes_per_request: float = 0.0  # bf16 tier traffic of one parked turn: out and back


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    """What a column is, for reports; measured instances leave the model's fields empty."""

    accelerator: str
    phase: str
    devices: int
    model: str | None = None
    tp: int | None = None
    dp: int | None = None
    ep: int | None = None
    precision: str | None = None
    kv_precision: str | None = None
    tier: str | None = None
    tier_use: str | None = None
    tier_gb_per_device: float = 0.0
    price_source: str | None = None
    compute_dtype: str | None = None  # the tensor dtype its math runs at (a fallback differs)
    engine: str | None = None  # the serving engine the model rated it on

    @classmethod
    def of(cls, v: Variant) -> ColumnInfo:
        return cls(
            accelerator=v.accelerator.id,
            phase=v.phase.value,
            devices=v.devices,
            model=v.model,
            tp=v.tp,
            dp=v.dp,
            ep=v.ep,
            precision=v.precision.value,
            kv_precision=v.kv_precision.value,
            tier=v.tier.id if v.tier is not None else None,
            tier_use=v.tier_use.value if v.tier_use is not None else None,
            tier_gb_per_device=v.tier_gb_per_device,
            price_source=v.price.source,
            compute_dtype=compute_peak(v.accelerator, v.precision).dtype,
            engine=v.engine,
        )


@dataclass(frozen=True)
class CandidateTable:
    """Columns plus what the report needs about each: [i] descriptions, [i, k] operating points
    (NaN where the performance model did not produce them, as for measured capabilities)."""

    info: tuple[ColumnInfo, ...]
    columns: Columns
    batch: np.ndarray
    ttft_s: np.ndarray  # at the class's SLO percentile (with the hand-off, parked reload)
    tpot_s: np.ndarray
    ttft_p50_s: np.ndarray
    tpot_p50_s: np.ndarray
    utilization: np.ndarray
    bound: np.ndarray  # Bound codes, NONE_CODE where the model did not rate it
    step_bound: np.ndarray
    hardware_usd_per_hour: np.ndarray
    network_usd_per_hour: np.ndarray

    def subset(self, keep: np.ndarray) -> CandidateTable:
        index = np.flatnonzero(keep)
        return CandidateTable(
            info=tuple(self.info[i] for i in index),
            columns=self.columns.subset(keep),
            **{
                name: getattr(self, name)[index]
                for name in ("batch", "ttft_s", "tpot_s", "ttft_p50_s", "tpot_p50_s",
                             "utilization", "bound", "step_bound", "hardware_usd_per_hour",
                             "network_usd_per_hour")
            },
        )  # fmt: skip

    def walls(self, i: int, k: int | None) -> tuple[str | None, str | None]:
        """The labels of column ``i``'s wall and its step's wall serving class ``k`` (None for
        no class, or where the model did not rate it)."""
        if k is None:
            return None, None
        return _label(self.bound[i, k]), _label(self.step_bound[i, k])


def _label(code) -> str | None:
    bound = Bound.from_code(code)
    return None if bound is None else bound.label


@dataclass(frozen=True)
class BestReach:
    """The best any candidate reaches for one class and phase, for infeasibility messages."""

    value_s: float
    where: str


@dataclass(frozen=True)
class Fleet:
    """Everything the ILP and the report need from the fleet layer."""

    classes: Classes
    traffic: tuple[ClassTraffic, ...]
    table: CandidateTable
    pools: tuple[TierPool, ...]
    notes: tuple[str, ...]
    best_ttft: dict[str, BestReach] = field(default_factory=dict)
    best_tpot: dict[str, BestReach] = field(default_factory=dict)
    generated: int = 0  # columns before pruning
    purchase_units: tuple[PurchaseUnit, ...] = ()  # per accelerator, when bought in systems


def class_traffic(catalog: Catalog, spec: ProblemSpec) -> tuple[ClassTraffic, ...]:
    out = []
    for s in spec.serve:
        w = catalog.get("workloads", s.workload)
        shape = representative_request(w, s.context_tokens)
        model = catalog.get("models", s.model)
        kv_gb = _kv_bytes(model, shape.input_tokens + shape.output_tokens) / GIGA
        out.append(
            ClassTraffic(
                name=s.class_name,
                model=s.model,
                workload=s.workload,
                request=Request.mean_turn(shape),
                requests_per_s=s.rate(w.turns_per_session.mean),
                slo=Slo.from_ms(s.ttft_ms, s.tpot_ms, s.percentile),
                park_gb_per_request_rate=w.tool_time_s.mean * kv_gb,
                idle_s=w.tool_time_s.mean,
                park_bytes_per_request=2.0 * kv_gb * GIGA,
            )
        )
    return tuple(out)


def _beyond_window(catalog: Catalog, traffic) -> list[str]:
    """A note per class whose mean turn is longer than its model's context window: the fleet
    serves requests the model cannot take, rated by extrapolating the model."""
    notes = []
    for t in traffic:
        model = catalog.get("models", t.model)
        beyond = model.window_note(t.request.input_tokens + t.request.output_tokens,
                                   "solved anyway, by extrapolating the model")  # fmt: skip
        if beyond:
            notes.append(f"{t.name}: {beyond}")
    return notes


def _kv_bytes(model, tokens: float) -> float:
    """KV bytes of one sequence, counted at the reference precision."""
    return float(kv_bytes_per_sequence(model, REFERENCE_KV, tokens))


def _accelerators(catalog, spec, economics, notes) -> list[tuple[Accelerator, DevicePrice]]:
    """Allowed, priced accelerators; one without an idle power gets the catalog's median
    idle/TDP ratio (0 W idle would make it look free to keep on in an energy objective)."""
    styles = spec.styles
    ids = styles.accelerators or tuple(catalog.accelerators)
    chosen, unpriced, no_idle = [], [], []
    idle_frac = idle_fraction_of_tdp(catalog)
    for acc_id in ids:
        if acc_id in styles.exclude_accelerators:
            continue
        acc = catalog.get("accelerators", acc_id)
        price = device_price(catalog, acc, spec.objective.pricing, economics)
        if price is None:
            unpriced.append(acc_id)
            continue
        if acc.idle_w is None:
            no_idle.append(acc_id)
            acc = acc.model_copy(update={"idle_w": idle_power_w(catalog, acc)[0]})
        chosen.append((acc, price))
    if no_idle:
        notes.append(
            f"no idle power in the catalog, estimated as the catalog median "
            f"{idle_frac:.1%} of TDP: " + ", ".join(no_idle)
        )
    if unpriced:
        notes.append(
            f"no {spec.objective.pricing.value} price in the catalog, left out: "
            + ", ".join(unpriced)
        )
    return chosen


def _tiers(catalog, spec, economics, notes) -> list[MemoryTier]:
    """The off-package tiers offered, each with its price (``styles.tier_price_usd_per_gb``
    where given, else the catalog's); tiers without one are left out and said."""
    styles = spec.styles
    if not styles.memory_tiers:
        return []
    ids = tuple(catalog.memory) if styles.tiers is None else styles.tiers  # [] = none
    price = styles.tier_price_usd_per_gb
    chosen, unpriced = [], []
    for tier_id in ids:
        tier = catalog.get("memory", tier_id)
        if tier.attach in (Attachment.ON_PACKAGE, Attachment.ON_BOARD):
            continue
        if price is not None:
            tier = tier.model_copy(update={"price_usd_per_gb": price})
        if tier_usd_per_gb_hour(tier, economics) is None:
            unpriced.append(tier_id)
        else:
            chosen.append(tier)
    if unpriced:
        notes.append("memory tiers without a price, left out: " + ", ".join(unpriced))
    if price is not None and chosen:
        notes.append(f"memory tiers priced at {price:g} $/GB (styles.tier_price_usd_per_gb), "
                     "not the catalog's: " + ", ".join(t.id for t in chosen))  # fmt: skip
    return chosen


def _reaches(catalog: Catalog, acc: Accelerator, tier: MemoryTier) -> bool:
    """Host memory is reached over the accelerator's own host link: the tier's link itself
    (NVLink-C2C to Grace's LPDDR5X) or, for a tier on PCIe, any PCIe generation (they
    interoperate, at the slower one's rate: ``perf.config``); expanders through any host link;
    a pooled appliance over its fabric from any accelerator."""
    if tier.attach is Attachment.HOST:
        if acc.host_link == tier.link:
            return acc.host_link is not None
        if acc.host_link is None or tier.link is None:
            return False
        ends = (acc.host_link, tier.link)
        return all(catalog.get("interconnects", i).scope is LinkScope.HOST for i in ends)
    if tier.attach is Attachment.EXPANDER:
        return acc.host_link is not None
    return True


def _variants(catalog, spec, accelerators, tiers, models) -> list[Variant]:
    styles = spec.styles
    precisions = [Precision.parse(p, "styles.precisions") for p in styles.precisions]
    kv_fixed = (
        Precision.parse(styles.kv_precision, "styles.kv_precision")
        if styles.kv_precision
        else None
    )
    phases = []
    if styles.disaggregated:
        phases += [ServePhase.PREFILL, ServePhase.DECODE]
    if styles.aggregated:
        phases.append(ServePhase.AGGREGATED)
    uses = set(styles.tier_uses)
    out = []
    for model_id in models:
        model = catalog.get("models", model_id)
        for (acc, price), precision, tp, dp, ep in product(
            accelerators, precisions, styles.tp, styles.dp, styles.ep
        ):
            if not _split_allowed(model, tp, dp, ep):
                continue
            base = Variant(model_id, acc, price, tp, dp, ep, precision, kv_fixed or precision,
                           ServePhase.PREFILL,
                           engine=_engine_for(catalog, styles.engine, acc))  # fmt: skip
            for phase in phases:
                out.append(replace(base, phase=phase))
                for tier in tiers:
                    slots = tier_slots_per_device(catalog, acc, tier)
                    if not _reaches(catalog, acc, tier) or slots == 0:
                        continue
                    if TierUse.PARK in uses and phase is not ServePhase.DECODE:
                        out.append(replace(base, phase=phase, tier=tier, tier_use=TierUse.PARK,
                                           tier_gb_per_device=0.0))  # fmt: skip
                    if TierUse.SPILL in uses and phase is not ServePhase.PREFILL:
                        for gb in _spill_sizes(acc, tier, styles.tier_gb_per_device, slots):
                            spill = replace(base, phase=phase, tier=tier, tier_use=TierUse.SPILL)
                            out.append(replace(spill, tier_gb_per_device=gb))
    return out


def _split_allowed(model, tp: int, dp: int, ep: int) -> bool:
    """A valid split whose EP ranks fit in the instance's ``tp · dp`` devices. Attention DP
    needs EP > 1: ranks that share no expert pool are separate instances, which the dp = 1
    candidates already are."""
    if ep > tp * dp or (dp > 1 and ep == 1):
        return False
    return bool(valid_split(model, tp, 1, ep))


def _spill_sizes(acc: Accelerator, tier: MemoryTier, given, slots) -> tuple[float, ...]:
    """Tier GB per device to try for KV spill: the problem's list, else one unit of an attached
    tier, or 1× and 4× the device's HBM from a shared pool (whose units are far larger); never
    more than the ``slots`` units per device its server holds (None: no slot limit)."""
    if given:
        sizes = tuple(given)
    elif tier.attach is Attachment.POOLED:
        sizes = (acc.memory_capacity_gb, 4.0 * acc.memory_capacity_gb)
    else:
        sizes = (tier.capacity_gb_per_unit,)
    if slots is None:
        return sizes
    return tuple(gb for gb in sizes if gb <= slots * tier.capacity_gb_per_unit * (1 + 1e-9))


@dataclass
class _Rated:
    """Operating points of a group of variants, [i, k] over the problem's classes."""

    capability: np.ndarray
    batch: np.ndarray
    ttft_s: np.ndarray  # at the class's SLO percentile
    tpot_s: np.ndarray
    ttft_p50_s: np.ndarray
    tpot_p50_s: np.ndarray
    utilization: np.ndarray
    bound: np.ndarray
    step_bound: np.ndarray  # the wall of the step itself (compute, bandwidth, interconnect)
    transfer_bytes_per_s: np.ndarray  # [i] scale-out bandwidth of the whole instance
    tier_bytes_per_s: np.ndarray  # [i] the most tier traffic of any class it serves (spill)
    class_busy_w: np.ndarray  # [i, k] its power serving class k (0 where it cannot)


def _engine_for(catalog, named: str | None, acc: Accelerator) -> str:
    """``styles.engine`` where it runs on ``acc``'s vendor, else the vendor's default."""
    if named is not None and runs_on(catalog.engines[named], acc.vendor):
        return named
    return default_engine(catalog.engines, acc.vendor)


def _config(catalog, factors, v: Variant):
    """``v``'s configuration, its factors from ``factors(family, engine)``."""
    engine_id = v.engine or default_engine(catalog.engines, v.accelerator.vendor)
    efficiency = factors(v.accelerator.family, engine_id)
    tier = None
    if v.tier is not None:  # parking needs the tier's bandwidth, not its size: one unit per
        # device, or the fewer its server holds (a Grace socket serves two GB300s)
        slots = tier_slots_per_device(catalog, v.accelerator, v.tier)
        parked = v.tier.capacity_gb_per_unit * min(1.0, slots if slots is not None else 1.0)
        gb = v.tier_gb_per_device if v.tier_use is TierUse.SPILL else parked
        tier = TierChoice(v.tier, gb * v.devices)
    config, _ = build_config(catalog, v.accelerator, tp=v.tp, dp=v.dp, ep=v.ep,
                             weights=v.precision, kv=v.kv_precision, efficiency=efficiency,
                             tier=tier,
                             engine=EngineProfile.of(catalog.engines[engine_id]))  # fmt: skip
    return config


def _rate_group(shape, config, phase, tier_use, traffic, k_of, n_classes) -> _Rated:
    """Serve every class of this group's model on the stacked ``config`` at the class's SLOs.
    Classes that set the same targets are served in one evaluation, the grid repeated once per
    class: the model is elementwise over configurations, so each class gets the points it
    would alone, for a fraction of the interpreter's overhead."""
    n = np.shape(config.tp)[0]
    nan = lambda: np.full((n, n_classes), np.nan)  # noqa: E731
    unrated = lambda: np.full((n, n_classes), NONE_CODE)  # noqa: E731
    rated = _Rated(np.zeros((n, n_classes)), np.zeros((n, n_classes)), nan(), nan(), nan(),
                   nan(), nan(), unrated(), unrated(),
                   np.broadcast_to(config.xfer_bw_bytes_per_s, (n,)), np.zeros(n),
                   np.zeros((n, n_classes)))  # fmt: skip
    alike: dict[tuple[bool, bool], list[ClassTraffic]] = {}
    for t in traffic:  # serve branches on which targets are set, so those go together
        alike.setdefault((t.slo.ttft_s is None, t.slo.tpot_s is None), []).append(t)
    for same in alike.values():
        request, slo, idle_s = _stacked(same, n)
        point = _serve_within_slo(shape, config.tiled(len(same)), request, phase, tier_use, slo,
                                  idle_s)  # fmt: skip
        ok = point.requests_per_s > 0
        busy_w = np.where(ok, point.step.power_w, 0.0)
        spill = np.where(ok, point.step.tier_bytes / point.step.time_s, 0.0)
        columns = (
            (rated.capability, np.where(ok, point.requests_per_s, 0.0)),
            (rated.batch, point.batch),
            (rated.ttft_s, point.ttft_q_s),
            (rated.tpot_s, point.tpot_q_s),
            (rated.ttft_p50_s, point.ttft_p50_s),
            (rated.tpot_p50_s, point.tpot_p50_s),
            (rated.utilization, point.utilization),
            (rated.bound, point.bound),
            (rated.step_bound, point.step.wall()),
            (rated.class_busy_w, busy_w),
        )
        for j, t in enumerate(same):
            k, at = k_of[t.name], slice(j * n, (j + 1) * n)
            for into, values in columns:
                into[:, k] = np.broadcast_to(values, (len(same) * n,))[at]
            rated.tier_bytes_per_s = np.maximum(rated.tier_bytes_per_s, spill[at])
    return rated


def _stacked(traffic: list[ClassTraffic], n: int) -> tuple[Request, Slo, np.ndarray]:
    """The classes' requests, targets and idle times, each repeated over ``n`` configurations
    (class-major, as ``Config.tiled`` repeats the grid); every class sets the same targets."""

    def each(values) -> np.ndarray:
        return np.repeat(np.asarray(values, dtype=np.float64), n)

    def target(read):
        return None if read(traffic[0].slo) is None else each([read(t.slo) for t in traffic])

    request = Request(*(each([getattr(t.request, f) for t in traffic])
                        for f in ("input_tokens", "output_tokens", "prefix_tokens")))  # fmt: skip
    slo = Slo(ttft_s=target(lambda s: s.ttft_s), tpot_s=target(lambda s: s.tpot_s),
              quantile=each([t.slo.quantile for t in traffic]))  # fmt: skip
    return request, slo, each([t.idle_s for t in traffic])


def _serve_within_slo(shape, config, request, phase, tier_use, slo: Slo, idle_s=None):
    """``serve`` with the TTFT target tightened by what serve leaves out of it: the KV hand-off
    of a prefill instance (serve counts a parked session's reload itself). Its TTFTs include
    both; the targets are met at the SLO's percentile (``ttft_q_s``, ``tpot_q_s``). Without
    parking, a session's prefix-cache hits survive its ``idle_s`` between turns only as far as
    its KV fits beside the running batch (``serve``'s ``idle_s``)."""
    transfer = 0.0
    if phase is ServePhase.PREFILL:
        transfer = kv_transfer_s(shape, config, request.input_tokens)
    if phase is ServePhase.DECODE:
        slo = replace(slo, ttft_s=None)
    point = serve(shape, config, request, phase=phase, slo=_tighter(slo, transfer),
                  tier_use=tier_use, idle_s=idle_s)  # fmt: skip
    within = np.ones(np.shape(point.batch), dtype=bool)
    if slo.ttft_s is not None:
        within &= point.ttft_q_s + transfer <= slo.ttft_s * (1 + 1e-9)
    if slo.tpot_s is not None and phase is not ServePhase.PREFILL:
        within &= point.tpot_q_s <= slo.tpot_s * (1 + 1e-9)
    return replace(
        point,
        ttft_s=point.ttft_s + transfer,
        ttft_p50_s=point.ttft_p50_s + transfer,
        ttft_q_s=point.ttft_q_s + transfer,
        requests_per_s=np.where(within, point.requests_per_s, 0.0),
    )


def _tighter(slo: Slo, extra_s) -> Slo:
    if slo.ttft_s is None or np.all(np.asarray(extra_s) == 0):
        return slo
    return replace(slo, ttft_s=np.maximum(slo.ttft_s - extra_s, 0.0))


def build_fleet(
    catalog: Catalog, spec: ProblemSpec, economics, efficiency: EfficiencyTable
) -> Fleet:
    """Every allowed candidate of a model-based problem, rated (with ``efficiency`` unless the
    problem asks for the roofline), priced and ready for the ILP."""
    notes: list[str] = []
    traffic = class_traffic(catalog, spec)
    k_of = {t.name: k for k, t in enumerate(traffic)}
    notes.extend(_beyond_window(catalog, traffic))
    accelerators = _accelerators(catalog, spec, economics, notes)
    named = spec.styles.engine
    if named is not None:
        others = sorted(
            a.id for a, _ in accelerators if not runs_on(catalog.engines[named], a.vendor)
        )
        if others:
            notes.append(f"styles.engine {named} does not run on {', '.join(others)}: served by "
                         "their vendor's default engine")  # fmt: skip
    tiers = _tiers(catalog, spec, economics, notes)
    models = list(dict.fromkeys(t.model for t in traffic))
    variants = _variants(catalog, spec, accelerators, tiers, models)
    mode_sol = spec.styles.mode is Mode.SOL
    pooled = [a.id for a, _ in accelerators if a.family not in efficiency.by_family]
    if pooled and not mode_sol:  # rated by extrapolating factors fitted on other hardware
        notes.append("no efficiency factors fitted for their families, the pooled default's "
                     "used (an extrapolation): " + ", ".join(pooled))  # fmt: skip

    @cache
    def factors(family: str, engine: str):  # a few pairs, each looked up once
        return SOL if mode_sol else efficiency.lookup(family, engine)[0]

    groups: dict[tuple, list[tuple[Variant, object]]] = {}
    configs: dict[tuple, object] = {}  # the phases of an instance share its configuration
    for v in variants:
        same = (v.accelerator.id, v.tp, v.dp, v.ep, v.precision, v.kv_precision, v.engine,
                v.tier and v.tier.id, v.tier_use, v.tier_gb_per_device)  # fmt: skip
        if same not in configs:
            try:
                configs[same] = _config(catalog, factors, v)
            except ConfigError:  # e.g. a TP group beyond the scale-up domain, no scale-out link
                configs[same] = None
        if configs[same] is not None:
            groups.setdefault((v.model, v.phase, v.tier_use), []).append((v, configs[same]))
    if not groups:
        raise NoCandidates(
            "no candidate instance type: no allowed accelerator, TP, DP, EP and precision makes a "
            "valid configuration of the served models" + "".join(f"; {note}" for note in notes)
        )
    kept: list[Variant] = []
    rated: list[_Rated] = []
    best_ttft: dict[str, BestReach] = {}
    best_tpot: dict[str, BestReach] = {}
    for (model_id, phase, tier_use), members in groups.items():
        shape = model_shape(catalog.get("models", model_id))
        config = stack_configs([c for _, c in members])
        own = [t for t in traffic if t.model == model_id]
        rated.append(_rate_group(shape, config, phase, tier_use, own, k_of, len(traffic)))
        kept.extend(v for v, _ in members)
        if tier_use is None:
            _record_best(shape, config, phase, own, [v for v, _ in members], best_ttft, best_tpot)
    table = _table(catalog, kept, rated, traffic, k_of)
    pools = tuple(
        TierPool(
            name=t.id,
            unit_gb=t.capacity_gb_per_unit,
            cost_usd_per_hour_per_unit=tier_usd_per_gb_hour(t, economics) * t.capacity_gb_per_unit,
            unit_bytes_per_s=t.bandwidth_gb_per_s_per_unit * GIGA,
            max_devices_per_unit=t.max_devices_per_unit,
            slot_limited=t.attach in (Attachment.HOST, Attachment.EXPANDER),
        )
        for t in tiers
    )
    classes = Classes(
        names=tuple(t.name for t in traffic),
        requests_per_s=np.array([t.requests_per_s for t in traffic]),
        kv_transfer_bytes=np.array(
            [_kv_bytes(catalog.get("models", t.model), t.request.input_tokens) for t in traffic]
        ),
    )
    units = _purchase_units(spec, accelerators)
    return Fleet(classes, traffic, table, pools, tuple(notes), best_ttft, best_tpot, len(kept),
                 units)  # fmt: skip


def _purchase_units(spec: ProblemSpec, accelerators) -> tuple[PurchaseUnit, ...]:
    """Each accelerator's purchase unit (``DevicePrice.unit_name``), when the problem buys whole
    units (``styles.granularity = "system"``, the default): owned devices in their reference
    system, rented ones in their smallest cloud instance. A unit's devices cost and idle as the
    accelerator's columns do per device."""
    if (spec.styles.granularity or "system") == "device":
        return ()
    return tuple(
        PurchaseUnit(
            price.unit_name,
            acc.id,
            price.unit_devices,
            price.hardware_usd_per_hour + price.network_usd_per_hour,
            (acc.idle_w or 0.0) + price.overhead_w,
        )  # fmt: skip
        for acc, price in accelerators
        if price.unit_devices > 1
    )


def _record_best(shape, config, phase, traffic, variants, best_ttft, best_tpot) -> None:
    """The lowest TTFT (one prompt alone, plus its hand-off) and TPOT (batch 1) any variant of
    this group reaches where the model fits at all."""
    for t in traffic:
        point = serve(shape, config, t.request, phase=ServePhase.DECODE, batch=1)
        fits = point.memory.max_batch >= 1
        if not fits.any():
            continue
        ttft = point.prefill.time_s
        if phase is ServePhase.PREFILL:
            ttft = ttft + point.kv_transfer_s
        for best, values, applies in (
            (best_ttft, ttft, phase is not ServePhase.DECODE),
            (best_tpot, point.tpot_s, phase is not ServePhase.PREFILL),
        ):
            if not applies:
                continue
            values = np.where(fits, values, np.inf)
            i = int(np.argmin(values))
            if t.name not in best or values[i] < best[t.name].value_s:
                v = variants[i]
                where = f"{v.accelerator.id} {v.split} {v.precision.value} {v.phase.value}"
                best[t.name] = BestReach(float(values[i]), where)


def _table(catalog, variants, rated, traffic, k_of) -> CandidateTable:
    cat = lambda name: np.concatenate([getattr(r, name) for r in rated])  # noqa: E731
    capability = cat("capability")
    n = len(variants)
    devices = np.array([v.devices for v in variants], dtype=np.float64)
    hardware = np.array([v.price.hardware_usd_per_hour for v in variants]) * devices
    network = np.array([v.price.network_usd_per_hour for v in variants]) * devices
    overhead = np.array([v.price.overhead_w for v in variants]) * devices
    idle = np.array([v.accelerator.idle_w or 0.0 for v in variants]) * devices + overhead
    class_busy = np.maximum(cat("class_busy_w") + overhead[:, None], idle[:, None])
    busy = class_busy.max(axis=1, initial=0.0)  # the provisioned peak: the hungriest class
    kv_scale = REFERENCE_KV.bytes_per_element / np.array(
        [v.kv_precision.bytes_per_element for v in variants]
    )
    one_phase = np.array([v.phase is not ServePhase.AGGREGATED for v in variants])
    transfer = np.where(one_phase, cat("transfer_bytes_per_s") * kv_scale, np.inf)
    park = np.zeros((n, len(traffic)))
    park_bytes = np.zeros((n, len(traffic)))
    for i, v in enumerate(variants):
        if v.tier_use is TierUse.PARK:  # parked KV at the precision this column keeps it in
            for t in traffic:
                k = k_of[t.name]
                serves = capability[i, k] > 0
                park[i, k] = t.park_gb_per_request_rate / kv_scale[i] * serves
                park_bytes[i, k] = t.park_bytes_per_request / kv_scale[i] * serves
    hosted = np.array(
        [
            np.inf if v.tier is None else (tier_slots_per_device(catalog, v.accelerator, v.tier)
                                           or np.inf)
            for v in variants
        ]
    ) * devices  # fmt: skip
    columns = Columns(
        names=tuple(v.name for v in variants),
        prefill=np.array([v.phase is not ServePhase.DECODE for v in variants]),
        decode=np.array([v.phase is not ServePhase.PREFILL for v in variants]),
        capability=capability,
        cost_usd_per_hour=hardware + network,
        idle_w=idle,
        busy_w=busy,
        devices=devices,
        group=tuple(v.accelerator.id for v in variants),
        transfer_bytes_per_s=transfer,
        tier=tuple(v.tier.id if v.tier is not None else None for v in variants),
        tier_gb=np.array([v.tier_gb_per_device for v in variants]) * devices,
        tier_gb_per_request_rate=park,
        tier_bytes_per_s=cat("tier_bytes_per_s"),
        tier_bytes_per_request=park_bytes,
        tier_units_hosted=hosted,
        class_busy_w=class_busy,
    )
    info = tuple(ColumnInfo.of(v) for v in variants)
    return CandidateTable(info, columns, cat("batch"), cat("ttft_s"), cat("tpot_s"),
                          cat("ttft_p50_s"), cat("tpot_p50_s"), cat("utilization"), cat("bound"),
                          cat("step_bound"), hardware, network)  # fmt: skip
