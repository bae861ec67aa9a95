"""The numbers of a co-design report, computed before anything is drawn: trials by state, the
catalog-only reference fleets, the best designs (the Pareto front of two objectives, the best
trial of one) with their knobs, parts and savings over the catalog-only fleets, and the
infeasible designs by constraint. Pure: the trials table (``codesign.trials.trials_frame``)
and the run's reference dict in, frozen records out; the OI/CF explanation of each design is
computed by the caller (it needs the model) and handed in as :class:`PartWall` records."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from optimizer.report.study_data import number_text, pareto_front

OBJECTIVES = {
    "cost_usd_per_hour": ("cost", "cost", "$/h"),
    "energy_kwh_per_hour": ("energy", "energy", "kWh/h"),
}
"""Objective column -> (the reference fleets' objective kind, name for people, unit)."""
ROLES = ("prefill", "decode")
PART_FIGURES = (
    ("dense_fp8_tflops", "dense FP8 TFLOPS"),
    ("memory_capacity_gb", "memory GB"),
    ("memory_bandwidth_tb_per_s", "memory TB/s"),
    ("die_area_mm2", "die area mm²"),
    ("tdp_w", "TDP W"),
    ("price_usd", "price $"),
)
"""(``parts.<role>.`` column suffix, row label) of each part figure the report shows."""
SIGNIFICANT_DIGITS = 9
"""Objective values are compared to this many significant digits: the same fleets summed in
another order differ in the last bits, and such trials tie rather than dominate each other."""
MAX_HEADLINE_DESIGNS = 5
"""Best designs the terminal lines name; the report lists them all."""


@dataclass(frozen=True, slots=True)
class SearchFacts:
    """The search as the manifest, the file's copy and the study record it."""

    name: str
    description: str
    codesign_file: str
    storage: str
    sampler: str | None
    seed: int | None
    hetplan_version: str | None
    optuna_version: str | None
    n_runs: int | None  # runs (first and resumed) the study records


@dataclass(frozen=True, slots=True)
class ReferenceFleet:
    """The best catalog-only fleet of one base problem and objective."""

    problem: str
    objective: str  # cost or energy
    value: float | None  # $/h or kWh/h; None: the catalog serves the problem with no fleet
    fleet: str  # "6 × rtx-pro-6000"


@dataclass(frozen=True, slots=True)
class BestDesign:
    """One best trial: its values, what it saves over the catalog-only fleets and how many of
    its fleets' devices are its parts; ``tied`` are the other feasible trials with the same
    values (shown once, under the lowest trial number)."""

    number: int
    tied: tuple[int, ...]
    values: dict[str, float]  # objective column -> value
    savings_pct: dict[str, float | None]  # objective column -> % below the reference total
    hypothetical: dict[str, tuple[int, int]]  # objective column -> (its parts, all devices)
    knobs: dict[str, object]  # every knob (the fixed ones too) -> value
    parts: dict[str, dict[str, float]]  # role -> PART_FIGURES column -> value
    fleets: tuple[dict, ...]  # the trial's fleet summaries, one per base problem and objective


@dataclass(frozen=True, slots=True)
class PartWall:
    """One part of a best design against one base problem's serve class: its ridge point and
    capacity against the workload's OI and CF (``optimizer.api.analyze``), and the wall the
    pool of it in the fleet hit."""

    number: int  # the trial
    role: str  # prefill or decode: the phase the part serves
    part: str  # catalog id
    problem: str
    model: str
    workload: str
    precision: str
    batch: float
    batch_from_fleet: bool  # the pool's batch; False: the stated default
    ridge_flop_per_byte: float
    prefill_oi_flop_per_byte: float
    decode_oi_flop_per_byte: float
    wall: str  # of the part's phase: capacity when the batch does not fit, else the roofline's
    tp: int  # devices of the smallest instance holding the weights and one request (0: none)
    memory_gb: float  # usable, one device
    cf_gb: float  # one request's CF in the part's phase at ``batch``
    pools: tuple[tuple[str, int, str | None], ...]  # (objective, devices, bound) in its fleets


@dataclass(frozen=True, slots=True)
class CodesignData:
    """Everything a co-design report shows; renderers only lay it out."""

    facts: SearchFacts
    objectives: tuple[str, ...]  # objective columns, in the study's order
    counts: dict[str, int]  # trials by state
    n_feasible: int
    n_infeasible: int  # complete trials that break a constraint
    reference_totals: dict[str, float | None]  # objective column -> weighted catalog-only
    reference: tuple[ReferenceFleet, ...]
    best: tuple[BestDesign, ...]  # by the first objective
    infeasible: tuple[tuple[str, int], ...]  # (constraint, trials breaking it), most first
    walls: tuple[PartWall, ...]
    walls_note: str | None  # why designs are not (all) explained


def objective_text(column: str) -> str:
    """``cost ($/h)`` for an objective column."""
    _, name, unit = OBJECTIVES.get(column, (column, column, ""))
    return f"{name} ({unit})" if unit else name


def fleet_text(devices: dict[str, int]) -> str:
    """``6 × rtx-pro-6000 + 2 × h100-sxm``, most devices first; ``no fleet`` when empty."""
    items = sorted(devices.items(), key=lambda kv: (-kv[1], kv[0]))
    return " + ".join(f"{n} × {a}" for a, n in items if n) or "no fleet"


def saving_pct(value: float, reference: float | None) -> float | None:
    """How much lower ``value`` is than ``reference``, in % of it (negative: higher)."""
    if reference is None or not reference > 0:
        return None
    return (reference - value) / reference * 100.0


def percent_text(pct: float | None) -> str:
    """``12.3 %`` (never ``-0.0 %``)."""
    return "—" if pct is None else f"{round(pct, 1) + 0.0:.1f} %"


def reference_fleets(reference: dict) -> tuple[ReferenceFleet, ...]:
    """The run's ``reference.json`` fleets as records."""
    return tuple(
        ReferenceFleet(f["problem"], f["objective"], f["value"], fleet_text(f["devices"]))
        for f in reference.get("fleets", [])
    )


def reference_text(reference: Sequence[ReferenceFleet], column: str) -> str:
    """The catalog-only fleets of one objective: ``short: 6 × a; long: 8 × b``."""
    kind = OBJECTIVES.get(column, (column,))[0]
    return "; ".join(f"{r.problem}: {r.fleet}" for r in reference if r.objective == kind)


def feasible_values(frame, objectives: Sequence[str]):
    """The feasible complete trials with every objective finite, in trial order."""
    rows = frame[(frame["state"] == "complete") & frame["feasible"].fillna(False).astype(bool)]
    finite = np.isfinite(rows[list(objectives)].to_numpy(dtype=float)).all(axis=1)
    return rows[finite].sort_values("number")


def compared(values) -> np.ndarray:
    """``values`` rounded to :data:`SIGNIFICANT_DIGITS` significant digits."""
    values = np.asarray(values, dtype=float)
    return np.vectorize(lambda v: float(f"{v:.{SIGNIFICANT_DIGITS}g}"), otypes=[float])(values)


def best_numbers(frame, objectives: Sequence[str]) -> list[tuple[int, tuple[int, ...]]]:
    """(trial, trials with the same values) of each best design: the feasible Pareto front of
    two objectives (``study_data.pareto_front``: lower is better on each), the lowest value of
    one; values as :func:`compared`; each distinct point once, under its lowest trial number,
    by the first objective."""
    rows = feasible_values(frame, objectives)
    if rows.empty:
        return []
    values = compared(rows[list(objectives)].to_numpy(dtype=float))
    if len(objectives) == 1:
        chosen = values[:, 0] == values[:, 0].min()
    else:
        chosen = pareto_front(values[:, 0], values[:, 1])
    groups: dict[tuple[float, ...], list[int]] = {}
    for number, point in zip(rows["number"][chosen], map(tuple, values[chosen]), strict=True):
        groups.setdefault(point, []).append(int(number))
    return [(numbers[0], tuple(numbers[1:])) for _, numbers in sorted(groups.items())]


def _hypothetical(fleets: Sequence[dict], objectives: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Per objective: (devices of the design's parts, all devices) over its fleets."""
    out = {}
    for column in objectives:
        kind = OBJECTIVES.get(column, (column,))[0]
        mine = [f for f in fleets if f["objective"] == kind]
        out[column] = (sum(sum(f["hypothetical_devices"].values()) for f in mine),
                       sum(sum(f["devices"].values()) for f in mine))  # fmt: skip
    return out


def _prefixed(row, prefix: str) -> dict[str, object]:
    return {
        k[len(prefix) :]: v.item() if hasattr(v, "item") else v
        for k, v in row.items()
        if k.startswith(prefix) and not (isinstance(v, float) and math.isnan(v))
    }


def best_designs(
    frame, objectives: Sequence[str], totals: dict, knob_order: Sequence[str] = ()
) -> tuple[BestDesign, ...]:
    """The best designs (:func:`best_numbers`) with their figures from the frame; knobs in
    ``knob_order`` (the file's), any others after."""
    by_number = frame.set_index("number")
    out = []
    for number, tied in best_numbers(frame, objectives):
        row = by_number.loc[number]
        values = {c: float(row[c]) for c in objectives}
        design = _prefixed(row, "design.") or _prefixed(row, "param.")
        rank = {k: i for i, k in enumerate(knob_order)}
        design = dict(sorted(design.items(), key=lambda kv: rank.get(kv[0], len(rank))))
        parts = {r: _prefixed(row, f"parts.{r}.") for r in ROLES}
        text = row.get("fleets")
        fleets = tuple(json.loads(text)) if isinstance(text, str) else ()
        out.append(BestDesign(
            number=number,
            tied=tied,
            values=values,
            savings_pct={c: saving_pct(v, totals.get(c)) for c, v in values.items()},
            hypothetical=_hypothetical(fleets, objectives),
            knobs=design,
            parts={r: {k: float(p[k]) for k, _ in PART_FIGURES if k in p}
                   for r, p in parts.items() if p},
            fleets=fleets,
        ))  # fmt: skip
    return tuple(out)


def infeasible_tally(frame) -> tuple[tuple[str, int], ...]:
    """(constraint, complete infeasible trials breaking it: value > 0), most first; a trial
    breaking several counts under each."""
    rows = frame[(frame["state"] == "complete") & ~frame["feasible"].fillna(True).astype(bool)]
    columns = [c for c in frame.columns if c.startswith("constraint.")]
    counts = [(c.removeprefix("constraint."), int((rows[c].astype(float) > 0).sum()))
              for c in columns]  # fmt: skip
    return tuple(sorted(((c, n) for c, n in counts if n), key=lambda cn: (-cn[1], cn[0])))


def build_codesign_data(
    frame,
    facts: SearchFacts,
    objectives: Sequence[str],
    reference: dict,
    knob_order: Sequence[str] = (),
) -> CodesignData:
    """The report's numbers from the trials table and the run's reference; the caller adds
    the designs' walls (``dataclasses.replace``), which need the model."""
    totals = {c: reference.get("totals", {}).get(c) for c in objectives}
    complete = frame["state"] == "complete"
    n_feasible = int((complete & frame["feasible"].fillna(False).astype(bool)).sum())
    return CodesignData(
        facts=facts,
        objectives=tuple(objectives),
        counts={str(s): int(n) for s, n in frame["state"].value_counts().sort_index().items()},
        n_feasible=n_feasible,
        n_infeasible=int(complete.sum()) - n_feasible,
        reference_totals=totals,
        reference=reference_fleets(reference),
        best=best_designs(frame, objectives, totals, knob_order),
        infeasible=infeasible_tally(frame),
        walls=(),
        walls_note=None,
    )


def value_text(column: str, value: float | None) -> str:
    """An objective value with its unit: ``6.30 $/h``."""
    unit = OBJECTIVES.get(column, ("", "", ""))[2]
    return f"{number_text(value)} {unit}".rstrip()


def design_line(data: CodesignData, design: BestDesign) -> str:
    """One best design in a line: each objective's value, saving and hypothetical devices."""
    pieces = []
    for column in data.objectives:
        name = OBJECTIVES.get(column, (column, column))[1]
        n_parts, n_all = design.hypothetical[column]
        saving = design.savings_pct[column]
        saves = "" if saving is None else f", {_saves(saving)}"
        pieces.append(f"{name} {value_text(column, design.values[column])}{saves}, "
                      f"{n_parts} of {n_all} devices hypothetical")  # fmt: skip
    n = len(design.tied)
    tied = f" (and {n} trial{'s' * (n != 1)} with the same values)" if n else ""
    return f"trial {design.number}{tied}: " + "; ".join(pieces)


def _saves(pct: float) -> str:
    pct = round(pct, 1) + 0.0
    return f"saves {pct:.1f} %" if pct >= 0 else f"costs {-pct:.1f} % more"


def headlines(data: CodesignData) -> tuple[str, ...]:
    """Short lines for the terminal: the catalog-only reference, the best designs, what the
    infeasible ones broke."""
    lines = []
    for column in data.objectives:
        total = data.reference_totals.get(column)
        name = OBJECTIVES.get(column, (column, column))[1]
        fleets = reference_text(data.reference, column)
        lines.append(f"catalog-only {name}: {value_text(column, total)} ({fleets})")
    kind = "Pareto front" if len(data.objectives) > 1 else "best design"
    if not data.best:
        lines.append(f"{kind}: no feasible design")
    for design in data.best[:MAX_HEADLINE_DESIGNS]:
        lines.append(f"{kind}: {design_line(data, design)}")
    if len(data.best) > MAX_HEADLINE_DESIGNS:
        lines.append(f"{kind}: {len(data.best) - MAX_HEADLINE_DESIGNS} more in the report")
    if data.best and not any(n for d in data.best for n, _ in d.hypothetical.values()):
        lines.append("no best design's fleets use its parts: none beats the catalog-only fleets")
    if data.n_infeasible:
        broken = ", ".join(f"{c} {n}" for c, n in data.infeasible)
        lines.append(f"infeasible: {data.n_infeasible} trials ({broken})")
    return tuple(lines)


def requests_held(wall: PartWall) -> int:
    """Whole requests of the part's phase CF one device's memory holds."""
    return math.floor(wall.memory_gb / wall.cf_gb) if wall.cf_gb > 0 else 0


def _on(wall: PartWall) -> str:
    return f" on TP-{wall.tp} instances" if wall.tp else " (the weights fit no instance)"


def wall_sentence(wall: PartWall) -> str:
    """One part against one serve class in plain words, numbers included."""
    oi = {"prefill": wall.prefill_oi_flop_per_byte, "decode": wall.decode_oi_flop_per_byte}
    other_role = "decode" if wall.role == "prefill" else "prefill"
    batch = f"batch {wall.batch:g}" + ("" if wall.batch_from_fleet else " assumed")
    used = [f"{objective} fleet {n} devices, {bound or 'no'}-bound"
            for objective, n, bound in wall.pools]  # fmt: skip
    pools = "; ".join(used) if used else "no fleet uses it"
    return (
        f"{wall.role} part {wall.part} on {wall.problem} ({wall.model}, {wall.workload}, "
        f"{wall.precision}, {batch}): ridge {number_text(wall.ridge_flop_per_byte)} FLOP/B, "
        f"{wall.role} OI {number_text(oi[wall.role])} FLOP/B → {wall.wall}-bound{_on(wall)} "
        f"({other_role} OI "
        f"{number_text(oi[other_role])}); {number_text(wall.memory_gb)} GB holds "
        f"{requests_held(wall)} requests of {number_text(wall.cf_gb)} GB. In its fleets: {pools}."
    )
