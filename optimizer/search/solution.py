"""The answer of ``hetplan solve`` as typed records that serialize to versioned JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from optimizer.errors import HetplanError
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


_REQUIRED = ("problem", "status", "objective_kind", "objective_units", "wall_s", "solver")


def read_solution(path: str | Path) -> Solution:
    """A saved solution, checked for its schema version and completeness."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise HetplanError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: bad JSON
        raise HetplanError(f"{path}: not a solution JSON file ({exc})") from None
    if not isinstance(data, dict) or "schema_version" not in data:
        raise HetplanError(f"{path}: not a hetplan solution (no schema_version)")
    if data["schema_version"] != SCHEMA_VERSION:
        raise HetplanError(
            f"{path}: schema_version {data['schema_version']!r}; this hetplan reads "
            f"{SCHEMA_VERSION}"
        )
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise HetplanError(f"{path}: not a complete solution, missing {', '.join(missing)}")
    from pydantic import ValidationError

    try:
        return Solution.from_dict(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()[:5]
        )
        raise HetplanError(f"{path}: not a valid solution: {problems}") from None
