"""The model against measurements: evaluate calibration setups, score the errors, fit
efficiency factors (docs/model.md §4). Building a setup from a case is the use case's job
(:mod:`optimizer.api.calibration`).

Server and interactive throughputs are predicted as the largest batch that meets the run's p99
limits; their TTFT/TPOT rows at that operating point.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass

import numpy as np

from optimizer.catalog.cases import Case
from optimizer.catalog.units import GIB, MILLI
from optimizer.perf.capacity import weight_bytes_per_device
from optimizer.perf.config import Config, efficiency_fields, stack_configs
from optimizer.perf.efficiency import (
    ENGINE_SET,
    FACTORS,
    POWER_SHARES,
    Efficiency,
    EfficiencyTable,
    Phase,
    PhaseEfficiency,
    PowerShares,
)
from optimizer.perf.phases import decode_step, memory, prefill_step
from optimizer.perf.serving import Request, ServePhase, Slo, serve
from optimizer.perf.shape import ModelShape

FIT_GROUP = "throughput and fixed-batch latency"
GROUPS = {
    "output_tokens_per_s_per_accelerator": FIT_GROUP,
    "prefill_latency_ms": FIT_GROUP,
    "decode_step_ms": FIT_GROUP,
    "ttft_ms": "loaded latency (server runs)",
    "tpot_ms": "loaded latency (server runs)",
    "kv_tokens_capacity": "capacity",
    "weights_gib": "capacity",
    "accelerator_power_w": "power",
    "system_power_w": "power",
    "energy_j_per_output_token": "energy",
    "energy_j_per_request": "energy",
}
POWER_METRICS = ("accelerator_power_w", "system_power_w")
"""The power fit's rows: energy rows are these powers over a throughput, not new data."""
FRACTION_METRICS = ("memory_bandwidth_fraction", "compute_fraction")
SLO_PERCENTILE = 99.0  # MLPerf server limits are p99
MIN_FAMILY_ROWS = 20
"""A family gets its own power shares only with this many rows (a few per share), and a family
with fewer time rows that ``api.calibration.ASSUMED_FAMILIES`` lists takes its nearest fitted
family's factors, rather than factors that merely memorize a handful of runs."""


@dataclass(frozen=True, slots=True)
class Setup:
    """A case rebuilt as a configuration the model can evaluate."""

    case: Case
    shape: ModelShape
    family: str
    config: Config
    request: Request
    batch: float | None
    accelerators_per_instance: int
    defaults: tuple[str, ...]  # blank fields filled with engine defaults, and other notes
    requests_per_s: float | None = None  # per instance, from the run's own throughput
    host_w: float = 0.0  # per device: its share of the reference system's host power
    at_predicted_throughput: bool = False  # energy over the predicted, not measured, throughput
    engine: str = "default"  # the serving engine's id, whose overheads the fit shares

    @property
    def kind(self) -> str:
        """How the case is evaluated: one of the _EVALUATORS keys."""
        metric, scenario = self.case.metric, self.case.scenario
        if metric in ("prefill_latency_ms", "decode_step_ms", "weights_gib", "kv_tokens_capacity"):
            return metric
        if GROUPS.get(metric) in ("power", "energy"):  # at the measured batch, else at full load
            return "power_at_batch" if self.batch is not None else "power_at_full_load"
        if metric in ("ttft_ms", "tpot_ms") and self.requests_per_s is not None:
            return "at_rate"
        if held_at_batch(self.case):
            return "at_batch"
        return "loaded" if scenario in ("server", "interactive") else "offline"


def held_at_batch(case: Case) -> bool:
    """A throughput row of a server held at a stated running batch (ML.ENERGY's runs,
    saturated at their ``max_num_seqs``): predicted at that batch (``Setup.kind`` ``at_batch``)."""
    return case.metric == "output_tokens_per_s_per_accelerator" and case.batch is not None


@dataclass(frozen=True, slots=True)
class Skip:
    case: Case
    reason: str


@dataclass(frozen=True, slots=True)
class Prediction:
    case: Case
    predicted: float
    defaults: tuple[str, ...]

    @property
    def error(self) -> float:
        """Relative error |predicted − measured| / measured."""
        return abs(self.predicted - self.case.value) / self.case.value

    at_predicted_throughput: bool = False

    @property
    def group(self) -> str:
        return GROUPS[self.case.metric]

    @property
    def metric(self) -> str:
        """The case's metric; an energy row evaluated over the predicted throughput says so."""
        suffix = " at predicted throughput" if self.at_predicted_throughput else ""
        return self.case.metric + suffix


def _stack_requests(setups: list[Setup]) -> Request:
    return Request(
        np.array([s.request.input_tokens for s in setups]),
        np.array([s.request.output_tokens for s in setups]),
    )


