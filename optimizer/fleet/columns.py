"""The provisioning ILP in numbers, independent of any solver (docs/solver.md, Formulation).

``fleet`` fills an :class:`IlpProblem` from the performance model (or from measured
capabilities); ``search.ilp`` solves it with PuLP; ``search.exhaustive`` enumerates it for
tests; ``search.verify`` re-checks a :class:`IlpSolution` against it.

The formulation, with columns i (instance types), traffic classes k (rate λ_k requests/s) and
memory-tier pools t:

- n_i ≥ 0 integer instances; s_ik ∈ [0, 1] the share of class k's requests whose prefill (a
  prefill column), decode (a decode column) or both (an aggregated column) run on i. With
  ``whole_class`` each class is cut into ``slice_factor`` equal slices, each on one column.
- coverage, per class and phase: Σ_{i covers prefill} s_ik = 1, Σ_{i covers decode} s_ik = 1;
- load: Σ_k s_ik λ_k / μ_ik ≤ ρ · (n_i − spare · z_i) (μ_ik = ``capability``; μ = 0 means i
  cannot serve k; ρ = ``max_utilization``; z_i = 1 when column i takes any share);
- KV hand-off, for a column covering one phase only:
  Σ_k s_ik λ_k · kv_transfer_bytes_k ≤ n_i · transfer_bytes_per_s_i;
- tier pools: Σ_{i on t} (n_i · tier_gb_i + Σ_k s_ik λ_k · tier_gb_per_request_rate_ik)
  ≤ u_t · unit_gb_t, u_t integer units (≤ max_units_t when given); the traffic
  Σ_{i on t} (n_i · tier_bytes_per_s_i + Σ_k s_ik λ_k · tier_bytes_per_request_ik)
  ≤ u_t · unit_bytes_per_s_t; attached devices Σ_{i on t} n_i · devices_i
  ≤ u_t · max_devices_per_unit_t (a pooled unit's radix); and on a slot-limited pool (host
  tiers, whose memory serves only its own server's devices) each column's GB fits its own
  servers' slots, (n_i · tier_gb_i + Σ_k s_ik λ_k · tier_gb_per_request_rate_ik) / unit_gb_t
  ≤ n_i · tier_units_hosted_i;
- whole purchase units (servers, racks) of group g: Σ_{i in g} n_i devices_i ≤ m_g · S_g,
  S_g integer; the m_g·S_g − Σ n_i devices_i devices they add are paid (cost_g per device)
  and idle (idle_g per device, host share included): C and E below include them;
- IT energy rate (W): E = Σ_i n_i idle_w_i + Σ_ik (busy_w_ik − idle_w_i) s_ik λ_k / μ_ik, busy_w_ik
  the power of an instance busy with class k (``class_busy_w``);
- cost ($/h): C = Σ_i n_i cost_i + Σ_t u_t cost_t + energy_usd_per_wh · E;
- limits: Σ_i n_i busy_w_i ≤ power_w (busy_w_i = max_k busy_w_ik, the provisioned peak); ≤ racks ·
  rack_power_w;
  Σ_{i in group g} n_i devices_i ≤ devices[g]; C ≤ budget_usd_per_hour;
- objective: usd_weight · (C − energy_usd_per_wh · E) + energy_weight_per_w · E
  (+ purchase_weight · (Σ_i n_i devices_i + Σ_t u_t)), then each of ``then`` in turn with the
  objectives before it held within their solve's tolerance (lexicographic).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from optimizer.catalog.problem_spec import ObjectiveKind, SolverName


@dataclass(frozen=True)
class Classes:
    """Traffic classes: workloads of a problem, or the buckets of a measured request mix."""

    names: tuple[str, ...]
    requests_per_s: np.ndarray  # [k] λ
    kv_transfer_bytes: np.ndarray  # [k] KV one request hands from a prefill to a decode column

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class Columns:
    """Candidate instance types; arrays are indexed [i] or [i, k]."""

    names: tuple[str, ...]
    prefill: np.ndarray  # [i] bool: serves the prefill of the shares it takes
    decode: np.ndarray  # [i] bool: serves their decode (both: aggregated)
    capability: np.ndarray  # [i, k] requests/s one instance sustains within the SLOs; 0 = cannot
    cost_usd_per_hour: np.ndarray  # [i] hardware (amortized or rented) and network; no energy
    idle_w: np.ndarray  # [i] IT power of an idle instance
    busy_w: np.ndarray  # [i] IT power of a fully loaded instance (the provisioned peak)
    devices: np.ndarray  # [i] accelerators per instance
    group: tuple[str, ...]  # [i] availability group (the accelerator id)
    transfer_bytes_per_s: np.ndarray  # [i] network bandwidth for KV hand-off (one-phase columns)
    tier: tuple[str | None, ...]  # [i] memory-tier pool drawn from, None = none
    tier_gb: np.ndarray  # [i] pool GB held by each instance (KV spill space)
    tier_gb_per_request_rate: np.ndarray  # [i, k] pool GB held per request/s served (parking)
    # None (the default): no pool traffic and no slot limit
    tier_bytes_per_s: np.ndarray | None = None  # [i] pool traffic of an instance at full load
    tier_bytes_per_request: np.ndarray | None = None  # [i, k] per request (park and reload)
    tier_units_hosted: np.ndarray | None = None  # [i] units its servers' slots hold (inf)
    # [i, k] IT power of an instance busy with class k, what its work on k costs in energy
    # (None: busy_w for every class)
    class_busy_w: np.ndarray | None = None

    def __post_init__(self) -> None:
        n, k = np.shape(self.capability)
        defaults = {
            "tier_bytes_per_s": np.zeros(n),
            "tier_bytes_per_request": np.zeros((n, k)),
            "tier_units_hosted": np.full(n, np.inf),
            "class_busy_w": np.repeat(np.asarray(self.busy_w, dtype=float)[:, None], k, axis=1),
        }
        for name, default in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def busy_extra_w(self) -> np.ndarray:
        """[i, k] W an instance draws above idle while busy with class k: the energy rate E
        adds this for each unit of its work on k."""
        return self.class_busy_w - self.idle_w[:, None]

    def subset(self, keep: np.ndarray) -> Columns:
        """The columns where the boolean mask ``keep`` is true."""
        index = np.flatnonzero(keep)
        pick = lambda seq: tuple(seq[i] for i in index)  # noqa: E731
        return Columns(
            names=pick(self.names),
            prefill=self.prefill[index],
            decode=self.decode[index],
            capability=self.capability[index],
            cost_usd_per_hour=self.cost_usd_per_hour[index],
            idle_w=self.idle_w[index],
            busy_w=self.busy_w[index],
            devices=self.devices[index],
            group=pick(self.group),
            transfer_bytes_per_s=self.transfer_bytes_per_s[index],
            tier=pick(self.tier),
            tier_gb=self.tier_gb[index],
            tier_gb_per_request_rate=self.tier_gb_per_request_rate[index],
            tier_bytes_per_s=self.tier_bytes_per_s[index],
            tier_bytes_per_request=self.tier_bytes_per_request[index],
            tier_units_hosted=self.tier_units_hosted[index],
            class_busy_w=self.class_busy_w[index],
        )


@dataclass(frozen=True)
class TierPool:
    """A memory-tier pool bought in whole units."""

    name: str
    unit_gb: float
    cost_usd_per_hour_per_unit: float
    max_units: int | None = None
    unit_bytes_per_s: float = np.inf  # one unit's bandwidth
    max_devices_per_unit: int | None = None  # a pooled unit's radix; None: no attach limit
    slot_limited: bool = False  # units sit in the slots of their columns' servers (host tiers)


@dataclass(frozen=True)
class PurchaseUnit:
    """Devices of availability group ``group`` are bought in whole units of ``devices`` (a
    server, a rack): the devices a unit holds beyond the fleet's instances are paid for and
    draw idle power (``idle_w_per_device``: the device's idle and its host share)."""

    name: str  # what one unit is, e.g. "dgx-b200"
    group: str
    devices: int
    usd_per_hour_per_device: float
    idle_w_per_device: float


def idle_devices(problem, instances) -> tuple[np.ndarray, np.ndarray, dict]:
    """($/h, W, {unit name: (units, idle devices)}) of the devices that whole purchase units
    add beyond ``instances`` ([i] or [c, i]): each group's devices rounded up to whole units."""
    n = np.asarray(instances, dtype=np.float64)
    usd = np.zeros(n.shape[:-1])
    watts = np.zeros(n.shape[:-1])
    bought = {}
    for unit in problem.purchase_units:
        member = np.array([g == unit.group for g in problem.columns.group])
        used = n[..., member] @ problem.columns.devices[member]
        units = np.ceil(used / unit.devices - 1e-9)
        idle = units * unit.devices - used
        usd = usd + idle * unit.usd_per_hour_per_device
        watts = watts + idle * unit.idle_w_per_device
        bought[unit.name] = (units, idle)
    return usd, watts, bought


@dataclass(frozen=True)
class Limits:
    """Side constraints; None = unconstrained."""

    power_w: float | None = None  # peak IT power
    racks: int | None = None
    rack_power_w: float | None = None  # with ``racks``: the power one rack can feed
    devices: Mapping[str, int] = field(default_factory=dict)  # per group
    budget_usd_per_hour: float | None = None


@dataclass(frozen=True)
class Objective:
    """``usd_weight`` × fixed $/h + ``energy_weight_per_w`` × average IT power (W) +
    ``purchase_weight`` × (devices + tier units bought) + ``peak_weight_per_w`` × peak IT power
    (W; a price on the power limit, for the Lagrangian parts of search.ilp)."""

    kind: ObjectiveKind
    usd_weight: float
    energy_weight_per_w: float
    units: str  # e.g. "usd_per_hour", "kwh_per_hour"
    purchase_weight: float = 0.0
    peak_weight_per_w: float = 0.0


@dataclass(frozen=True)
class SolverSettings:
    name: SolverName = SolverName.HIGHS
    time_limit_s: float | None = None
    gap_rel: float = 0.0
    seed: int = 0
    progress: bool = False  # elapsed, incumbent and bound of long HiGHS solves on stderr
    label: str = "fleet"  # what the solve is for, in progress lines
    # HiGHS: a later objective's stage is skipped when a check proves it cannot improve
    skip_proven_stages: bool = True
    # and, on a spare core, each stage races its check; off in single-thread callers, where
    # checks run before their stages
    race_checks: bool = True
    # and, on cores of their own, the first such checks run beside a first stage started from
    # a baseline's fleet (wasted where the stage improves on its start)
    checks_beside_first_stage: bool = True


@dataclass(frozen=True)
class IlpProblem:
    classes: Classes
    columns: Columns
    objective: Objective
    pools: tuple[TierPool, ...] = ()
    limits: Limits = Limits()
    energy_usd_per_wh: float = 0.0  # electricity × PUE for owned hardware, 0 for rented
    whole_class: bool = False
    slice_factor: int = 1
    solver: SolverSettings = SolverSettings()
    # minimized in turn after ``objective``, each with the ones before held at their optimum
    then: tuple[Objective, ...] = ()
    max_utilization: float = 1.0  # the share of an instance's capability it may carry
    spare_instances: int = 0  # beyond the load, in every column the fleet uses
    purchase_units: tuple[PurchaseUnit, ...] = ()  # whole servers or racks per group


class Status(StrEnum):
    OPTIMAL = "optimal"  # proven within the requested gap
    FEASIBLE = "feasible"  # stopped (time limit) with an incumbent
    INFEASIBLE = "infeasible"  # proven, or no incumbent when stopped


@dataclass(frozen=True)
class IlpSolution:
    """What a solve found. Arrays are None when there is no incumbent."""

    status: Status
    solver: str
    wall_s: float
    objective: float | None = None
    bound: float | None = None  # best proven lower bound on the objective
    gap: float | None = None  # (objective − bound) / |objective|
    instances: np.ndarray | None = None  # [i] integer
    share: np.ndarray | None = None  # [i, k]; whole-class: slices summed / slice_factor
    pool_units: Mapping[str, int] = field(default_factory=dict)
    explanation: tuple[str, ...] = ()  # why infeasible: which constraint, by how much
    n_variables: int = 0
    n_constraints: int = 0
    parts: int = 1  # separate ILPs it was solved as (search.parts)
    coupled: bool = False  # the parts were then solved together, warm-started
    fallback: str | None = None  # why the other solver answered instead (search.ilp)
