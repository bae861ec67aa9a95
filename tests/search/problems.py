"""Problem builders for the search tests: columns from plain lists, and seeded random tiny ILPs
that vary every feature of the formulation (columns.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from optimizer.catalog.problem_spec import ObjectiveKind, SolverName
from optimizer.fleet.columns import (
    Classes,
    Columns,
    IlpProblem,
    Limits,
    Objective,
    PurchaseUnit,
    SolverSettings,
    TierPool,
)

COST = Objective(ObjectiveKind.COST, usd_weight=1.0, energy_weight_per_w=0.0, units="usd_per_hour")
ENERGY = Objective(ObjectiveKind.ENERGY, usd_weight=0.0, energy_weight_per_w=1.0, units="w")


def make_columns(
    capability,
    *,
    phases=None,
    cost_usd_per_hour=None,
    idle_w=None,
    busy_w=None,
    devices=None,
    group=None,
    transfer_bytes_per_s=None,
    tier=None,
    tier_gb=None,
    tier_gb_per_request_rate=None,
    tier_bytes_per_s=None,
    tier_bytes_per_request=None,
    tier_units_hosted=None,
    names=None,
) -> Columns:
    """Columns with defaults for whatever a test does not set (aggregated, $1/h, no power)."""
    capability = np.asarray(capability, dtype=float)
    n, k = capability.shape
    phases = phases or ["aggregated"] * n

    def array(values, default):
        return np.full(n, default, dtype=float) if values is None else np.asarray(values, float)

    return Columns(
        names=tuple(names or (f"col{i}" for i in range(n))),
        prefill=np.array([p in ("prefill", "aggregated") for p in phases]),
        decode=np.array([p in ("decode", "aggregated") for p in phases]),
        capability=capability,
        cost_usd_per_hour=array(cost_usd_per_hour, 1.0),
        idle_w=array(idle_w, 0.0),
        busy_w=array(busy_w, 0.0),
        devices=array(devices, 1.0),
        group=tuple(group or (f"acc{i}" for i in range(n))),
        transfer_bytes_per_s=array(transfer_bytes_per_s, np.inf),
        tier=tuple(tier or [None] * n),
        tier_gb=array(tier_gb, 0.0),
        tier_gb_per_request_rate=(
            np.zeros((n, k))
            if tier_gb_per_request_rate is None
            else np.asarray(tier_gb_per_request_rate, float)
        ),
        tier_bytes_per_s=tier_bytes_per_s,
        tier_bytes_per_request=tier_bytes_per_request,
        tier_units_hosted=tier_units_hosted,
    )


def make_classes(requests_per_s, kv_transfer_bytes=None, names=None) -> Classes:
    rates = np.asarray(requests_per_s, dtype=float)
    kv = np.zeros(len(rates)) if kv_transfer_bytes is None else np.asarray(kv_transfer_bytes)
    return Classes(
        names=tuple(names or (f"class{k}" for k in range(len(rates)))),
        requests_per_s=rates,
        kv_transfer_bytes=kv.astype(float),
    )


def random_problem(seed: int) -> tuple[IlpProblem, bool]:
    """A tiny random problem (≤ 4 columns, ≤ 3 classes, ≤ 3 instances a column) and whether to
    solve it for one group; odd seeds use HiGHS, even ones CBC."""
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 5)), int(rng.integers(1, 4))
    phases = list(rng.choice(["aggregated", "prefill", "decode"], size=n, p=[0.4, 0.3, 0.3]))
    one_sided = "aggregated" not in phases and not {"prefill", "decode"} <= set(phases)
    if one_sided and rng.random() < 0.85:  # mostly problems every phase can be served in
        phases[0] = "aggregated"
    rates = rng.uniform(0.5, 3.0, k)
    work = rng.uniform(0.3, 2.5, (n, k)) / k  # instances one column needs per class
    capability = np.where(rng.random((n, k)) < 0.12, 0.0, rates / work)
    kv = np.where(rng.random(k) < 0.4, 0.0, rng.uniform(1e8, 1e9, k))
    link = rng.uniform(0.4, 2.0, n) * max(float((rates * kv).max()), 1.0)
    link = np.where(rng.random(n) < 0.4, np.inf, np.where(rng.random(n) < 0.1, 0.0, link))
    idle = rng.uniform(50, 300, n)
    one_phase = np.array([p != "aggregated" for p in phases])
    groups = [f"g{g}" for g in rng.integers(0, 3, n)]

    pools: list[TierPool] = []
    tiers: list[str | None] = [None] * n
    tier_gb = np.zeros(n)
    parked = np.zeros((n, k))
    if rng.random() < 0.35:
        for t in range(int(rng.integers(1, 3))):
            max_units = None if rng.random() < 0.5 else int(rng.integers(0, 4))
            pool = TierPool(f"pool{t}", rng.uniform(50, 200), rng.uniform(0.1, 2.0), max_units)
            pools.append(pool)
        for i in range(n):
            if rng.random() < 0.7:
                tiers[i] = pools[int(rng.integers(0, len(pools)))].name
                tier_gb[i] = 0.0 if rng.random() < 0.3 else rng.uniform(10, 100)
                parked[i] = np.where(rng.random(k) < 0.5, 0.0, rng.uniform(1, 40, k))

    # pool bandwidth, radix and slots from their own stream, so the draws above stay put
    extra = np.random.default_rng(seed + 1_000_003)
    spill_bw = np.zeros(n)
    park_bytes = np.zeros((n, k))
    hosted = np.full(n, np.inf)
    for t, pool in enumerate(pools):
        unit_bw = extra.uniform(50.0, 300.0) if extra.random() < 0.5 else np.inf
        radix = int(extra.integers(1, 9)) if extra.random() < 0.4 else None
        limited = bool(extra.random() < 0.4)
        pools[t] = replace(pool, unit_bytes_per_s=unit_bw, max_devices_per_unit=radix,
                           slot_limited=limited)  # fmt: skip
    limited = {pool.name for pool in pools if pool.slot_limited}
    for i in range(n):
        if tiers[i] is not None:
            spill_bw[i] = 0.0 if extra.random() < 0.4 else extra.uniform(10.0, 150.0)
            park_bytes[i] = np.where(extra.random(k) < 0.5, 0.0, extra.uniform(5.0, 60.0, k))
            hosted[i] = float(extra.integers(0, 4)) if tiers[i] in limited else np.inf

    cost = rng.uniform(0.5, 5.0, n)
    busy = idle + rng.uniform(0, 700, n)
    devices = rng.choice([1, 2, 4, 8], n)
    link = np.where(one_phase, link, np.inf)
    if n >= 2 and rng.random() < 0.4:  # the last column a copy of the first, worse or traded
        phases[-1], groups[-1], tiers[-1] = phases[0], groups[0], tiers[0]
        worse = 1.0 if rng.random() < 0.3 else rng.uniform(1.0, 1.3)
        capability[-1] = capability[0] / worse
        cost[-1], idle[-1], busy[-1] = cost[0] * worse, idle[0] * worse, busy[0] * worse
        devices[-1], link[-1] = devices[0] * (2 if worse > 1.2 else 1), link[0] / worse
        tier_gb[-1], parked[-1] = tier_gb[0] * worse, parked[0] * worse
        spill_bw[-1], park_bytes[-1] = spill_bw[0] * worse, park_bytes[0] * worse
        hosted[-1] = hosted[0] if worse == 1.0 else np.floor(hosted[0] / worse)
        if rng.random() < 0.5:  # but better in one thing: a trade, not dominated
            better = rng.uniform(0.5, 0.9)
            trade = rng.choice(["cost", "idle", "busy", "devices", "link", "capability"])
            if trade == "cost":
                cost[-1] = cost[0] * better
            elif trade == "idle":
                idle[-1] = idle[0] * better
            elif trade == "busy":
                busy[-1] = max(busy[0] * better, idle[-1])
            elif trade == "devices":
                devices[-1] = devices[0] // 2 if devices[0] > 1 else devices[-1]
            elif trade == "link":
                link[-1] = link[0] / better
            else:
                capability[-1, int(rng.integers(0, k))] /= better
            if tiers[0] is not None and rng.random() < 0.5:
                tier_gb[-1], parked[-1] = tier_gb[0] * better, parked[0] * better

    columns = make_columns(
        capability,
        phases=phases,
        cost_usd_per_hour=cost,
        idle_w=idle,
        busy_w=busy,
        devices=devices,
        group=groups,
        transfer_bytes_per_s=link,
        tier=tiers,
        tier_gb=tier_gb,
        tier_gb_per_request_rate=parked,
        tier_bytes_per_s=spill_bw,
        tier_bytes_per_request=park_bytes,
        tier_units_hosted=hosted,
    )
    # power by class from a third stream: serving some classes draws less than the peak
    third = np.random.default_rng(seed + 2_000_003)
    if third.random() < 0.5:
        share = third.uniform(0.2, 1.0, (n, k))
        share[:, int(third.integers(0, k))] = 1.0  # one class draws the peak
        if n >= 2 and phases[-1] == phases[0] and groups[-1] == groups[0]:
            share[-1] = share[0]  # a copy of the first draws as it does
        by_class = columns.idle_w[:, None] + share * (columns.busy_w - columns.idle_w)[:, None]
        columns = replace(columns, class_busy_w=by_class)
    # electricity dearer than real (up to $4/kWh) so its share of cost and budget decides
    energy_usd_per_wh = 0.0 if rng.random() < 0.4 else rng.uniform(1e-4, 4e-3)
    kind = rng.choice(["cost", "energy", "weighted"])
    if kind == "cost":  # the fleet layer puts electricity into the energy weight
        objective = Objective(ObjectiveKind.COST, 1.0, energy_usd_per_wh, "usd_per_hour")
    elif kind == "energy":
        objective = ENERGY
    else:
        weight = energy_usd_per_wh + rng.uniform(1e-4, 2e-3)
        objective = Objective(ObjectiveKind.WEIGHTED, 1.0, weight, "usd_per_hour")

    scale_w = float(np.mean(columns.busy_w)) * max(n, 2)
    devices = {g: int(rng.integers(0, 9)) for g in sorted(set(groups)) if rng.random() < 0.3}
    racks = int(rng.integers(1, 4)) if rng.random() < 0.2 else None
    limits = Limits(
        power_w=rng.uniform(0.4, 2.0) * scale_w if rng.random() < 0.35 else None,
        racks=racks,
        rack_power_w=rng.uniform(500, 2500) if racks else None,
        devices=devices,
        budget_usd_per_hour=rng.uniform(2.0, 15.0) if rng.random() < 0.3 else None,
    )
    whole_class = bool(rng.random() < 0.35)
    headroom = extra.uniform(0.5, 1.0) if extra.random() < 0.3 else 1.0
    spare = int(extra.random() < 0.15)
    units = ()
    if extra.random() < 0.3:  # whole servers: devices beyond the instances paid and idle, at
        # no more per device than any member instance (else an idle instance would pay less)
        per_device = lambda v, g: min(  # noqa: E731
            v[i] / columns.devices[i] for i in range(n) if groups[i] == g
        )
        units = tuple(
            PurchaseUnit(
                f"server-{g}",
                g,
                int(extra.integers(2, 9)),
                per_device(columns.cost_usd_per_hour, g) * extra.uniform(0.3, 1.0),
                per_device(columns.idle_w, g) * extra.uniform(0.3, 1.0),
            )  # fmt: skip
            for g in sorted(set(groups))
        )
    problem = IlpProblem(
        classes=make_classes(rates, kv),
        columns=columns,
        objective=objective,
        pools=tuple(pools),
        limits=limits,
        energy_usd_per_wh=energy_usd_per_wh,
        whole_class=whole_class,
        slice_factor=int(rng.integers(1, 4)) if whole_class else 1,
        solver=SolverSettings(name=SolverName.HIGHS if seed % 2 else SolverName.CBC),
        max_utilization=headroom,
        spare_instances=spare,
        purchase_units=units,
    )
    return problem, bool(rng.random() < 0.25)


def with_twin_group(problem: IlpProblem, cost_factor, suffix: str = "twin") -> IlpProblem:
    """The problem with every column repeated in a twin group ``<group>-<suffix>``, alike but
    for its price, ``cost_factor`` times the original's (one factor, or one per column)."""
    columns = problem.columns
    twin = {
        "names": columns.names + tuple(f"{n}-{suffix}" for n in columns.names),
        "group": columns.group + tuple(f"{g}-{suffix}" for g in columns.group),
        "cost_usd_per_hour": np.concatenate(
            [columns.cost_usd_per_hour, columns.cost_usd_per_hour * cost_factor]
        ),
    }
    doubled = {
        name: np.concatenate([value, value]) if isinstance(value, np.ndarray) else value + value
        for name, value in vars(columns).items()
        if name not in twin
    }
    return replace(problem, columns=type(columns)(**doubled, **twin))