def _per_accelerator(setups, per_instance_tokens_s):
    per = np.array([s.accelerators_per_instance for s in setups], dtype=np.float64)
    return per_instance_tokens_s / per


def _evaluate_group(kind: str, shape: ModelShape, setups: list[Setup], c: Config) -> np.ndarray:
    """Predictions (in each case's unit) for cases of one model and one kind."""
    req = _stack_requests(setups)
    if kind == "prefill_latency_ms":
        batch = np.array([s.batch for s in setups])
        return prefill_step(shape, c, batch, req.input_tokens, 0.0, pipelined=False).time_s / MILLI
    if kind == "decode_step_ms":
        batch = np.array([s.batch for s in setups])
        return decode_step(shape, c, batch, req.mean_context).time_s / MILLI
    if kind == "weights_gib":
        return np.broadcast_to(weight_bytes_per_device(shape, c.weight_bytes, c.tp, c.pp, c.ep)
                               / GIB, (len(setups),))  # fmt: skip
    if kind == "kv_tokens_capacity":
        mem = memory(shape, c, 1.0)
        return np.floor(mem.kv_free_per_device / mem.kv_per_sequence_per_device)
    if kind == "offline":
        point = serve(shape, c, req, phase=ServePhase.AGGREGATED)
        return _per_accelerator(setups, point.output_tokens_per_s)
    if kind == "at_batch":
        point, holds = _at_batch(shape, c, req, np.array([s.batch for s in setups]))
        return np.where(holds, _per_accelerator(setups, point.output_tokens_per_s), np.nan)
    metric = np.array([s.case.metric for s in setups])
    if kind.startswith("power_"):
        return _power(shape, c, setups, req, metric, kind)
    if kind == "at_rate":  # the run's median latencies at the rate it achieved, or saturated
        most = serve(shape, c, req, phase=ServePhase.AGGREGATED).requests_per_s
        rate = np.minimum([s.requests_per_s for s in setups], most * (1.0 - 1e-9))
        point = serve(shape, c, req, phase=ServePhase.AGGREGATED, requests_per_s=rate)
        return np.where(metric == "ttft_ms", point.ttft_p50_s, point.tpot_p50_s) / MILLI
    # loaded: the highest rate meeting the p99 limits; that point's throughput, or its median
    # latencies (the rows are p50)
    slo = Slo.from_ms(
        np.array([s.case.ttft_slo_ms or np.inf for s in setups]),
        np.array([s.case.tpot_slo_ms or np.inf for s in setups]),
        SLO_PERCENTILE,
    )
    point = serve(shape, c, req, phase=ServePhase.AGGREGATED, slo=slo)
    return np.where(
        metric == "ttft_ms",
        point.ttft_p50_s / MILLI,
        np.where(
            metric == "tpot_ms",
            point.tpot_p50_s / MILLI,
            _per_accelerator(setups, point.output_tokens_per_s),
        ),
    )


def _at_batch(shape, c: Config, req: Request, batch):
    """The aggregated operating point at the run's ``batch`` (None: at full load), and where
    the configuration holds it: one that cannot hold the run (its weights, or its batch)
    predicts nothing."""
    point = serve(shape, c, req, phase=ServePhase.AGGREGATED, batch=batch)
    holds = (point.batch > 0) & (point.memory.max_batch >= (batch if batch is not None else 1))
    return point, holds


def _power(shape, c: Config, setups, req: Request, metric, kind: str) -> np.ndarray:
    """Power and energy rows: the step at the run's batch (or at full load) gives each
    device's board power; a system adds its host; energy divides the accelerators' power by
    the run's measured throughput, or by the predicted one."""
    batch = np.array([s.batch for s in setups]) if kind == "power_at_batch" else None
    point, holds = _at_batch(shape, c, req, batch)
    device_w = np.where(holds, point.step.device_power_w, np.nan)
    accelerators = np.array([s.case.accelerators or s.accelerators_per_instance for s in setups])
    host_w = np.array([s.host_w for s in setups])
    per_instance = np.array([s.accelerators_per_instance for s in setups], dtype=np.float64)
    predicted = point.output_tokens_per_s * accelerators / per_instance
    measured = np.array(
        [s.case.throughput_output_tokens_per_s or np.nan for s in setups], dtype=np.float64
    )
    use_predicted = np.array([s.at_predicted_throughput for s in setups]) | np.isnan(measured)
    per_token = device_w * accelerators / np.where(use_predicted, predicted, measured)
    return np.select(
        [metric == "accelerator_power_w", metric == "system_power_w",
         metric == "energy_j_per_output_token"],
        [device_w, (device_w + host_w) * accelerators, per_token],
        per_token * req.output_tokens,
    )  # fmt: skip


