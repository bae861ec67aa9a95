"""Catalog listings: the columns shown per kind, as data first and rich tables second."""

from __future__ import annotations

from collections.abc import Callable

from optimizer.catalog import Catalog, Precision, Record, model_facts

Column = tuple[str, Callable[[object], object]]


def _tflops(dtype: str) -> Callable[[object], object]:
    return lambda a: a.dense_tflops.supported().get(dtype)


_COMMON_TAIL: list[Column] = [("confidence", lambda e: e.confidence.value)]

COLUMNS: dict[str, list[Column]] = {
    "accelerators": [
        ("bf16_tflops", _tflops("bf16")),
        ("fp8_tflops", _tflops("fp8")),
        ("fp4_tflops", _tflops("fp4")),
        ("memory_gb", lambda a: a.memory_capacity_gb),
        ("memory_tb_per_s", lambda a: a.memory_bandwidth_tb_per_s),
        ("memory_type", lambda a: a.memory_type),
        ("scale_up_domain", lambda a: a.scale_up_domain),
        ("tdp_w", lambda a: a.tdp_w),
        ("price_usd", lambda a: a.price_usd),
        ("cloud_usd_per_hour", lambda a: a.cloud_usd_per_hour),
    ],
    "memory": [
        ("attach", lambda m: m.attach.value),
        ("unit", lambda m: m.unit),
        ("capacity_gb_per_unit", lambda m: m.capacity_gb_per_unit),
        ("bandwidth_gb_per_s_per_unit", lambda m: m.bandwidth_gb_per_s_per_unit),
        ("latency_ns", lambda m: m.latency_ns),
        ("energy_pj_per_bit", lambda m: m.energy_pj_per_bit),
        ("price_usd_per_gb", lambda m: m.price_usd_per_gb),
    ],
    "interconnects": [
        ("scope", lambda i: i.scope.value),
        ("bandwidth_gb_per_s_per_direction", lambda i: i.bandwidth_gb_per_s_per_direction),
        ("latency_us", lambda i: i.latency_us),
        ("energy_pj_per_bit", lambda i: i.energy_pj_per_bit),
        ("max_domain", lambda i: i.max_domain),
    ],
    "systems": [
        ("system_kind", lambda s: s.kind.value),
        ("accelerator", lambda s: s.accelerator),
        ("n_accelerators", lambda s: s.n_accelerators),
        ("overhead_power_w", lambda s: s.overhead_power_w),
        ("host_power_w", lambda s: s.host_power_w),
        ("price_usd", lambda s: s.price_usd),
    ],
    "models": [
        ("attention", lambda m: m.attention.value),
        ("n_layers", lambda m: m.n_layers),
        ("params_total_published", lambda m: m.params_total_published),
        ("params_active_published", lambda m: m.params_active_published),
        ("kv_bytes_per_token_bf16", lambda m: model_facts(m, Precision.BF16).kv_bytes_per_token),
        ("max_context_tokens", lambda m: m.max_context_tokens),
    ],
    "workloads": [
        ("workload_kind", lambda w: w.kind),
        ("turns_mean", lambda w: w.turns_per_session.mean),
        ("new_tokens_mean", lambda w: w.new_tokens_per_turn.mean),
        ("output_tokens_mean", lambda w: w.output_tokens_per_turn.mean),
        ("prefix_cache_hit_frac", lambda w: w.prefix_cache_hit_frac),
    ],
    "economics": [
        ("electricity_usd_per_kwh", lambda e: e.electricity_usd_per_kwh),
        ("pue", lambda e: e.pue),
        ("depreciation_years", lambda e: e.depreciation_years),
    ],
    "engines": [
        ("max_batch", lambda e: e.max_batch),
        ("max_tokens_per_step", lambda e: e.max_tokens_per_step),
        ("memory_fraction", lambda e: e.memory_fraction),
        ("graph_max_batch", lambda e: e.graph_max_batch),
        ("kv_reserved_output_share", lambda e: e.kv_reserved_output_share),
        ("collectives", lambda e: ", ".join(e.collectives)),
    ],
    "efficiency": [
        ("family", lambda e: e.family),
        ("phase", lambda e: e.phase),
        ("compute", lambda e: e.compute),
        ("memory", lambda e: e.memory),
        ("fit_rows", lambda e: e.fit_rows),
    ],
    "overheads": [
        ("engine", lambda e: e.engine),
        ("phase", lambda e: e.phase),
        ("overhead_us_per_layer", lambda e: e.overhead_us_per_layer),
        ("graph_overhead_us_per_layer", lambda e: e.graph_overhead_us_per_layer),
        ("overhead_us_per_sequence", lambda e: e.overhead_us_per_sequence),
        ("hop_latency_scale", lambda e: e.hop_latency_scale),
        ("link", lambda e: e.link),
        ("fit_rows", lambda e: e.fit_rows),
    ],
    "power": [
        ("family", lambda e: e.family),
        ("busy", lambda e: e.busy),
        ("compute", lambda e: e.compute),
        ("memory", lambda e: e.memory),
        ("fit_rows", lambda e: e.fit_rows),
    ],
}


