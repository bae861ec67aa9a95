"""Columns from measured capabilities (a user's own benchmarks, or Mélange's profiles): each
instance serves whole requests, so it covers both phases like an aggregated instance."""

from __future__ import annotations

import numpy as np

from optimizer.fleet.candidates import CandidateTable, ColumnInfo, Fleet
from optimizer.fleet.columns import Classes, Columns
from optimizer.perf.bound import NONE_CODE

MEASURED_PHASE = "measured"


def measured_fleet(table) -> Fleet:
    """The ILP input of a ``[measured]`` problem (``table``: a catalog ``MeasuredTable``).

    Power unknown counts as 0 W; a given busy power without an idle power is drawn all the time
    (the measurement says nothing about load).
    """
    n, k = np.shape(table.capability)
    busy = np.nan_to_num(np.asarray(table.power_w, dtype=np.float64), nan=0.0)
    idle = np.where(np.isnan(table.idle_w), busy, table.idle_w)
    columns = Columns(
        names=tuple(table.instance_names),
        prefill=np.ones(n, dtype=bool),
        decode=np.ones(n, dtype=bool),
        capability=np.asarray(table.capability, dtype=np.float64),
        cost_usd_per_hour=np.asarray(table.usd_per_hour, dtype=np.float64),
        idle_w=idle,
        busy_w=busy,
        devices=np.asarray(table.devices, dtype=np.float64),
        group=tuple(table.group),
        transfer_bytes_per_s=np.full(n, np.inf),
        tier=(None,) * n,
        tier_gb=np.zeros(n),
        tier_gb_per_request_rate=np.zeros((n, k)),
    )
    info = tuple(
        ColumnInfo(accelerator=g, phase=MEASURED_PHASE, devices=int(d), price_source="measured")
        for g, d in zip(table.group, table.devices, strict=True)
    )
    nan = np.full((n, k), np.nan)
    candidates = CandidateTable(
        info, columns, nan, nan, nan, nan, nan, nan, np.full((n, k), NONE_CODE),
        np.full((n, k), NONE_CODE),
        columns.cost_usd_per_hour, np.zeros(n),
    )  # fmt: skip
    classes = Classes(
        names=tuple(table.class_names),
        requests_per_s=np.asarray(table.requests_per_s, dtype=np.float64),
        kv_transfer_bytes=np.zeros(k),
    )
    return Fleet(classes, (), candidates, (), (), generated=n)
