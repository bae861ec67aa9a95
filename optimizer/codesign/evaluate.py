"""One co-design trial: a design's parts priced and powered, added to each base problem's
catalog, and the optimal fleet solved for each objective.

Rating is most of a solve, so the catalog's own candidates are rated once per process (per
base problem and objective, ``fleet.reuse``) and a trial rates only its hypothetical parts;
``fleet.merge.joined`` puts both before one ILP. A ``[prefill]`` part serves prefill instances
only and a ``[decode]`` part decode instances only. A pool a trial designs is offered to its
hypothetical parts (the catalog's accelerators keep the catalog's tiers).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from optimizer.api.context import efficiency_table
from optimizer.catalog.catalog import Catalog
from optimizer.catalog.loader import InlineEntries, display_path, with_entries
from optimizer.catalog.problem_loader import LoadedProblem, load_problem
from optimizer.catalog.problem_spec import Pricing
from optimizer.codesign.constants import load_constants
from optimizer.codesign.parts import (
    AcceleratorKnobs,
    Part,
    PoolKnobs,
    accelerator_part,
    host_entries,
    pool_entries,
)
from optimizer.codesign.search import TrialOutcome
from optimizer.codesign.space import search_space
from optimizer.codesign.spec import Codesign, CodesignError, load_codesign
from optimizer.errors import Problem
from optimizer.fleet.candidates import Fleet, NoCandidates, build_fleet
from optimizer.fleet.merge import joined
from optimizer.fleet.reuse import rated_fleet
from optimizer.search.provision import solve as provision
from optimizer.search.solution import Solution
from optimizer.study.design import override_text
from optimizer.study.spec import dotted_items

ROLES = ("prefill", "decode")
OBJECTIVE_NAMES = {"cost": "cost_usd_per_hour", "energy": "energy_kwh_per_hour"}
"""A co-design objective -> the name of its value: the weighted sum over the base problems of
the optimal fleet's cost ($/h, least-cost fleet) or facility energy (kWh/h, least-energy)."""
NOT_SERVED = "serves"
"""The constraint a design breaks when a base problem has no fleet with it: the weights of the
problems left unserved (> 0)."""


def part_id(codesign: Codesign, role: str) -> str:
    """The catalog id of a design's ``role`` part: ``<study name>-<role>``, lower case."""
    return f"{codesign.spec.codesign.name.lower().replace('_', '-')}-{role}"


@dataclass(frozen=True)
class _Base:
    """One base problem with one objective, loaded, and (with the catalog kept) its
    catalog's rated columns and their optimum."""

    index: int  # of the problem in the file
    weight: float
    objective: str
    loaded: LoadedProblem
    catalog_fleet: Fleet | None = None
    catalog_optimum: Solution | None = None


@dataclass(frozen=True)
class _State:
    """What a process loads once: the file, constants, factors and base problems."""

    codesign: Codesign
    constants: object
    efficiency: object
    bases: list[_Base]
    fixed: dict[str, object]


