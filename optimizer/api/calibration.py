"""``calibrate``: the model against measurements, and efficiency factors fitted to them.

A case is rebuilt as the configuration it describes; blank fields take the serving engines'
defaults, and each prediction lists the defaults it used. Cases the model cannot represent are
skipped with the reason. The evaluation and the fit are the model's
(:mod:`optimizer.perf.calibration`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from optimizer.api.context import Context, open_context
from optimizer.api.fields import choice, entry
from optimizer.catalog.cases import Case, load_cases
from optimizer.catalog.catalog import Catalog
from optimizer.catalog.choices import Mode
from optimizer.catalog.engine_spec import default_engine
from optimizer.catalog.host import host_power_w
from optimizer.catalog.precision import Precision
from optimizer.catalog.units import GIGA
from optimizer.errors import HetplanError
from optimizer.output import write_text_atomic
from optimizer.perf.calibration import (
    FIT_GROUP,
    FRACTION_METRICS,
    GROUPS,
    MIN_FAMILY_ROWS,
    POWER_METRICS,
    Evaluator,
    FitResult,
    Fitted,
    FittedPower,
    Prediction,
    Setup,
    Skip,
    fit_power,
    fit_setups,
    held_at_batch,
    summarize,
)
from optimizer.perf.capacity import valid_split, weight_bytes_per_device
from optimizer.perf.config import EngineProfile, build_config
from optimizer.perf.efficiency import DEFAULT_FAMILY, POWER_SHARES, SOL, EfficiencyTable
from optimizer.perf.serving import Request
from optimizer.perf.shape import model_shape
from optimizer.results import Verdict

FITTED_ON = "its throughput and fixed-batch rows"
MLPERF_LENGTHS = {"llama-2-70b": (219.0, 291.0), "mixtral-8x7b": (380.0, 145.9)}
"""Mean input and output tokens of MLPerf's datasets, for MLPerf rows that leave them blank:
the MLPerf rows of catalogs/measurements/published.csv (OpenOrca for llama-2-70b, the mixed
mixtral-8x7b set), which state them."""
CHAT_PROMPT_TOKENS = 200.0
"""Prompt length for chat and instruction sources that publish none (ML.ENERGY's LM-Arena
prompts, TokenPowerBench's Alpaca): a short single-turn prompt. An assumption, said in each
such prediction's notes; a power row's error moves little with it (prefill is a small share
of a chat request's steps)."""


def _precision(text: str | None, default: Precision, what: str, defaults: list[str]):
    if text is None:
        defaults.append(f"{what} blank: {default.value}")
        return default
    return Precision.parse(text, what)


def _default_tp(
    case: Case, catalog: Catalog, shape, weights: Precision, per_instance: int, share: float
):
    """Smallest power-of-two TP within the instance whose weights fit the engine's ``share``."""
    acc = catalog.accelerators[case.accelerator]
    usable = (acc.memory_usable_gb or acc.memory_capacity_gb) * GIGA * share
    tp = 1
    while tp * 2 <= per_instance and weight_bytes_per_device(shape, weights, tp, 1, 1) > usable:
        tp *= 2
    return tp


def setup_case(
    case: Case,
    catalog: Catalog,
    table: EfficiencyTable | None,
    run_rate: tuple[str, float] | None = None,
) -> Setup | Skip:
    """Rebuild ``case`` as a configuration, or say why it cannot be. ``run_rate`` is (the
    run's throughput row, its request rate per accelerator) for a latency row of a loaded run:
    its latencies are predicted at that rate."""
    if case.metric in FRACTION_METRICS:
        return Skip(
            case, "microbenchmark fraction: an input that bounds the fit, not a prediction"
        )
    if case.metric not in GROUPS:
        return Skip(case, f"metric {case.metric!r} is not one the model predicts")
    if case.model not in catalog.models:
        return Skip(case, f"model {case.model!r} is not in the catalog")
    if case.accelerator not in catalog.accelerators:
        return Skip(case, f"accelerator {case.accelerator!r} is not in the catalog")
    defaults: list[str] = []
    if GROUPS[case.metric] in ("power", "energy"):
        filled = _power_lengths(case, defaults)
        if isinstance(filled, Skip):
            return filled
        case = filled
    elif held_at_batch(case) and case.input_tokens is None and case.output_tokens:
        case = _chat_prompt(case, defaults)  # a chat server (ML.ENERGY's) states no prompts
    if case.context_tokens is not None and case.metric != "decode_step_ms":
        return Skip(case, "context_tokens: only decode_step_ms rows take a KV length alone")
    needs_lengths = case.metric not in ("weights_gib", "kv_tokens_capacity") and (
        case.context_tokens is None
    )
    if needs_lengths and (case.input_tokens is None or case.output_tokens is None):
        return Skip(case, "input or output length not stated")
    model = catalog.models[case.model]
    acc = catalog.accelerators[case.accelerator]
    shape = model_shape(model)
    try:
        weights = _precision(case.precision_weights, Precision.BF16, "weights", defaults)
        kv_default = weights if weights.bytes_per_element >= 1 else Precision.FP8
        kv = _precision(case.precision_kv, kv_default, "kv", defaults)
    except HetplanError as exc:
        return Skip(case, str(exc))
    accelerators = case.accelerators or 1
    pp = case.pp or 1
    dp = case.dp or 1  # attention data-parallel ranks, each tp devices (docs/model.md §4)
    engine_id = case.engine or default_engine(catalog.engines, acc.vendor)
    if case.engine is None:
        defaults.append(f"engine blank: {engine_id}")
    if engine_id not in catalog.engines:
        return Skip(case, f"engine {engine_id!r} is not in the catalog")
    engine = EngineProfile.of(catalog.engines[engine_id])
    if case.batch is not None and case.batch > engine.max_batch:  # the run configured more
        engine = dataclasses.replace(engine, max_batch=math.ceil(case.batch))
        defaults.append(f"{engine_id} max batch raised to the run's {case.batch:g}")
    if case.tp is None:
        per_instance = accelerators // (case.instances or 1)
        tp = _default_tp(case, catalog, shape, weights, max(per_instance // (pp * dp), 1),
                         engine.memory_fraction)  # fmt: skip
        defaults.append(f"tp blank: {tp} (smallest that fits)")
    else:
        tp = case.tp
    ep = case.ep
    if ep is None:
        ranks = tp * dp
        ep = ranks if model.moe and model.moe.n_routed_experts % ranks == 0 else 1
        if model.moe:
            over = "TP ranks" if dp == 1 else "TP and attention-DP ranks"
            defaults.append(f"ep blank: {ep} (expert parallel over the {over})")
    if not bool(valid_split(model, tp, pp, ep)):
        return Skip(case, f"split tp={tp} pp={pp} ep={ep} is not valid for {case.model}")
    efficiency, note = table.lookup(acc.family, engine_id) if table else (SOL, None)
    if note:
        defaults.append(note)
    try:
        config, notes = build_config(
            catalog, acc, tp=tp, pp=pp, dp=dp, ep=ep, weights=weights, kv=kv,
            efficiency=efficiency,
            power_cap_w=case.power_cap_w, engine=engine,
        )  # fmt: skip
    except HetplanError as exc:
        return Skip(case, str(exc))
    defaults.extend(notes)
    if case.context_tokens is not None:  # the step's KV length: input + output / 2 = context
        request = Request(case.context_tokens, 0.0)
    else:
        request = Request(case.input_tokens or 0.0, case.output_tokens or 0.0)
    batch = float(case.batch) if case.batch else None
    if case.metric in ("prefill_latency_ms", "decode_step_ms") and batch is None:
        batch = 1.0
        defaults.append("batch blank: 1")
    rate = None
    limited = case.ttft_slo_ms is not None or case.tpot_slo_ms is not None
    if limited and case.metric in ("ttft_ms", "tpot_ms"):
        defaults.append("at the highest rate meeting the run's p99 limits, the rate it reports")
    elif run_rate is not None and case.metric in ("ttft_ms", "tpot_ms"):
        sibling, per_accelerator = run_rate
        rate = per_accelerator * tp * pp * dp
        defaults.append(f"at the run's rate: {rate:.3g} requests/s per instance ({sibling})")
    host_w = 0.0
    if case.metric == "system_power_w":
        host_w, host_source = host_power_w(catalog, acc)
        defaults.append(f"host power: {host_source} per accelerator")
    return Setup(case, shape, acc.family, config, request, batch, tp * pp * dp, tuple(defaults),
                 rate, host_w, engine=engine_id)  # fmt: skip


def with_engine(cases: list[Case], ctx: Context, engine: str | None) -> list[Case]:
    """``cases`` with ``engine`` in every blank engine column (None: left blank, so the
    default engine)."""
    if engine is None:
        return cases
    entry(ctx.catalog, "engines", "engine", engine)  # an unknown id is a FieldError
    return [c if c.engine else dataclasses.replace(c, engine=engine) for c in cases]


def _power_lengths(case: Case, defaults: list[str]) -> Case | Skip:
    """A power or energy row with its prompt lengths filled where the source states none
    (MLPerf datasets, chat prompts), or why it cannot be predicted."""
    if case.power_cap_w is None and "maxq" in (case.case_id + case.notes).lower():
        return Skip(case, "MaxQ run without a recorded power cap: its GPUs ran under an unknown "
                          "limit")  # fmt: skip
    if case.input_tokens is not None and case.output_tokens is not None:
        return case
    if case.case_id.lower().startswith("mlperf"):
        if case.model not in MLPERF_LENGTHS:
            return Skip(case, f"no stated prompt lengths for {case.model}'s MLPerf dataset")
        inputs, outputs = MLPERF_LENGTHS[case.model]
        defaults.append(f"lengths blank: MLPerf {case.model} dataset means {inputs:g} in, "
                        f"{case.output_tokens or outputs:g} out")  # fmt: skip
        return dataclasses.replace(
            case, input_tokens=inputs, output_tokens=case.output_tokens or outputs
        )
    if case.output_tokens is None:
        return Skip(case, "output length not stated")
    return _chat_prompt(case, defaults)


def _chat_prompt(case: Case, defaults: list[str]) -> Case:
    defaults.append(f"input blank: a {CHAT_PROMPT_TOKENS:g}-token chat prompt (assumed)")
    return dataclasses.replace(case, input_tokens=CHAT_PROMPT_TOKENS)


def _fraction_caps(cases, catalog: Catalog) -> dict[tuple[str, str], float]:
    """Highest measured fraction of peak per (family, 'compute'|'memory'): an efficiency
    factor may not exceed what a microbenchmark reached."""
    caps: dict[tuple[str, str], float] = {}
    for case in cases:
        if case.metric in FRACTION_METRICS and case.accelerator in catalog.accelerators:
            family = catalog.accelerators[case.accelerator].family
            what = "compute" if case.metric == "compute_fraction" else "memory"
            key = (family, what)
            caps[key] = max(caps.get(key, 0.0), min(case.value, 1.0))
            caps[("default", what)] = max(caps.get(("default", what), 0.0), min(case.value, 1.0))
    return caps


def run_rates(cases: list[Case]) -> dict[str, tuple[str, float]]:
    """For each TTFT/TPOT row of a loaded run: (its run's throughput row, the requests/s per
    accelerator that run achieved = output tokens/s per accelerator ÷ output tokens). The
    throughput row is the one of the same source and scenario (a published run).

    :func:`setup_case` uses the rate only for runs that state no latency limits. A run with
    limits (an MLPerf server) reports the highest rate that met them, so its latencies are
    predicted at the model's own highest such rate: at 89-99 % of capacity, the measured rate
    on the model's curve would turn a few per cent of capacity error into a 1/(1 − ρ) swing of
    the batch (docs/model.md §8)."""
    throughput = {}
    for case in cases:
        if case.metric == "output_tokens_per_s_per_accelerator" and case.output_tokens:
            key = (case.source, case.scenario)
            throughput[key] = None if key in throughput else case  # ambiguous: none
    rates = {}
    for case in cases:
        run = throughput.get((case.source, case.scenario))
        if case.metric in ("ttft_ms", "tpot_ms") and run is not None:
            rates[case.case_id] = (run.case_id, run.value / run.output_tokens)
    return rates


def predict_cases(cases: list[Case], catalog: Catalog, table: EfficiencyTable | None):
    """(predictions, skips) for ``cases`` under ``table`` (None: the pure roofline); a loaded
    run's latency rows at the rate the run achieved."""
    setups, skips = [], []
    rates = run_rates(cases)
    for case in cases:
        built = setup_case(case, catalog, table, rates.get(case.case_id))
        (skips if isinstance(built, Skip) else setups).append(built)
    setups += [  # energy rows again, over the predicted throughput
        dataclasses.replace(s, at_predicted_throughput=True)
        for s in setups
        if GROUPS[s.case.metric] == "energy" and s.case.throughput_output_tokens_per_s
    ]
    values = Evaluator(setups).predict() if setups else np.empty(0)
    predictions = []
    for s, v in zip(setups, values, strict=True):
        if np.isfinite(v):
            predictions.append(Prediction(s.case, float(v), s.defaults, s.at_predicted_throughput))
        else:  # e.g. a measured batch the model cannot hold, so no predicted throughput
            what = "over the predicted throughput: " if s.at_predicted_throughput else ""
            skips.append(Skip(s.case, f"{what}no finite prediction (a batch the model cannot "
                                      "hold on this configuration)"))  # fmt: skip
    return predictions, skips


def fit_families(cases: list[Case], catalog: Catalog) -> FitResult:
    """Hardware factors per accelerator family and overheads per serving engine (each with a
    pooled ``default``) fitted on ``cases``, bounded by the microbenchmark fractions among
    them; engines whose profile says ``pooled = false`` stay out of the pooled engine."""
    setups = [s for s in (setup_case(c, catalog, None) for c in cases) if isinstance(s, Setup)]
    unpooled = frozenset(k for k, e in catalog.engines.items() if not e.pooled)
    return with_assumed(fit_setups(setups, _fraction_caps(cases, catalog), unpooled))


ASSUMED_FAMILIES = {
    "nvidia-blackwell-ultra": (
        "nvidia-blackwell",
        "B300/GB300 are the B200's Blackwell SM (tcgen05 tensor cores, TMEM) and HBM3e "
        "generation with more FP4 compute and memory; no published serving rows yet",
    ),
    "nvidia-ada": (
        "nvidia-blackwell-rtx",
        "L40S/L4 are the previous generation of the same class of part as the RTX PRO 6000: "
        "a GDDR card on PCIe without NVLink, running mma.sync-class tensor-core kernels (no "
        "Hopper wgmma or Blackwell tcgen05); too few Ada rows to fit their own factors",
    ),
    "amd-cdna4": (
        "amd-cdna3",
        "MI355X is CDNA 4, the successor of MI300X's CDNA 3: the same chiplet design and matrix "
        "cores with more low-precision compute and HBM3E, on the same ROCm and vLLM stack; no "
        "published serving rows yet",
    ),
    "intel-gaudi3": (
        "intel-gaudi2",
        "Gaudi 3 is Gaudi 2's successor: the same matrix engines and TPCs in more units and "
        "HBM2e, on the same SynapseAI software and vLLM fork; no published serving rows yet",
    ),
    "nvidia-rubin": (
        "nvidia-blackwell",
        "Rubin is Blackwell's successor on the same CUDA and TensorRT-LLM stack, with more FP4 "
        "compute and HBM4 (Rubin CPX: GDDR7); pre-launch, no published serving rows",
    ),
}
"""Families whose factors are taken from their nearest fitted family, with the reason, where
they have fewer than ``MIN_FAMILY_ROWS`` rows of their own (docs/model.md §4)."""


def with_assumed(fit: FitResult) -> FitResult:
    """``fit`` plus an entry per :data:`ASSUMED_FAMILIES` family without enough rows of its
    own, copied from its nearest fitted family and marked assumed."""
    by_key = {f.key: f for f in fit.families}
    added = []
    for family, (like, reason) in ASSUMED_FAMILIES.items():
        own, source = by_key.get(family), by_key.get(like)
        if source is None or (own is not None and own.rows >= MIN_FAMILY_ROWS):
            continue
        why = f"assumed: {like}'s value ({reason})"
        rows = own.rows if own is not None else 0
        added.append(Fitted(family, dict(source.values), rows, float("nan"),
                            dict.fromkeys(source.values, why)))  # fmt: skip
    kept = tuple(f for f in fit.families if f.key not in {a.key for a in added})
    return dataclasses.replace(fit, families=kept + tuple(added))


@dataclass(frozen=True, slots=True)
class Row:
    """One case predicted against its measurement."""

    case_id: str
    metric: str
    predicted: float
    measured: float
    error: float
    defaults: tuple[str, ...]


@dataclass(frozen=True, repr=False)
class Calibration(Verdict):
    """Every row predicted against its measurement, the error summary and, with a fit, the
    fitted factors and their TOML (``efficiency_toml``; ``save`` writes it)."""

    status: str
    message: str
    mode: str
    cases_file: str
    rows: tuple[Row, ...]
    skipped: tuple[dict, ...]
    summary: dict
    fitted: FitResult | None = None
    fitted_power: tuple[FittedPower, ...] = ()
    efficiency_toml: str | None = None
    _REPR_FIELDS = ("mode", "cases_file")

    def to_dict(self) -> dict:
        data = super().to_dict()
        data["fitted"] = [f.key for f in self.fitted.families] if self.fitted else []
        data["fitted_engines"] = [e.key for e in self.fitted.engines] if self.fitted else []
        data["pooled_engines"] = dict(self.fitted.pooled_engines) if self.fitted else {}
        data["fitted_power"] = {
            f.family: {n: getattr(f.shares, n) for n in POWER_SHARES} for f in self.fitted_power
        }
        return data

    def save(self, path: str | Path, *, force: bool = False) -> Path:
        """Write the fitted factors' TOML atomically; an existing file only with ``force``."""
        if self.efficiency_toml is None:
            raise HetplanError("nothing to save: calibrate without fit fits no factors")
        return write_text_atomic(Path(path), self.efficiency_toml, force=force)


def calibrate(
    cases_file: str | Path,
    *,
    fit: bool = False,
    mode: str = "calibrated",
    catalog_dirs: tuple[str | Path, ...] = (),
    efficiency: str | Path | None = None,
    context: Context | None = None,
    engine: str | None = None,
) -> Calibration:
    """Predict every row of a calibration CSV and score the errors; with ``fit``, fit
    efficiency factors on it and predict with them. ``engine`` serves the rows whose engine
    column is blank (None: the default engine).

    Raises:
        FieldError: an unknown mode; CatalogError: an invalid CSV or efficiency file.
    """
    from optimizer.report.efficiency_toml import efficiency_toml

    mode = choice("mode", mode, Mode)
    ctx = context or open_context(catalog_dirs, efficiency)
    cases = with_engine(load_cases(cases_file), ctx, engine)
    table = ctx.efficiency if mode is Mode.CALIBRATED else None
    fitted: FitResult | None = None
    fitted_power: list[FittedPower] = []
    text = None
    if fit:
        if any(GROUPS.get(c.metric) == FIT_GROUP for c in cases):
            fitted = fit_families(cases, ctx.catalog)
        time_table = fitted.table("fit") if fitted else ctx.efficiency
        power_setups = [
            s
            for s in (setup_case(c, ctx.catalog, time_table) for c in cases)
            if isinstance(s, Setup) and s.case.metric in POWER_METRICS
        ]
        fitted_power = fit_power(power_setups) if power_setups else []
        text = efficiency_toml(fitted, fitted_power, str(cases_file), FITTED_ON)
        table = _with_power(time_table, fitted_power)
    predictions, skips = predict_cases(cases, ctx.catalog, table)
    rows = tuple(
        Row(p.case.case_id, p.metric, p.predicted, p.case.value, p.error, p.defaults)
        for p in predictions
    )
    summary = summarize(predictions)
    overall = summary.get("all")
    message = (
        f"{overall['n']} rows: median error {overall['median']:.1%}, p90 {overall['p90']:.1%}"
        if overall
        else "no row could be predicted"
    )
    return Calibration(
        status="ok",
        message=message,
        mode="calibrated" if table else "sol",
        cases_file=str(cases_file),
        rows=rows,
        skipped=tuple({"case_id": s.case.case_id, "reason": s.reason} for s in skips),
        summary=summary,
        fitted=fitted,
        fitted_power=tuple(fitted_power),
        efficiency_toml=text,
    )


def _with_power(table: EfficiencyTable, fitted: list[FittedPower]) -> EfficiencyTable:
    """``table`` with the fitted power shares: a family's own, else the fitted default's."""
    if not fitted:
        return table
    shares = {f.family: f.shares for f in fitted}
    families = dict.fromkeys([*table.by_family, *shares, DEFAULT_FAMILY])
    by_family = {}
    for family in families:
        base = table.by_family.get(family) or table.by_family.get(DEFAULT_FAMILY, SOL)
        power = shares.get(family, shares.get(DEFAULT_FAMILY, base.power))
        by_family[family] = dataclasses.replace(base, power=power)
    return EfficiencyTable(by_family, table.source, table.by_engine)
