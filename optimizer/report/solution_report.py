"""Readable renderings of solutions (dicts in the solution JSON schema): one solve, or several
side by side. Reads results only; nothing here computes the model."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from optimizer.perf.bound import Bound


def _num(x, fmt: str = ",.2f", unit: str = "") -> str:
    return "—" if x is None else f"{x:{fmt}}{unit}"


def _parallel(p: dict) -> str:
    if p["tp"] is None:
        return f"{p['devices'] // max(p['instances'], 1)} dev"
    dp = f" dp{p['dp']}" if (p.get("dp") or 1) > 1 else ""
    return f"tp{p['tp']}{dp}" + (f" ep{p['ep']}" if p["ep"] and p["ep"] > 1 else "")


def render_solution(s: dict, out: Console, *, verbose: bool = False) -> None:
    """Status and objective, pools, per-workload latency against the SLOs, cost, power,
    baselines, then notes and the assumptions (in full with ``verbose``, else counted). Fits
    a 120-column terminal; long lists wrap, never cut."""
    gap = f", gap {s['gap']:.2%}" if s.get("gap") is not None else ""
    out.print(
        Text(s["problem"], style="bold"),
        f": {s['status']}{gap} — {s['objective_kind']} "
        f"{_num(s.get('objective'), ',.3f')} {s['objective_units']}\n"
        f"  solved in {s['wall_s']:.2f} s by {s['solver']['name']}, "
        f"{s['solver']['columns']} of {s['solver']['columns_generated']} candidate columns kept"
        + _parts(s["solver"]),
        sep="",
    )
    if s["status"] == "infeasible":
        for line in s["explanation"]:
            out.print(f"  infeasible: {line}")
        return
    out.print(_pools_table(s))
    legend = _wall_legend(s)
    if legend:
        out.print(legend, markup=False)
    out.print(_workloads_table(s))
    b = s["cost_breakdown"]
    out.print(
        f"cost {_num(s['cost_usd_per_hour'], ',.2f')} $/h = hardware {b['hardware']:,.2f} + "
        f"network {b['network']:,.2f} + memory tiers {b['memory_tiers']:,.2f} + "
        f"energy {b['energy']:,.2f}"
        + (
            f"; {s['usd_per_million_output_tokens']:,.3f} $ per million output tokens"
            if s.get("usd_per_million_output_tokens") is not None
            else ""
        )
    )
    devices = ", ".join(f"{n} × {a}" for a, n in s["devices"].items())
    per_token = (
        f", {s['energy_j_per_token']:.3f} J per output token"
        if s.get("energy_j_per_token") is not None
        else ""
    )
    if _power_unknown(s):
        out.print(f"power not given (measured capabilities without power_w); devices: {devices}")
    else:
        out.print(
            f"power {s['power_w'] / 1e3:,.1f} kW peak IT ({s['facility_power_w'] / 1e3:,.1f} kW "
            f"facility), {s['average_power_w'] / 1e3:,.1f} kW average{per_token}; "
            f"devices: {devices}"
        )
    if s.get("systems"):
        bought = ", ".join(f"{v['units']} × {k} ({v['idle_devices']} devices idle)"
                           for k, v in s["systems"].items())  # fmt: skip
        out.print(
            f"bought in whole units (servers, racks, cloud instances): {bought}", markup=False
        )
    engines = {p["accelerator"]: p["engine"] for p in s["pools"] if p.get("engine")}
    if engines:
        served = ", ".join(f"{acc} on {engine}" for acc, engine in engines.items())
        out.print(f"serving engines: {served}", markup=False)
    prices = {p["accelerator"]: p for p in s["pools"] if p.get("price_source") and p["devices"]}
    for accelerator, p in prices.items():
        per_device = p["cost_usd_per_hour"] / p["devices"]
        out.print(f"price {accelerator}: {per_device:,.3f} $/h per device, from "
                  f"{p['price_source']}", markup=False)  # fmt: skip
    for t in s["tier_pools"]:
        out.print(
            f"tier pool {t['tier']}: {t['units']} units = {t['gb']:,.0f} GB "
            f"({t['gb_used']:,.0f} GB used), {t['cost_usd_per_hour']:,.2f} $/h"
            + (
                f"; {t['gb_per_s_used']:,.0f} of {t['gb_per_s']:,.0f} GB/s"
                if t.get("gb_per_s") is not None
                else ""
            )
            + (
                f"; {t['devices']} of {t['max_devices']} devices attached"
                if t.get("max_devices") is not None
                else ""
            )
        )
    out.print(_baselines_table(s))
    for b in s["baselines"]:
        if b["applicable"] and b["status"] != "infeasible" and b["pools"]:
            out.print(f"  {b['name']} fleet: {', '.join(b['pools'])}", markup=False)
    for line in s["notes"]:
        out.print(f"  note: {line}", markup=False)
    if verbose:
        for line in s["assumptions"]:
            out.print(f"  assumption: {line}", markup=False)
    elif s["assumptions"]:
        n = len(s["assumptions"])
        out.print(f"  {n} modelling assumption{'s' if n > 1 else ''} (docs/model.md); --verbose "
                  f"prints {'them' if n > 1 else 'it'}")  # fmt: skip


_WALL_CODES = {
    Bound.COMPUTE: "C",
    Bound.BANDWIDTH: "B",
    Bound.INTERCONNECT: "I",
    Bound.CAPACITY: "K",
    Bound.SLO: "S",
}


def _wall(p: dict) -> str:
    """The binding wall as a short code (``_wall_legend`` spells them out), with the step's own
    wall after a slash when an SLO or capacity cut the batch: ``S/B``."""
    if not p["bound"]:
        return "—"
    bound = Bound.from_label(p["bound"])
    code = _WALL_CODES[bound]
    if bound in (Bound.SLO, Bound.CAPACITY) and p.get("step_bound"):
        code += "/" + _WALL_CODES[Bound.from_label(p["step_bound"])]
    return code


def _precision(p: dict) -> str:
    """The stored precision, and the dtype its math runs at where the device falls back to a
    wider one (fp4 weights on MI300X compute at fp8: ``fp4→fp8``)."""
    stored, math_dtype = p["precision"], p.get("compute_dtype")
    if stored is None:
        return "—"
    return stored if not math_dtype or math_dtype == stored else f"{stored}→{math_dtype}"


def _wall_legend(s: dict) -> str:
    """The codes the pool table uses, in OI/CF terms."""
    used = {
        Bound.from_label(label)
        for p in s["pools"]
        for label in (p["bound"], p.get("step_bound"))
        if label
    }
    parts = [f"{_WALL_CODES[b]} = {b.meaning}" for b in Bound if b in used]
    if any("/" in _wall(p) for p in s["pools"]):
        parts.append("X/Y: X cut the batch, the step is Y-bound")
    return "wall: " + "; ".join(parts) if parts else ""


def _power_unknown(s: dict) -> bool:
    """A measured problem whose instances state no power: 0 W would read as a measurement."""
    return s["power_w"] == 0 and all(p["phase"] == "measured" for p in s["pools"])


def _pools_table(s: dict) -> Table:
    t = Table(title="pools")
    for col in ("pool", "phase", "n", "parallel", "precision", "tier", "util",
                "batch", "$/h", "kW", "wall"):  # fmt: skip
        t.add_column(col, justify="right" if col in {"n", "util", "$/h", "kW"} else "left")
    for p in s["pools"]:
        tier = "—"
        if p["tier"]:
            size = f" {p['tier_gb_per_device']:g} GB/dev" if p["tier_use"] == "spill" else ""
            tier = f"{p['tier']} {p['tier_use']}{size}"
        batches = ", ".join(
            f"{x['batch']:,.1f}".removesuffix(".0") for x in p["serves"] if x["batch"] is not None
        )
        t.add_row(
            p["accelerator"], p["phase"], str(p["instances"]), _parallel(p),
            _precision(p), tier, f"{p['utilization']:.0%}", batches or "—",
            f"{p['cost_usd_per_hour']:,.2f}", f"{p['power_w'] / 1e3:,.1f}",
            _wall(p),
        )  # fmt: skip
    return t


def _workloads_table(s: dict) -> Table:
    """Per class: TTFT and TPOT at p50 and at the SLO percentile (the pools' worst) against
    their targets, the share handed from prefill to decode pools, $/M output tokens, J/token."""
    pct = {w["percentile"] for w in s["workloads"] if w["percentile"] is not None}
    at = f"p{pct.pop():g}" if len(pct) == 1 else "pSLO"
    t = Table(title="workloads (latency of the slowest pool serving each class, at its rated "
                    "operating point)")  # fmt: skip
    width = max((len(w["name"]) for w in s["workloads"]), default=5)
    t.add_column("class", no_wrap=True, min_width=width)
    for col in ("req/s", f"TTFT ms p50 / {at} ≤ target", f"TPOT ms p50 / {at} ≤ target",
                "P→D", "$/M tok", "J/tok"):  # fmt: skip
        t.add_column(col, justify="right")
    for w in s["workloads"]:
        t.add_row(
            w["name"], f"{w['requests_per_s']:,.2f}",
            _latency(w["ttft_p50_s"], w["ttft_s"], w["ttft_slo_s"]),
            _latency(w["tpot_p50_s"], w["tpot_s"], w["tpot_slo_s"]),
            f"{w['disaggregated_share']:.0%}",
            _num(w.get("usd_per_million_output_tokens"), ",.3f"),
            _num(w.get("energy_j_per_output_token"), ".3f"),
        )  # fmt: skip
    return t


def _latency(p50_s, q_s, target_s) -> str:
    """``p50 / quantile ≤ target`` in ms (— where a figure does not apply)."""
    ms = lambda x: "—" if x is None else f"{x * 1e3:,.1f}"  # noqa: E731
    return f"{ms(p50_s)} / {ms(q_s)}" + ("" if target_s is None else f" ≤ {target_s * 1e3:,.0f}")


def _baselines_table(s: dict) -> Table:
    t = Table(title=f"baselines (objective in {s['objective_units']}; fleets below)")
    for col in ("baseline", "objective", "$/h", "saving of the optimum", "what it is"):
        t.add_column(col)
    for b in s["baselines"]:
        if not b["applicable"]:
            t.add_row(b["name"], "not applicable", "", "", b["description"])
            continue
        if b["status"] == "infeasible":
            t.add_row(b["name"], "infeasible", "", "", b["description"])
            continue
        t.add_row(
            b["name"], _num(b["objective"], ",.3f"), _num(b["cost_usd_per_hour"]),
            "within the gap" if b.get("within_gap") else _num(b["saving_pct"], ".1f", " %"),
            b["description"],
        )  # fmt: skip
    return t


def _parts(solver: dict) -> str:
    """How the optimum was solved when not as one ILP (docs/solver.md, Parts)."""
    parts = solver.get("parts", 1)
    if parts <= 1:
        return ""
    return f", {parts} parts" + (" then as one" if solver.get("coupled") else "")


def _breakdown(s: dict, part: str) -> str:
    value = (s.get("cost_breakdown") or {}).get(part)
    return _num(value)


def render_comparison(solutions: list[tuple[str, dict]], out: Console) -> None:
    """Several solutions side by side: one column each."""
    t = Table(title="comparison")
    t.add_column("")
    for label, _ in solutions:
        t.add_column(label)
    rows = [
        ("status", lambda s: s["status"]),
        ("objective", lambda s: f"{_num(s.get('objective'), ',.3f')} {s['objective_units']}"),
        ("cost $/h", lambda s: _num(s.get("cost_usd_per_hour"))),
        ("  hardware", lambda s: _breakdown(s, "hardware")),
        ("  network", lambda s: _breakdown(s, "network")),
        ("  memory tiers", lambda s: _breakdown(s, "memory_tiers")),
        ("  energy", lambda s: _breakdown(s, "energy")),
        ("$/M output tokens", lambda s: _num(s.get("usd_per_million_output_tokens"), ",.3f")),
        ("peak IT kW", lambda s: _num((s.get("power_w") or 0) / 1e3, ",.1f")),
        ("average IT kW", lambda s: _num((s.get("average_power_w") or 0) / 1e3, ",.1f")),
        ("J / output token", lambda s: _num(s.get("energy_j_per_token"), ".3f")),
        ("devices", lambda s: ", ".join(f"{n} × {a}" for a, n in s.get("devices", {}).items())),
        ("whole units", lambda s: "\n".join(
            f"{v['units']} × {k} ({v['idle_devices']} idle)"
            for k, v in s.get("systems", {}).items())),
        ("tier pools", lambda s: "\n".join(
            f"{t['units']} × {t['tier']}: {t['gb_used']:,.0f} of {t['gb']:,.0f} GB"
            for t in s.get("tier_pools", ()))),
        ("pools", lambda s: "\n".join(
            f"{p['instances']} × {p['accelerator']} {p['phase']} {_parallel(p)} "
            f"{p['precision'] or ''} {p['utilization']:.0%} {p['bound'] or ''}".rstrip()
            for p in s.get("pools", ()))),
        ("explanation", lambda s: "\n".join(s.get("explanation", ()))),
    ]  # fmt: skip
    for name, cell in rows:
        t.add_row(name, *[cell(s) or "—" for _, s in solutions])
    out.print(t)