class DesignEvaluator:
    """Evaluates designs of one co-design file; pickles as its arguments and loads the base
    problems, constants and catalog ratings on first use in each process."""

    def __init__(self, path: str | Path, *, catalog_dirs=(), efficiency=None) -> None:
        self.path = str(path)
        self.catalog_dirs = tuple(str(d) for d in catalog_dirs)
        self.efficiency = None if efficiency is None else str(efficiency)
        self._ready = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_ready": None}

    def __call__(self, params: dict[str, object]) -> TrialOutcome:
        """The design's objectives, constraints and fleets; ``params`` holds the knobs the
        sampler varies (the fixed ones are added)."""
        state = self._prepare()
        codesign = state.codesign
        params = state.fixed | dict(params)
        parts = self.parts(params)
        constraints = {
            f"{role}.{name}": float(value)
            for role, part in parts.items()
            for name, value in part.constraints.items()
        }
        attrs = {"design": dict(params), "parts": {r: part_summary(p) for r, p in parts.items()}}
        if any(v > 0 for v in constraints.values()):
            return TrialOutcome(None, constraints | {NOT_SERVED: 0.0}, attrs)
        tables = _trial_tables(codesign, state.constants, parts, params)
        values = dict.fromkeys(codesign.spec.codesign.objectives, 0.0)
        fleets, unserved = [], {}  # problem index -> its weight, if any objective has no fleet
        trial: dict[int, tuple] = {}  # a problem's objectives share its trial catalog and fleet
        for base in state.bases:
            if base.index not in trial:
                trial[base.index] = _trial_fleet(base.loaded, tables, state.efficiency, parts)
            solution = _solve(base, *trial[base.index], state.efficiency)
            fleets.append(fleet_summary(base, solution, parts))
            if solution.objective is None:
                unserved[base.index] = base.weight
                continue
            values[base.objective] += base.weight * objective_value(base.objective, solution)
        attrs["fleets"] = fleets
        constraints[NOT_SERVED] = sum(unserved.values())
        if unserved:
            return TrialOutcome(None, constraints, attrs)
        named = {OBJECTIVE_NAMES[o]: v for o, v in values.items()}
        attrs["objectives"] = named
        return TrialOutcome(tuple(named.values()), constraints, attrs)

    def parts(self, params: dict[str, object]) -> dict[str, Part]:
        """Each designed accelerator of ``params`` (every knob name -> value), priced and
        powered."""
        state = self._prepare()
        codesign = state.codesign
        limit = codesign.spec.codesign.package_power_limit_w
        out = {}
        for role in ROLES:
            if getattr(codesign.spec, role) is None:
                continue
            knobs = AcceleratorKnobs(**_knob_values(params, role))
            pid = part_id(codesign, role)
            name = f"hypothetical {role} accelerator ({codesign.spec.codesign.name})"
            out[role] = accelerator_part(
                knobs, state.constants, part_id=pid, name=name, power_limit_w=limit
            )
        return out

    def catalog_with(self, params: dict[str, object]) -> Catalog:
        """The first base problem's catalog with the design's parts (and pool) added: what
        ``analyze`` and ``estimate`` take to explain a design."""
        state = self._prepare()
        params = state.fixed | dict(params)
        tables = _trial_tables(state.codesign, state.constants, self.parts(params), params)
        return with_entries(state.bases[0].loaded.catalog, InlineEntries("co-design", tables))

    def catalog_only(self) -> list[dict]:
        """The best catalog fleet of each base problem and objective: what a design saves
        against (empty objectives where a problem has none)."""
        state = self._prepare()
        return [
            fleet_summary(base, base.catalog_optimum or _catalog_optimum(base, state.efficiency),
                          {})
            for base in state.bases
        ]  # fmt: skip

    def _prepare(self) -> _State:
        if self._ready is None:
            codesign = load_codesign(self.path)
            bases = _bases(codesign, self.catalog_dirs)
            table = efficiency_table(bases[0].loaded.catalog, self.efficiency)
            if codesign.spec.codesign.keep_catalog:
                bases = [replace(b, catalog_fleet=_catalog_fleet(b, table)) for b in bases]
                bases = [replace(b, catalog_optimum=_catalog_optimum(b, table)) for b in bases]
            constants = load_constants(codesign.constants)
            self._ready = _State(codesign, constants, table, bases, search_space(codesign)[1])
        return self._ready


def _trial_fleet(loaded: LoadedProblem, tables, efficiency, parts):
    """(the base problem with the trial's parts in its catalog and only them allowed, the
    parts' columns in their roles or None where no configuration of them is valid)."""
    catalog = with_entries(loaded.catalog, InlineEntries("co-design trial", tables))
    styles = loaded.spec.styles
    tiers = styles.tiers
    if tiers is not None:
        tiers = tiers + tuple(t["id"] for t in tables.get("memory", ()))
    allowed = styles.model_copy(
        update={"accelerators": tuple(p.entry["id"] for p in parts.values()), "tiers": tiers}
    )
    own = replace(loaded, catalog=catalog, spec=loaded.spec.model_copy(update={"styles": allowed}))
    try:
        return own, _in_role(build_fleet(catalog, own.spec, loaded.economics, efficiency), parts)
    except NoCandidates:
        return own, None


def _solve(base: _Base, own: LoadedProblem, fleet: Fleet | None, efficiency) -> Solution:
    """The optimum of one base problem and objective over the catalog's columns (when kept)
    and the trial's, started from the catalog-only optimum; with no column at all, the solver
    says why. A trial reads the objective alone, so the fleet is not tie-broken on cost and
    purchases (``tie_breaks``)."""
    if base.catalog_fleet is not None:
        fleet = base.catalog_fleet if fleet is None else joined(base.catalog_fleet, fleet)
    spec = base.loaded.spec
    if fleet is None:
        own = replace(own, spec=own.spec.model_copy(update={"objective": spec.objective}))
        return provision(own, efficiency, workers=1, baselines=False, tie_breaks=False)
    loaded = replace(base.loaded, catalog=own.catalog)
    return provision(
        loaded, efficiency, workers=1, baselines=False, fleet=fleet, tie_breaks=False,
        start_from=base.catalog_optimum,
    )  # fmt: skip