class Evaluator:
    """Predicts many setups at once: grouped by model and kind, each group one NumPy pass.
    ``with_efficiency`` re-evaluates under other factors without rebuilding anything."""

    def __init__(self, setups: list[Setup]):
        self.setups = setups
        groups: dict[tuple, list[int]] = {}
        for i, s in enumerate(setups):
            groups.setdefault((s.case.model, s.kind), []).append(i)
        self.groups = []
        for (_, kind), idx in groups.items():
            config = stack_configs([setups[i].config for i in idx])
            self.groups.append((kind, setups[idx[0]].shape, np.array(idx), config))

    def predict(self, efficiency: Efficiency | None = None) -> np.ndarray:
        """Predictions under ``efficiency`` (None: the factors each setup was built with)."""
        return self._predict(efficiency_fields(efficiency) if efficiency else {})

    def predict_power(self, shares: PowerShares) -> np.ndarray:
        """Predictions with the power shares replaced and every other factor as built."""
        return self._predict({f"power_{n}": np.float64(getattr(shares, n)) for n in POWER_SHARES})

    def predict_fields(self, fields: dict[str, np.ndarray]) -> np.ndarray:
        """Predictions with Config fields replaced per setup (arrays over the setups)."""
        return self._predict(fields, per_setup=True)

    def _predict(self, fields: dict, per_setup: bool = False) -> np.ndarray:
        out = np.empty(len(self.setups))
        for kind, shape, idx, config in self.groups:
            given = {k: v[idx] for k, v in fields.items()} if per_setup else fields
            c = dataclasses.replace(config, **given) if given else config
            with np.errstate(divide="ignore", invalid="ignore"):
                out[idx] = _evaluate_group(kind, shape, [self.setups[i] for i in idx], c)
        return out


_FACTOR = {f.name: f for f in FACTORS}
HARDWARE_SPREAD = 0.25
"""Prior spread (log scale) of a family's compute and memory factors around the pooled ones:
kernels on one generation's parts reach fractions of peak within about ±25 % of another's."""
ENGINE_SPREAD = 1.0
"""Prior spread (log scale) of an engine's overheads around the pooled engine's: serving stacks
differ 2–5× in per-step overheads and collective bandwidth (docs/model.md §4)."""
_HARDWARE = (("decode", "compute"), ("decode", "memory"), ("prefill", "compute"),
             ("prefill", "memory"), ("decode", "expert"))  # fmt: skip
"""Fitted hardware factors; the others take their roofline value (:data:`ASSUMED_HARDWARE`)."""
ASSUMED_HARDWARE = {
    ("prefill", "expert"): "assumed: 1, the dense rate: a prompt step's routed experts each "
    "multiply hundreds of tokens, where grouped GEMMs reach what dense ones do (DeepGEMM's "
    "grouped contiguous FP8 GEMMs at 0.55-0.66 of peak beside its dense ones at 0.30-0.69, rows "
    "of the calibration file); fitted, it went to that bound. A decode step gives each expert a "
    "few tokens, in GEMMs too thin to reach the dense rate (docs/model.md section 4)",
}
"""Hardware factors not fitted, each with why its roofline value stands."""
_ACROSS_FAMILIES = np.array([name == "expert" for _, name in _HARDWARE])
"""Hardware factors pooled by design, one value for every family: how much slower than the
dense GEMMs a MoE layer's routed experts run (routing, token permutation, grouped GEMMs over
uneven expert loads) is the kernels' software more than the chip's, and the MoE rows are on a
few families only; a family deviation fitted on them would move with the engine's kernels."""
GRAPH_OVERHEAD_US_PER_LAYER = 10.0
"""Host time per layer of a step replayed as a CUDA graph: about eight kernels per layer a
microsecond or so apart (an estimate; no published row isolates it, and fitted on throughput
rows it absorbs their large-batch shortfall instead). Assumed, not fitted."""
_ENGINE = tuple(
    ("decode", f.name) for f in FACTORS if f.engine and f.name != "graph_overhead_us_per_layer"
) + (("prefill", "overhead_us_per_layer"), ("prefill", "link"))
"""Fitted factors. A prompt step is never a captured graph and its host time per sequence is
not separable from its per-layer time: prefill's graph overhead is its eager one, its
per-sequence overhead 0; decode's graph overhead is :data:`GRAPH_OVERHEAD_US_PER_LAYER`. A
hop's latency is the link's whatever the phase, so prefill takes decode's (fitted apart, the
prompt steps' one drifted to its floor, 0.001×, their eager launches taking its time)."""
LINK_FACTORS = ("hop_latency_scale", "link")
"""Shared by every engine: a collective hop's latency and the fraction of link bandwidth it
reaches are the link's; engines differ in which algorithm they run (their profiles' collectives,
docs/model.md §4), which the model prices from the same hop. Fitted per engine on throughput
rows they drifted to their bounds (a 22× hop latency), confounded with the overheads."""
MIN_OWN_ROWS = 5
"""A family deviates from the pooled hardware factors factor by factor only with this many rows
(a few per factor); with fewer, one or two runs would be memorized, so its rows fit a single
scale on all four of its factors instead (a reduced fit: its kernels reach a common fraction of
what the pooled ones reach), under the same prior."""
_FLOOR = 1e-3  # the smallest value a factor fitted on a log scale takes (µs, or a fraction)
ROW_NOISE = 0.1
"""Typical log error of one row (the robust loss's scale): a prior of spread σ weighs like
``(ROW_NOISE / σ)²`` against the rows' squared sensitivities."""