def catalog_table_rows(catalog: Catalog, kind: str | None = None) -> list[dict]:
    """One dict per entry: id, kind, origin, then the kind's columns (all kinds: name only)."""
    rows = []
    for (entry_kind, entry_id), record in catalog.records.items():
        if kind is not None and entry_kind != kind:
            continue
        row = {"id": entry_id, "kind": entry_kind, "name": record.entry.name}
        columns = COLUMNS[entry_kind] if kind is not None else []
        for header, get in columns + _COMMON_TAIL:
            row[header] = get(record.entry)
        row["origin"] = record.origin.value
        rows.append(row)
    return rows


def entry_to_dict(record: Record) -> dict:
    """JSON-ready view of one entry with its kind, origin and file; models add ``derived``."""
    fields = record.entry.model_dump(mode="json", exclude_none=True)
    data = {"id": fields.pop("id"), "name": fields.pop("name"), "kind": record.kind}
    data.update(origin=record.origin.value, file=record.file)
    provenance = {k: fields.pop(k) for k in _PROVENANCE if k in fields}
    data.update(fields)
    if record.kind == "models":
        data["derived"] = model_facts(record.entry, Precision.BF16).to_dict()
    data.update(provenance)
    return data


_PROVENANCE = ("confidence", "estimated", "notes", "sources")


def _cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if value >= 1e6:
            return f"{value:.4g}"
        return f"{value:g}"
    return str(value)


def _label(key: str) -> str:
    """A short column header for people: units as symbols, underscores as spaces."""
    for suffix, unit in _UNIT_LABELS:
        if key.endswith(suffix):
            return f"{key.removesuffix(suffix).replace('_', ' ')} {unit}".strip()
    return key.replace("_", " ")


_UNIT_LABELS = (
    ("_gb_per_s_per_direction", "GB/s/dir"),
    ("_gb_per_s_per_unit", "GB/s"),
    ("_tb_per_s", "TB/s"),
    ("_gb_per_unit", "GB"),
    ("_tflops", "TF"),
    ("_gb", "GB"),
    ("_usd_per_hour", "$/h"),
    ("_usd_per_kwh", "$/kWh"),
    ("_usd_per_gb", "$/GB"),
    ("_usd", "$"),
    ("_pj_per_bit", "pJ/b"),
    ("_w", "W"),
    ("_ns", "ns"),
    ("_us", "µs"),
    ("_frac", "frac"),
)


def render_rows(rows: list[dict], title: str, skip: tuple[str, ...] = ()):
    """A rich Table of rows (all rows share the first row's keys), leaving out ``skip``."""
    from rich.table import Table

    table = Table(title=title, header_style="bold")
    if not rows:
        return table
    keys = [k for k in rows[0] if k not in skip]
    for key in keys:
        table.add_column(_label(key), no_wrap=key == "id")
    for row in rows:
        table.add_row(*(_cell(row[k]) for k in keys))
    return table
