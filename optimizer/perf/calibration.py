"""The model against measurements: evaluate calibration setups, score the errors, fit
efficiency factors (docs/model.md §4). Building a setup from a case is the use case's job
(:mod:`optimizer.api.calibration`).

Server and interactive throughputs are predicted as the largest batch that meets the run's p99
limits; their TTFT/TPOT rows at that operating point.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from optimizer.catalog.cases import Case
from optimizer.catalog.units import GIB, MILLI
from optimizer.perf.capacity import weight_bytes_per_device
from optimizer.perf.config import Config, efficiency_fields, stack_configs
from optimizer.perf.efficiency import (
    FACTORS,
    POWER_SHARES,
    Efficiency,
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
"""A family gets its own factors only with this many rows (a few per factor); smaller ones use
the pooled ``default`` fit rather than factors that merely memorize a handful of runs."""


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
        return "loaded" if scenario in ("server", "interactive") else "offline"


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
    metric = np.array([s.case.metric for s in setups])
    if kind.startswith("power_"):
        return _power(shape, c, setups, req, metric, kind)
    if kind == "at_rate":  # the run's median latencies at the rate it achieved, or saturated
        most = serve(shape, c, req, phase=ServePhase.AGGREGATED).requests_per_s
        rate = np.minimum([s.requests_per_s for s in setups], most * (1.0 - 1e-9))
        point = serve(shape, c, req, phase=ServePhase.AGGREGATED, requests_per_s=rate)
        return np.where(metric == "ttft_ms", point.ttft_p50_s, point.tpot_p50_s) / MILLI
    # loaded: the largest batch meeting the p99 limits; that point's throughput or latency
    slo = Slo.from_ms(
        np.array([s.case.ttft_slo_ms or np.inf for s in setups]),
        np.array([s.case.tpot_slo_ms or np.inf for s in setups]),
        SLO_PERCENTILE,
    )
    point = serve(shape, c, req, phase=ServePhase.AGGREGATED, slo=slo)
    return np.where(
        metric == "ttft_ms",
        point.ttft_s / MILLI,
        np.where(
            metric == "tpot_ms",
            point.tpot_s / MILLI,
            _per_accelerator(setups, point.output_tokens_per_s),
        ),
    )


def _power(shape, c: Config, setups, req: Request, metric, kind: str) -> np.ndarray:
    """Power and energy rows: the step at the run's batch (or at full load) gives each
    device's board power; a system adds its host; energy divides the accelerators' power by
    the run's measured throughput, or by the predicted one."""
    batch = np.array([s.batch for s in setups]) if kind == "power_at_batch" else None
    point = serve(shape, c, req, phase=ServePhase.AGGREGATED, batch=batch)
    # a configuration that cannot hold the run (weights, or its batch) predicts nothing
    holds = (point.batch > 0) & (point.memory.max_batch >= (batch if batch is not None else 1))
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

    def _predict(self, fields: dict) -> np.ndarray:
        out = np.empty(len(self.setups))
        for kind, shape, idx, config in self.groups:
            c = dataclasses.replace(config, **fields) if fields else config
            with np.errstate(divide="ignore", invalid="ignore"):
                out[idx] = _evaluate_group(kind, shape, [self.setups[i] for i in idx], c)
        return out


@dataclass(frozen=True, slots=True)
class FittedFamily:
    family: str
    efficiency: Efficiency
    rows: int
    phases: tuple[str, ...]  # phases the rows could identify
    median_abs_error: float


_FACTOR = {f.name: f for f in FACTORS}
_PREFILL_ONLY_FROM_PREFILL_ROWS = ("memory", "overhead_us_per_layer", "hop_latency_scale", "link")


def _parameters(has_prefill_rows: bool) -> list[tuple[str, str]]:
    """(phase, factor) pairs the rows can identify: decode factors and the prefill compute
    efficiency (prompt chunks of aggregated runs) always; the rest of prefill only with
    prefill-latency rows."""
    names = [("decode", f.name) for f in FACTORS] + [("prefill", "compute")]
    if has_prefill_rows:
        names += [("prefill", n) for n in _PREFILL_ONLY_FROM_PREFILL_ROWS]
    return names


def fit_setups(setups: list[Setup], caps: dict[tuple[str, str], float]) -> list[FittedFamily]:
    """Least-squares efficiency factors per accelerator family (and a pooled ``default``) on
    the throughput and fixed-batch latency setups (built under the roofline), minimizing the
    log error with a robust loss; ``caps`` bound the compute and memory fractions per (family,
    'compute'|'memory') by what microbenchmarks reached."""
    from scipy.optimize import least_squares  # heavy: only the fit needs it

    setups = [s for s in setups if GROUPS[s.case.metric] == FIT_GROUP]
    counts: dict[str, int] = {}
    for s in setups:
        counts[s.family] = counts.get(s.family, 0) + 1
    fitted = []
    for family in ["default", *sorted(f for f, n in counts.items() if n >= MIN_FAMILY_ROWS)]:
        rows = [s for s in setups if family == "default" or s.family == family]
        has_prefill = any(s.kind == "prefill_latency_ms" for s in rows)
        names = _parameters(has_prefill)
        lower = [_FACTOR[n].fit_lower for _, n in names]
        upper = [
            caps.get((family, n), caps.get(("default", n), _FACTOR[n].fit_upper))
            if n in ("compute", "memory")
            else _FACTOR[n].fit_upper
            for _, n in names
        ]
        starts = [_FACTOR[n].fit_start for _, n in names]
        x0 = np.clip(starts, np.add(lower, 1e-6), np.subtract(upper, 1e-6))
        evaluator = Evaluator(rows)
        measured = np.array([s.case.value for s in rows])

        def efficiency(x, names=names):
            given = {"prefill": {}, "decode": {}}
            for (phase, name), value in zip(names, x, strict=True):
                given[phase][name] = float(value)
            decode = PhaseEfficiency(**given["decode"])
            prefill = dataclasses.replace(decode, overhead_us_per_sequence=0.0, **given["prefill"])
            return Efficiency(prefill, decode, "fit")

        def residuals(x, evaluator=evaluator, measured=measured, efficiency=efficiency):
            predicted = evaluator.predict(efficiency(x))
            r = np.log(np.where(predicted > 0, predicted, 1e-9) / measured)
            return np.where(np.isfinite(r), r, 10.0)

        result = least_squares(
            residuals, x0, bounds=(lower, upper), loss="soft_l1", f_scale=0.1, max_nfev=300
        )
        errors = np.abs(np.expm1(residuals(result.x)))
        phases = ("prefill", "decode") if has_prefill else ("decode",)
        fitted.append(
            FittedFamily(family, efficiency(result.x), len(rows), phases, float(np.median(errors)))
        )
    return fitted


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