@dataclass(frozen=True, slots=True)
class Fitted:
    """One family's hardware factors or one engine's overheads: ``values[(phase, name)]``,
    and per factor whether its rows constrained it (``provenance``)."""

    key: str
    values: dict[tuple[str, str], float]
    rows: int
    median_abs_error: float
    provenance: dict[tuple[str, str], str]


@dataclass(frozen=True, slots=True)
class FitResult:
    """Hardware factors per family (``default`` pooled over every row) and overheads per engine
    (``default`` pooled over every engine)."""

    families: tuple[Fitted, ...]
    engines: tuple[Fitted, ...]
    pooled_engines: tuple[tuple[str, str], ...] = ()  # (engine, why it has no entry)

    def table(self, source: str) -> EfficiencyTable:
        """The fitted factors as a table the model looks factors up in."""
        by_family = {f.key: _family_efficiency(f) for f in self.families}
        by_engine = {
            e.key: {Phase(p): engine_phase(e.values, p) for p in ("prefill", "decode")}
            for e in self.engines
        }
        return EfficiencyTable(by_family, source, by_engine)


def _family_efficiency(f: Fitted) -> Efficiency:
    """A family's fitted hardware factors, its engine factors left to the engine."""
    engine_set = {factor.name: ENGINE_SET for factor in FACTORS if factor.engine}
    given = {phase: {n: v for (p, n), v in f.values.items() if p == phase}
             for phase in ("prefill", "decode")}  # fmt: skip
    phases = {phase: PhaseEfficiency(**engine_set, **given[phase]) for phase in given}
    return Efficiency(phases["prefill"], phases["decode"], f"fit: {f.key}")


def engine_phase(values: dict, phase: str) -> dict[str, float]:
    """One phase's engine factors from the fitted ones (module note on ``_ENGINE``)."""
    out = {name: values[(phase, name)] for p, name in _ENGINE if p == phase}
    if phase == "prefill":
        out["graph_overhead_us_per_layer"] = out["overhead_us_per_layer"]
        out["overhead_us_per_sequence"] = 0.0
        out["hop_latency_scale"] = values[("decode", "hop_latency_scale")]
    else:
        out["graph_overhead_us_per_layer"] = GRAPH_OVERHEAD_US_PER_LAYER
    return out


