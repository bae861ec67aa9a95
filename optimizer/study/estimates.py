"""Estimate points: a study's ``[study.request]`` table checked against
:class:`optimizer.api.EstimateRequest`'s fields, each point's request, and its row read off the
point's :class:`~optimizer.api.Estimate` (``to_row()``, never recomputed)."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator, Mapping
from functools import cache

from pydantic import ConfigDict, ValidationError, create_model

from optimizer.api.estimation import EstimateRequest
from optimizer.catalog.base import StrictModel
from optimizer.catalog.loader import field_message
from optimizer.errors import HetplanError, Problem

REQUEST_PREFIX = "request."
"""How an axis names a request field: ``request.input_tokens``."""

REQUEST_FIELDS = tuple(f.name for f in dataclasses.fields(EstimateRequest))
REQUIRED_FIELDS = ("model", "accelerator")
CATALOG_FIELDS = {"model": "models", "accelerator": "accelerators", "workload": "workloads",
                  "tier": "memory", "engine": "engines"}  # fmt: skip
"""Request fields that name a catalog entry, and its kind: checked once, before any point."""

ESTIMATE_FIGURES = (
    ("engine", "engine"),
    ("devices", "devices"),
    ("served_input_tokens", "request.input_tokens"),
    ("served_output_tokens", "request.output_tokens"),
    ("ttft_s", "ttft_s"),
    ("tpot_s", "tpot_s"),
    ("ttft_p99_s", "ttft_p99_s"),
    ("tpot_p99_s", "tpot_p99_s"),
    ("batch", "batch"),
    ("capacity_max_batch", "capacity_max_batch"),
    ("requests_per_s", "requests_per_s"),
    ("output_tokens_per_s", "output_tokens_per_s"),
    ("output_tokens_per_s_per_accelerator", "output_tokens_per_s_per_accelerator"),
    ("oi_prefill_flop_per_byte", "oi.prefill"),
    ("oi_decode_flop_per_byte", "oi.decode"),
    ("cf_bytes_per_request", "cf_bytes_per_request"),
    ("weights_bytes_per_device", "memory_bytes_per_device.weights"),
    ("kv_bytes_per_device", "memory_bytes_per_device.kv"),
    ("bound", "bound"),
    ("power_w", "power_w"),
    ("energy_j_per_output_token", "energy_j_per_output_token"),
)
"""(table column, key of ``Estimate.to_row()``) of what an estimate point adds to its row."""
ESTIMATE_COLUMNS = (*(column for column, _ in ESTIMATE_FIGURES), "context_window")
ESTIMATE_TEXT_COLUMNS = ("engine", "bound", "context_window")
ESTIMATE_COUNT_COLUMNS = ("devices", "capacity_max_batch")


class _RequestTable(StrictModel):
    """Strict: ``"4"`` is not a number here, as it would not be in ``hetplan estimate``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


@cache
def request_model() -> type[StrictModel]:
    """A pydantic model of :class:`EstimateRequest`'s fields, every one optional (an axis may
    give it), unknown keys refused."""
    hints = typing.get_type_hints(EstimateRequest)
    fields = {name: (hints[name] | None, None) for name in REQUEST_FIELDS}
    return create_model("EstimateRequestTable", __base__=_RequestTable, **fields)


def check_request_table(table: Mapping, axes: list[str], name: str) -> Iterator[Problem]:
    """Problems of the ``[study.request]`` table against the axes: unknown keys and wrong
    types, fields set twice, required fields given nowhere, axes that are not request fields."""
    try:
        request_model().model_validate(dict(table))
    except ValidationError as exc:
        for error in exc.errors():
            yield Problem(
                name, "study", *field_message({**error, "loc": ("request", *error["loc"])})
            )
    varied = set()
    for axis in axes:
        field = axis.removeprefix(REQUEST_PREFIX)
        if not axis.startswith(REQUEST_PREFIX) or field not in REQUEST_FIELDS:
            why = f"an estimate study's axes name request fields (request.FIELD: one of " \
                  f"{', '.join(REQUEST_FIELDS)})"  # fmt: skip
            yield Problem(name, axis, "field", why)
            continue
        varied.add(field)
        if field in table:
            yield Problem(name, "study", f"request.{field}", "also an axis; set it in one place")
    for field in REQUIRED_FIELDS:
        if field not in table and field not in varied:
            yield Problem(name, "study", f"request.{field}", "required field missing (give it "
                          f"here or as an axis request.{field})")  # fmt: skip


def check_request_ids(table: Mapping, catalog, name: str) -> Iterator[Problem]:
    """The catalog ids the table names (model, accelerator, workload, tier, engine) exist."""
    for field, kind in CATALOG_FIELDS.items():
        if isinstance(table.get(field), str):
            try:
                catalog.get(kind, table[field])
            except HetplanError as error:
                yield Problem(name, "study", f"request.{field}", str(error))


def point_request(table: Mapping, values: Mapping) -> dict:
    """A point's request fields: the table's, then its axis values (``request.tp`` → ``tp``)."""
    return {**table, **{k.removeprefix(REQUEST_PREFIX): v for k, v in values.items()}}


def request_of(fields: Mapping) -> EstimateRequest:
    """The :class:`EstimateRequest` of a point's fields.

    Raises:
        HetplanError: a value of the wrong type (``request.tp: Input should be ...``).
    """
    try:
        checked = request_model().model_validate(dict(fields))
    except ValidationError as exc:
        lines = [": ".join(field_message({**e, "loc": ("request", *e["loc"])}))
                 for e in exc.errors()]  # fmt: skip
        raise HetplanError("; ".join(lines)) from None
    return EstimateRequest(**checked.model_dump(exclude_unset=True))


def estimate_row(estimate) -> dict:
    """The figures of one estimate, from its ``to_row()`` (None where it has none: an
    infeasible estimate keeps its configuration only), and ``context_window``: whether the
    served input and output tokens lie ``within`` or ``beyond`` the model's documented window
    (the model estimates a longer context anyway, with a note)."""
    row = estimate.to_row()
    window = "within" if estimate.within_context_window else "beyond"
    return {**{column: row.get(key) for column, key in ESTIMATE_FIGURES}, "context_window": window}
