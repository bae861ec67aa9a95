"""The answer of ``hetplan solve`` as typed records that serialize to versioned JSON."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from optimizer.catalog.loader import UnreadableFileError, read_input
from optimizer.errors import InputFileError, Problem
from optimizer.output import write_text_atomic
from optimizer.results import Verdict

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Share:
    """One class's load on one pool."""

    name: str  # the traffic class
    share: float  # of the class's requests (of its prefill, decode or both, by the pool's phase)
    requests_per_s: float
    batch: float | None
    ttft_s: float | None
    tpot_s: float | None
    bound: str | None  # what limits the operating point (a perf.bound.Bound label)
    step_bound: str | None  # the largest term of its step: compute, bandwidth or interconnect


@dataclass(frozen=True)
class Pool:
    """Instances of one candidate type in the fleet."""

    name: str
    accelerator: str
    phase: str
    instances: int
    devices: int
    tp: int | None
    ep: int | None
    precision: str | None
    kv_precision: str | None
    tier: str | None
    tier_use: str | None
    tier_gb_per_device: float
    utilization: float  # load / instances
    cost_usd_per_hour: float  # all its instances, energy excluded
    power_w: float  # all its instances at full load
    bound: str | None  # the wall of its largest share
    step_bound: str | None
    serves: tuple[Share, ...]
    price_source: str | None = None  # the entry and field its price comes from
    compute_dtype: str | None = None  # the tensor dtype its math runs at
    dp: int | None = None  # attention data-parallel ranks (devices = instances × tp × dp)
    engine: str | None = None  # the serving engine it was rated on (measured pools: None)


@dataclass(frozen=True)
class TierPoolUse:
    tier: str
    units: int
    gb: float
    gb_used: float
    cost_usd_per_hour: float
    gb_per_s: float | None = None  # the units' bandwidth (None: not limited)
    gb_per_s_used: float = 0.0  # spill at full load and park traffic of the fleet
    devices: int = 0  # attached
    max_devices: int | None = None  # units × a pooled unit's radix


@dataclass(frozen=True)
class WorkloadResult:
    name: str
    model: str | None
    workload: str | None
    requests_per_s: float
    ttft_slo_s: float | None
    tpot_slo_s: float | None
    percentile: float | None
    ttft_s: float | None  # at the SLO percentile, the worst over the pools that serve it
    tpot_s: float | None
    disaggregated_share: float  # of its requests handed from a prefill to a decode pool
    ttft_p50_s: float | None = None  # medians, the worst over the pools
    tpot_p50_s: float | None = None
    # its share of the fleet's cost and average IT power (by the work it puts on each pool,
    # a pool's tier cost by the GB it holds), per output token; None without token counts
    usd_per_million_output_tokens: float | None = None
    energy_j_per_output_token: float | None = None


@dataclass(frozen=True)
class Baseline:
    name: str
    applicable: bool
    description: str
    status: str | None = None
    objective: float | None = None
    cost_usd_per_hour: float | None = None
    power_w: float | None = None
    saving_pct: float | None = None  # of the optimum against this fleet
    within_gap: bool = False  # the saving is no larger than the solves' unproven gaps
    pools: tuple[str, ...] = ()


@dataclass(frozen=True, repr=False)
class Solution(Verdict):
    """The fleet a problem gets (or why none), its totals, baselines and assumptions."""

    problem: str
    problem_file: str
    problem_fingerprint: str
    catalog_fingerprint: str
    status: str
    objective_kind: str
    objective_units: str
    wall_s: float
    solver: dict
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    cost_usd_per_hour: float | None = None
    cost_breakdown: dict = field(default_factory=dict)
    power_w: float | None = None  # peak IT power: every instance at full load
    average_power_w: float | None = None  # IT power at the served load
    facility_power_w: float | None = None  # peak × PUE
    energy_j_per_token: float | None = None  # average IT power / output tokens per second
    usd_per_million_output_tokens: float | None = None  # cost per hour / output tokens per hour
    # whole systems bought: name -> {"accelerator", "devices_per_unit", "units",
    # "idle_devices" (in them, used by no instance)}
    systems: dict = field(default_factory=dict)
    devices: dict = field(default_factory=dict)
    pools: tuple[Pool, ...] = ()
    tier_pools: tuple[TierPoolUse, ...] = ()
    workloads: tuple[WorkloadResult, ...] = ()
    baselines: tuple[Baseline, ...] = ()
    explanation: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    schema_version: int = SCHEMA_VERSION
    _REPR_FIELDS = ("problem", "objective", "cost_usd_per_hour")

    @property
    def message(self) -> str:
        """The verdict in one line: the objective reached, or why there is no fleet."""
        if self.objective is None:
            return "; ".join(self.explanation) or "no fleet"
        gap = f", gap {self.gap:.2%}" if self.gap is not None else ""
        return f"{self.objective_kind} {self.objective:.6g} {self.objective_units}{gap}"

    def save(self, path: str | Path, *, force: bool = False) -> Path:
        """Write the JSON atomically; an existing file is only replaced with ``force``."""
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"
        return write_text_atomic(Path(path), text, force=force)

    @classmethod
    def from_dict(cls, data: dict) -> Solution:
        """The solution a ``to_dict`` wrote (the verdict's derived keys are ignored), every
        field checked against its type.

        Raises:
            pydantic.ValidationError: a field of the wrong type, however deeply nested.
        """
        given = {k: v for k, v in data.items() if k not in ("success", "message")}
        return _adapter().validate_python(given)