class _Blocks:
    """A least-squares problem over log factors: pooled values shared by every row plus, per
    group (a family or an engine), deviations of the ``own`` factors each row of the group
    adds, pulled to 0 by a prior of spread ``sigma`` (none for a ``free`` group, whose rows
    then say nothing about the pooled values); the other factors are shared by every group.
    ``lower`` and ``upper`` bound the pooled values, so only a ``pooled`` block needs them."""

    def __init__(self, names, groups: list[str], row_group: np.ndarray, sigma: float,
                 pooled: bool, lower=(), upper=(), own=None, free=()):  # fmt: skip
        self.names, self.groups, self.row_group = names, groups, row_group
        self.sigma, self.pooled = sigma, pooled
        self.own = np.ones(len(names), bool) if own is None else np.asarray(own)
        k, m = len(names), int(self.own.sum())
        self.offset = k if pooled else 0
        self.n = self.offset + m * len(groups)
        self.lower = np.concatenate([np.log(lower)] * pooled + [np.full(m * len(groups), -3.0)])
        self.upper = np.concatenate([np.log(upper)] * pooled + [np.full(m * len(groups), 3.0)])
        self.prior_weight = np.repeat([0.0 if g in free else 1.0 for g in groups], m)

    def deviations(self, x) -> np.ndarray:
        """[group, factor] log deviations (0 for shared factors), and a last row of zeros for
        rows of no group (``row_group`` = the number of groups)."""
        dev = np.zeros((len(self.groups) + 1, len(self.names)))
        dev[:-1, self.own] = x[self.offset :].reshape(len(self.groups), int(self.own.sum()))
        return dev

    def values(self, x, base=None) -> np.ndarray:
        """[row, factor] log values: the pooled ones (or ``base``) plus the row's group's."""
        pooled = x[: self.offset] if self.pooled else base
        return pooled + self.deviations(x)[self.row_group]

    def prior(self, x) -> np.ndarray:
        """The deviations' prior residuals; a ``free`` group's deviation has none."""
        return x[self.offset :] * ROW_NOISE / self.sigma * self.prior_weight

    def sparsity(self, n_rows: int) -> np.ndarray:
        m = int(self.own.sum())
        out = np.zeros((n_rows + self.n - self.offset, self.n), dtype=bool)
        out[:n_rows, : self.offset] = True
        for g in range(len(self.groups)):
            cols = slice(self.offset + g * m, self.offset + (g + 1) * m)
            out[:n_rows, cols] = (self.row_group == g)[:, None]
        out[np.arange(n_rows, out.shape[0]), np.arange(self.offset, self.n)] = True
        return out

    def provenance(self, jac, n_rows: int, x) -> tuple[np.ndarray, np.ndarray]:
        """``x`` with each deviation its rows do not constrain (their information, the squared
        Jacobian column over the rows, below the prior's) set back to 0, and [group, factor]
        whether it was fitted (False for shared factors)."""
        fitted = _information(jac, n_rows)[self.offset :] >= (ROW_NOISE / self.sigma) ** 2
        x = x.copy()
        x[self.offset :] = np.where(fitted, x[self.offset :], 0.0)
        out = np.zeros((len(self.groups), len(self.names)), bool)
        out[:, self.own] = fitted.reshape(len(self.groups), int(self.own.sum()))
        return x, out


def confounded_engines(setups: list[Setup]) -> dict[str, str]:
    """Engines the rows cannot tell apart from their hardware, with why: every family an
    engine's rows ran on has no other engine's rows (e.g. vLLM's only throughput rows are AMD's
    MLPerf runs, and AMD's only rows are vLLM's). An engine deviation fitted on them would take
    what the family's factors should say, and carry it to every other family the engine runs
    on; such an engine takes the pooled engine's overheads and its families the difference."""
    families_of: dict[str, set[str]] = {}
    engines_of: dict[str, set[str]] = {}
    for s in setups:
        families_of.setdefault(s.engine, set()).add(s.family)
        engines_of.setdefault(s.family, set()).add(s.engine)
    return {
        engine: f"its rows are all on {', '.join(sorted(families))}, whose rows are all its own"
        for engine, families in families_of.items()
        if len(families_of) > 1 and all(engines_of[f] == {engine} for f in families)
    }