def _bases(codesign: Codesign, catalog_dirs) -> list[_Base]:
    """Every base problem once per objective, loaded with its overrides (as ``--set`` reads
    them: a study's ``override_text``)."""
    name = display_path(codesign.path)
    out, problems = [], []
    for i, (path, given) in enumerate(zip(codesign.problems, codesign.spec.problem, strict=True)):
        fixed = {k: override_text(v) for k, v in dotted_items(given.set)}
        for objective in codesign.spec.codesign.objectives:
            loaded = load_problem(path, fixed | {"objective.kind": objective}, catalog_dirs)
            out.append(_Base(i, given.weight, objective, loaded))
        if loaded.measured is not None:
            why = "rates candidates by measurement; a design needs the model to rate it"
            problems.append(Problem(name, f"problem[{i}]", "file", why))
        elif loaded.spec.objective.pricing is not Pricing.OWNED:
            why = "hypothetical parts have a purchase price only: use owned pricing"
            problems.append(Problem(name, f"problem[{i}]", "file", why))
    if problems:
        raise CodesignError(problems)
    return out


def _catalog_optimum(base: _Base, efficiency) -> Solution:
    """The best catalog-only fleet: what a design saves against, and where a trial that
    keeps the catalog starts its solve (a fleet of the trial's problem too)."""
    return provision(base.loaded, efficiency, workers=1, baselines=False, tie_breaks=False)


def _catalog_fleet(base: _Base, table) -> Fleet | None:
    loaded = base.loaded
    try:
        return rated_fleet(loaded.catalog, loaded.spec, loaded.economics, table)
    except NoCandidates:
        return None


def _knob_values(params: dict, role: str) -> dict:
    prefix = f"{role}."
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


def _trial_tables(codesign, constants, parts, params) -> dict[str, list[dict]]:
    tables: dict[str, list[dict]] = {"accelerator": [p.entry for p in parts.values()]}
    for kind, entries in host_entries(constants).items():
        tables.setdefault(kind, []).extend(entries)
    if codesign.spec.pool is not None:
        knobs = PoolKnobs(**_knob_values(params, "pool"))
        pool_id = part_id(codesign, "pool")
        for kind, entries in pool_entries(knobs, constants, pool_id=pool_id).items():
            tables.setdefault(kind, []).extend(entries)
    return tables


def _in_role(fleet: Fleet, parts: dict[str, Part]) -> Fleet:
    """Only the columns each part's role allows: prefill-only columns of the prefill part,
    decode-only columns of the decode part (none, where a part serves no class in its role)."""
    columns = fleet.table.columns
    group = np.array(columns.group)
    keep = np.zeros(len(group), dtype=bool)
    for role, part in parts.items():
        phase = columns.prefill & ~columns.decode if role == "prefill" else (
            columns.decode & ~columns.prefill
        )  # fmt: skip
        keep |= (group == part.entry["id"]) & phase
    return replace(fleet, table=fleet.table.subset(keep))


def objective_value(objective: str, solution: Solution) -> float:
    """The value a solve contributes: its cost ($/h) or its objective (kWh/h of energy)."""
    if objective == "cost":
        return float(solution.cost_usd_per_hour)
    return float(solution.objective)


def part_summary(part: Part) -> dict:
    """What a trial records of a part: size, price, power and its catalog figures."""
    entry = part.entry
    return {
        "die_area_mm2": part.die_area_mm2,
        "tdp_w": part.tdp_w,
        "price_usd": part.price_usd,
        "dense_fp8_tflops": entry["dense_tflops"].get("fp8"),
        "memory_capacity_gb": entry["memory_capacity_gb"],
        "memory_bandwidth_tb_per_s": entry["memory_bandwidth_tb_per_s"],
        "bom_usd": dict(part.bom_usd),
    }


def fleet_summary(base: _Base, solution: Solution, parts: dict[str, Part]) -> dict:
    """One base problem's optimum for one objective, as a trial records it."""
    ids = {p.entry["id"]: role for role, p in parts.items()}
    return {
        "problem": base.loaded.spec.problem.name,
        "objective": base.objective,
        "status": solution.status,
        "value": (
            None if solution.objective is None else objective_value(base.objective, solution)
        ),
        "cost_usd_per_hour": solution.cost_usd_per_hour,
        "power_w": solution.power_w,
        "usd_per_million_output_tokens": solution.usd_per_million_output_tokens,
        "energy_j_per_token": solution.energy_j_per_token,
        "devices": dict(solution.devices),
        "hypothetical_devices": {ids[a]: n for a, n in solution.devices.items() if a in ids},
        "pools": [
            {
                "accelerator": p.accelerator,
                "phase": p.phase,
                "instances": p.instances,
                "devices": p.devices,
                "tp": p.tp,
                "precision": p.precision,
                "tier": p.tier,
                "bound": p.bound,
                "batch": max((x.batch for x in p.serves if x.batch), default=None),
            }
            for p in solution.pools
        ],  # fmt: skip
        "explanation": list(solution.explanation),
    }
