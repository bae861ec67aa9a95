"""Checks that need more than one entry: cross-references and facts derived from architecture."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from optimizer.catalog.catalog import Record
from optimizer.catalog.model_arch import PARAMS_TOLERANCE_FRAC
from optimizer.catalog.model_facts import n_dense_layers, params_mismatches
from optimizer.errors import Problem


def check_catalog(records: Mapping[tuple[str, str], Record]) -> list[Problem]:
    """Every cross-reference and derived-fact problem of a merged catalog."""
    ids = {}
    for kind, entry_id in records:
        ids.setdefault(kind, set()).add(entry_id)
    problems: list[Problem] = []
    for record in records.values():
        for field, message in _entry_problems(record, ids):
            problems.append(Problem(record.file, record.entry.id, field, message))
    return problems


def _missing(ref: str, kind: str, ids: Mapping[str, set[str]]) -> str:
    known = ", ".join(sorted(ids.get(kind, ()))) or "none"
    return f"unknown {kind} id {ref!r}; known: {known}"


def _entry_problems(record: Record, ids) -> Iterator[tuple[str, str]]:
    entry = record.entry
    if record.kind == "accelerators":
        if entry.memory_type not in ids.get("memory", ()):
            yield "memory_type", _missing(entry.memory_type, "memory", ids)
        for field, link in entry.links().items():
            if link not in ids.get("interconnects", ()):
                yield field, _missing(link, "interconnects", ids)
        system = entry.reference_system
        if system is not None and system not in ids.get("systems", ()):
            yield "reference_system", _missing(system, "systems", ids)
    elif record.kind == "memory":
        if entry.link is not None and entry.link not in ids.get("interconnects", ()):
            yield "link", _missing(entry.link, "interconnects", ids)
    elif record.kind == "systems":
        if entry.accelerator is not None and entry.accelerator not in ids.get("accelerators", ()):
            yield "accelerator", _missing(entry.accelerator, "accelerators", ids)
        for tier in entry.tier_slots:
            if tier not in ids.get("memory", ()):
                yield f"tier_slots.{tier}", _missing(tier, "memory", ids)
    elif record.kind == "models":
        if n_dense_layers(entry) and entry.intermediate_size is None:
            yield "intermediate_size", "required: the model has dense FFN layers"
        elif entry.params_note is None:
            yield from params_mismatches(entry, PARAMS_TOLERANCE_FRAC)