def fit_setups(
    setups: list[Setup], caps: dict[tuple[str, str], float], unpooled: frozenset[str] = frozenset()
) -> FitResult:
    """Hardware factors per accelerator family and overheads per serving engine, each pooled
    (``default``) and per group, on the throughput and fixed-batch latency setups (built under
    the roofline); least squares on the log error with a robust loss (docs/model.md §4).

    First the pooled hardware factors and every engine's overheads together (an engine's
    deviation from the pooled overheads pulled to 0 with spread :data:`ENGINE_SPREAD`), then
    each family's compute and memory with those overheads fixed (spread
    :data:`HARDWARE_SPREAD`). A deviation the rows do not constrain falls back to the pooled
    value; ``caps`` bound compute and memory per (family, 'compute'|'memory') by what
    microbenchmarks reached. An engine :func:`confounded_engines` names takes the pooled
    overheads; an ``unpooled`` engine deviates without a prior."""
    setups = [s for s in setups if GROUPS[s.case.metric] == FIT_GROUP]
    evaluator = Evaluator(setups)
    measured = np.array([s.case.value for s in setups])
    counts = Counter(s.family for s in setups)
    families = sorted(f for f, n in counts.items() if n >= MIN_OWN_ROWS)
    reduced = sorted(f for f, n in counts.items() if n < MIN_OWN_ROWS)
    confounded = confounded_engines(setups)
    engines = sorted({s.engine for s in setups} - set(confounded))
    fam_of = np.array(  # a family with too few rows: no deviation of its own per factor
        [families.index(s.family) if s.family in families else len(families) for s in setups]
    )
    reduced_of = np.array(  # ... but one scale on all four
        [reduced.index(s.family) if s.family in reduced else len(reduced) for s in setups]
    )
    eng_of = np.array(  # a confounded engine: the pooled overheads (no deviation)
        [engines.index(s.engine) if s.engine in engines else len(engines) for s in setups]
    )

    def family_caps(family: str) -> list[float]:
        """The family's bound on each hardware factor, else the pooled one, else 1."""
        return [caps.get((family, n), caps.get(("default", n), 1.0)) for _, n in _HARDWARE]

    cap = np.array([family_caps(s.family) for s in setups])
    hw_bounds = [(_FACTOR[n].fit_lower or _FLOOR, caps.get(("default", n), 1.0))
                 for _, n in _HARDWARE]  # fmt: skip
    en_bounds = [(max(_FACTOR[n].fit_lower, _FLOOR), _FACTOR[n].fit_upper) for _, n in _ENGINE]

    def log_errors(hw_log, en_log):
        """Per row: log(predicted / measured) under [row, factor] log hardware and engine
        factors (10 where nothing finite is predicted)."""
        predicted = evaluator.predict_fields(
            _fields(np.minimum(np.exp(hw_log), cap), np.exp(en_log))
        )
        r = np.log(np.where(predicted > 0, predicted, 1e-9) / measured)
        return np.where(np.isfinite(r), r, 10.0)

    # stage 1: pooled hardware with every engine's overheads, on the rows of engines the rows
    # tell apart from their hardware
    hw0 = np.log([_FACTOR[n].fit_start for _, n in _HARDWARE])
    eng = _Blocks(_ENGINE, engines, eng_of, ENGINE_SPREAD, True, *zip(*en_bounds, strict=True),
                  own=[n not in LINK_FACTORS for _, n in _ENGINE], free=unpooled)  # fmt: skip
    x0 = np.concatenate([hw0, np.log([_FACTOR[n].fit_start for _, n in _ENGINE]),
                         np.zeros(eng.n - len(_ENGINE))])  # fmt: skip
    k = len(_HARDWARE)
    lower = np.concatenate([np.log([b[0] for b in hw_bounds]), eng.lower])
    upper = np.concatenate([np.log([b[1] for b in hw_bounds]), eng.upper])
    sparsity = np.hstack([np.vstack([np.ones((len(setups), k), bool),
                                     np.zeros((eng.n - len(_ENGINE), k), bool)]),
                          eng.sparsity(len(setups))])  # fmt: skip

    told_apart = eng_of < len(engines)  # a confounded engine's rows wait for stage 2

    def stage1(x):
        hw = np.broadcast_to(x[:k], (len(setups), k))
        errors = log_errors(hw, eng.values(x[k:])) * told_apart
        return np.concatenate([errors, eng.prior(x[k:])])

    one = _solve(stage1, x0, lower, upper, sparsity)
    x_eng, eng_fitted = eng.provenance(one.jac[:, k:], len(setups), one.x[k:])
    pooled_hw = one.x[:k]
    en_log = eng.values(x_eng)

    # stage 2: each family's compute and memory around the pooled ones, overheads fixed; a
    # family with few rows moves all four together (one scale)
    own = ~_ACROSS_FAMILIES
    fam = _Blocks(_HARDWARE, families, fam_of, HARDWARE_SPREAD, False,
                  *zip(*hw_bounds, strict=True), own=own)  # fmt: skip
    scale = _Blocks((("all", "scale"),), reduced, reduced_of, HARDWARE_SPREAD, False)
    n_fam = fam.n

    def hardware_log(x):
        scaled = scale.deviations(x[n_fam:])[reduced_of] * own  # [row, 1]: on all four
        return fam.values(x[:n_fam], pooled_hw) + scaled

    def stage2(x):
        return np.concatenate(
            [log_errors(hardware_log(x), en_log), fam.prior(x[:n_fam]), scale.prior(x[n_fam:])]
        )

    # a factor above its family's cap is clipped to the cap when predicting, where no row can
    # move it: a pooled value above the cap would leave the deviation without a gradient, so
    # each deviation stays at or below its family's cap, starting there when pooled is above
    # (a scale: below its tightest cap)
    room = (np.log([family_caps(f) for f in families]) - pooled_hw).reshape(-1, k)[:, own]
    caps_reduced = np.log([family_caps(f) for f in reduced]).reshape(len(reduced), k)
    scale_room = (caps_reduced - pooled_hw)[:, own].min(axis=1)
    upper = np.concatenate(
        [np.minimum(fam.upper, room.ravel()), np.minimum(scale.upper, scale_room)]
    )
    lower = np.minimum(np.concatenate([fam.lower, scale.lower]), upper)
    n = len(setups)
    fam_sparsity, scale_sparsity = fam.sparsity(n), scale.sparsity(n)
    sparsity = np.block([
        [fam_sparsity[:n], scale_sparsity[:n]],
        [fam_sparsity[n:], np.zeros((fam.n, scale.n), bool)],
        [np.zeros((scale.n, fam.n), bool), scale_sparsity[n:]],
    ])  # fmt: skip
    two = _solve(stage2, np.minimum(0.0, upper), lower, upper, sparsity)
    x_fam, fam_fitted = fam.provenance(two.jac[:, :n_fam], n, two.x[:n_fam])
    x_scale, scale_fitted = scale.provenance(two.jac[:, n_fam:], n, two.x[n_fam:])
    hw_log = hardware_log(np.concatenate([x_fam, x_scale]))
    errors = np.abs(np.expm1(log_errors(hw_log, en_log)))
    every = np.ones(len(setups), bool)
    pooled_status = _identified(one.jac, len(setups))
    moe_rows = sum(s.shape.n_moe_layers > 0 for s in setups)  # what the expert factor sees
    pooled_said = np.where(_ACROSS_FAMILIES & (pooled_status[:k] == FITTED), FITTED_ACROSS,
                           pooled_status[:k])  # fmt: skip
    out_families = [_fitted("default", "every family's", _HARDWARE, pooled_hw, pooled_said,
                            errors, every, caps, moe_rows)]  # fmt: skip
    out_families += [
        _fitted(f, f"the {f}", _HARDWARE, hw_log[np.argmax(fam_of == i)],
                np.where(_ACROSS_FAMILIES, ACROSS, np.where(fam_fitted[i], FITTED, POOLED)),
                errors, fam_of == i, caps)
        for i, f in enumerate(families)
        if fam_fitted[i].any()
    ]  # fmt: skip
    out_families += [
        _fitted(f, f"the {f}", _HARDWARE, hw_log[np.argmax(reduced_of == i)],
                np.where(_ACROSS_FAMILIES, ACROSS, REDUCED), errors, reduced_of == i, caps)
        for i, f in enumerate(reduced)
        if scale_fitted[i].any()
    ]  # fmt: skip
    out_engines = [_fitted("default", "every engine's", _ENGINE, one.x[k:k + len(_ENGINE)],
                           pooled_status[k:k + len(_ENGINE)], errors, every, {})]  # fmt: skip
    out_engines += [
        _fitted(e, f"the {e}", _ENGINE, en_log[np.argmax(eng_of == i)],
                np.where(eng.own, np.where(eng_fitted[i], FITTED, POOLED), SHARED), errors,
                eng_of == i, {})
        for i, e in enumerate(engines)
        if eng_fitted[i].any()
    ]  # fmt: skip
    return FitResult(tuple(out_families), tuple(out_engines), tuple(sorted(confounded.items())))