@cache
def _adapter():
    from pydantic import TypeAdapter

    return TypeAdapter(Solution)


MAX_SOLUTION_PROBLEMS = 20
"""The most problems listed for one invalid solution file (the rest are counted)."""
_REQUIRED = ("problem", "status", "objective_kind", "objective_units", "wall_s", "solver")
_Scalar = str | int | float | bool | None


class WholeUnits(BaseModel):
    """What a solution's ``systems`` says of one kind of system bought in whole units."""

    model_config = ConfigDict(strict=True)

    accelerator: str
    devices_per_unit: int
    units: int
    idle_devices: int


class _Untyped(BaseModel):
    """The shapes of the mappings a :class:`Solution` types only as ``dict``; other keys are
    the Solution's own to check."""

    model_config = ConfigDict(strict=True, extra="ignore")

    solver: dict[str, _Scalar]
    cost_breakdown: dict[str, float | None] = {}
    systems: dict[str, WholeUnits] = {}
    devices: dict[str, int] = {}


def read_solution(path: str | Path) -> Solution:
    """A solution file as ``solve --out`` wrote it, read like every other input: a regular file
    of at most ``MAX_INPUT_BYTES``, strict JSON (no NaN, no ±Infinity, no number that overflows
    a float), this hetplan's ``schema_version``, and every field of its type, booleans, numbers
    and strings taken only as themselves.

    Raises:
        InputFileError: one ``FILE: ENTRY: FIELD: message`` problem per wrong field.
    """
    name = str(path)
    try:
        data = json.loads(
            read_input(Path(path)), parse_constant=_refuse, parse_float=_finite, parse_int=_int
        )
    except UnreadableFileError as exc:
        raise InputFileError([Problem(name, "", "", str(exc))]) from None
    except RecursionError:
        raise InputFileError([Problem(name, "", "", "nested too deeply to read")]) from None
    except (UnicodeDecodeError, ValueError) as exc:  # ValueError: not JSON, a 5,000-digit int
        why = f"not a solution JSON file ({exc})"
        raise InputFileError([Problem(name, "", "", why)]) from None
    _check_header(data, name)
    given = {k: v for k, v in data.items() if k not in ("success", "message")}
    try:
        _Untyped.model_validate(given)
        return _adapter().validate_json(json.dumps(given), strict=True)
    except ValidationError as exc:
        raise InputFileError(_problems(name, exc.errors())) from None


def _refuse(constant: str):
    raise ValueError(f"{constant} is not a JSON number")


def _int(text: str) -> int:
    """A JSON integer of at most 15 digits: beyond that no count or float field is meant."""
    if len(text.lstrip("-")) > 15:
        raise ValueError(f"an integer of {len(text.lstrip('-')):,} digits; at most 15 are read")
    return int(text)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} overflows a float")
    return value


def _check_header(data, name: str) -> None:
    """A JSON object with this hetplan's schema version and every required key."""
    if not isinstance(data, dict) or "schema_version" not in data:
        raise InputFileError([Problem(name, "", "", "not a hetplan solution (no schema_version)")])
    version = data["schema_version"]
    if type(version) is not int or version != SCHEMA_VERSION:
        why = f"schema_version {json.dumps(version)[:20]}; this hetplan reads {SCHEMA_VERSION}"
        raise InputFileError([Problem(name, "", "", why)])
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise InputFileError([Problem(name, "", k, "required field missing") for k in missing])


def _problems(name: str, errors: list[dict]) -> list[Problem]:
    """One problem per pydantic error, at most ``MAX_SOLUTION_PROBLEMS`` and a count of the rest;
    the wrong value itself is not echoed (it may be long)."""
    out = [
        Problem(name, "", ".".join(str(part) for part in e["loc"]), e["msg"])
        for e in errors[:MAX_SOLUTION_PROBLEMS]
    ]
    if len(errors) > MAX_SOLUTION_PROBLEMS:
        out.append(Problem(name, "", "", f"and {len(errors) - MAX_SOLUTION_PROBLEMS} more"))
    return out