def _solve(residuals, x0, lower, upper, sparsity):
    """SciPy's trust-region least squares with the robust loss, inside the bounds, the
    finite-difference Jacobian grouped by ``sparsity`` (which residual sees which factor)."""
    from scipy.optimize import least_squares  # heavy: only the fit needs it

    return least_squares(
        residuals, np.clip(x0, lower + 1e-6, upper - 1e-6), bounds=(lower, upper),
        loss="soft_l1", f_scale=ROW_NOISE, max_nfev=60, jac_sparsity=sparsity,
    )  # fmt: skip


FITTED, POOLED, SHARED, ASSUMED = "fitted", "pooled", "shared", "assumed"
ACROSS = "across"  # one value for every family by design (_ACROSS_FAMILIES)
FITTED_ACROSS = "fitted across"  # that value, fitted on the rows of every family it sees
REDUCED = "reduced"  # fitted as one scale with the family's other hardware factors


def _identified(jac, n_rows: int) -> np.ndarray:
    """Per column of ``jac``: FITTED where the rows' information (the squared column over the
    rows) outweighs the weakest prior of the fit, else ASSUMED (the value stays the fit's
    start, :class:`Factor`'s ``fit_start``)."""
    return np.where(_information(jac, n_rows) >= (ROW_NOISE / ENGINE_SPREAD) ** 2, FITTED,
                    ASSUMED)  # fmt: skip


def _information(jac, n_rows: int) -> np.ndarray:
    """Per column: the squared Jacobian summed over the first ``n_rows`` (the data rows; the
    rest are priors). SciPy returns a sparse Jacobian when given a sparsity pattern."""
    rows = jac[:n_rows]
    squared = rows.power(2) if hasattr(rows, "power") else np.asarray(rows) ** 2
    return np.asarray(squared.sum(axis=0)).ravel()


def _fitted(key, whose, names, log_values, status, errors, rows, caps, moe_rows=0) -> Fitted:
    """One family's or engine's entry, each factor saying where its value came from
    (``moe_rows``: the MoE rows that fitted the ``expert`` factor, for the pooled entry)."""
    n = int(rows.sum())

    def cap(name):
        return caps.get((key, name), caps.get(("default", name), np.inf))

    values = {
        (p, name): float(min(np.exp(v), cap(name)))
        for (p, name), v in zip(names, log_values, strict=True)
    }
    said = {
        FITTED: f"fitted on {whose} rows ({n})",
        REDUCED: f"fitted on {whose} rows ({n}): too few for one value per factor "
        f"(<{MIN_OWN_ROWS}), so one scale on the pooled compute and memory of both phases",
        POOLED: "pooled: its rows do not constrain it (the default's value)",
        SHARED: "pooled: shared by every engine, a property of the link (the default's value)",
        ACROSS: "pooled: one value for every family, fitted on every family's MoE rows (the "
        "default's value; docs/model.md section 4)",
        FITTED_ACROSS: f"fitted on every family's MoE rows ({moe_rows}), one value for every "
        "family (docs/model.md section 4)",
        ASSUMED: "assumed: no row constrains it; the fit's start value (docs/model.md §4)",
    }
    provenance = {pn: said[st] for pn, st in zip(names, status, strict=True)}
    return Fitted(key, values, n, float(np.median(errors[rows])), provenance)


def _fields(hardware: np.ndarray, engine: np.ndarray) -> dict[str, np.ndarray]:
    """Config fields per row from [row, factor] hardware and engine values."""
    out = {}
    for j, (phase, name) in enumerate(_HARDWARE):
        f = _FACTOR[name]
        out[f"{phase}_{f.config_suffix}"] = hardware[:, j] * f.to_si
    for j, (phase, name) in enumerate(_ENGINE):
        f = _FACTOR[name]
        out[f"{phase}_{f.config_suffix}"] = engine[:, j] * f.to_si
    out["prefill_graph_overhead_s_per_layer"] = out["prefill_overhead_s_per_layer"]
    out["prefill_hop_latency_scale"] = out["decode_hop_latency_scale"]
    out["decode_graph_overhead_s_per_layer"] = np.full(
        len(hardware), GRAPH_OVERHEAD_US_PER_LAYER * _FACTOR["graph_overhead_us_per_layer"].to_si
    )
    out["prefill_overhead_s_per_sequence"] = np.zeros(len(hardware))
    out["smooth"] = np.ones(len(hardware))  # the setups are built under the sharp roofline
    return out


@dataclass(frozen=True, slots=True)
class FittedPower:
    family: str
    shares: PowerShares
    rows: int
    median_abs_error: float


def fit_power(setups: list[Setup]) -> list[FittedPower]:
    """Power shares per accelerator family (and a pooled ``default``) on the power rows
    (board and system power; energy rows are those powers over a throughput, not new data),
    with the time factors each setup was built with; least squares on the log error with a
    robust loss, every share within [0, 1]."""
    from scipy.optimize import least_squares  # heavy: only the fit needs it

    setups = [s for s in setups if s.case.metric in POWER_METRICS]
    if setups:  # a run its configuration cannot hold predicts nothing, so fits nothing
        finite = np.isfinite(Evaluator(setups).predict_power(PowerShares()))
        setups = [s for s, ok in zip(setups, finite, strict=True) if ok]
    counts: dict[str, int] = {}
    for s in setups:
        counts[s.family] = counts.get(s.family, 0) + 1
    fitted = []
    start = PowerShares(busy=0.5, compute=0.3, memory=0.3)
    for family in ["default", *sorted(f for f, n in counts.items() if n >= MIN_FAMILY_ROWS)]:
        rows = [s for s in setups if family == "default" or s.family == family]
        if not rows:
            continue
        evaluator = Evaluator(rows)
        measured = np.array([s.case.value for s in rows])

        def residuals(x, evaluator=evaluator, measured=measured):
            predicted = evaluator.predict_power(PowerShares(*x))
            r = np.log(np.where(predicted > 0, predicted, 1e-9) / measured)
            return np.where(np.isfinite(r), r, 10.0)

        x0 = [getattr(start, n) for n in POWER_SHARES]
        result = least_squares(
            residuals, x0, bounds=(0.0, 1.0), loss="soft_l1", f_scale=0.1, max_nfev=300
        )
        errors = np.abs(np.expm1(residuals(result.x)))
        shares = PowerShares(*(float(v) for v in result.x))
        fitted.append(FittedPower(family, shares, len(rows), float(np.median(errors))))
    return fitted


def summarize(predictions: list[Prediction]) -> dict[str, dict]:
    """Median and 90th-percentile absolute relative error: overall, per group, per metric."""
    buckets: dict[str, list[float]] = {"all": []}
    for p in predictions:
        for key in ("all", f"group: {p.group}", f"metric: {p.metric}"):
            buckets.setdefault(key, []).append(p.error)
    return {
        key: {
            "n": len(errors),
            "median": float(np.median(errors)),
            "p90": float(np.percentile(errors, 90)),
        }
        for key, errors in buckets.items()
        if errors
    }
