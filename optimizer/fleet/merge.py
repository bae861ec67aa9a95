"""Two rated fleets of the same problem as one: columns rated apart, solved together.

Co-design rates the catalog's candidates once per study and only a trial's hypothetical parts
per trial; the ILP then sees every column. Rating a column reads its own accelerator, the
problem and the catalog's shared entries, never another accelerator's columns, so the join
holds the columns a single rating of both sets would (docs/codesign.md says where the two
catalogs differ: a pool a trial adds is offered to its hypothetical parts only).
"""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np

from optimizer.fleet.candidates import BestReach, CandidateTable, Fleet
from optimizer.fleet.columns import Columns


class FleetMismatch(ValueError):
    """The fleets do not rate the same traffic, or give one tier pool two meanings."""


def joined(first: Fleet, second: Fleet) -> Fleet:
    """One fleet with the columns of both, ``first``'s first; the same classes and traffic
    (both rate one problem), tier pools united by name (a name in both must mean the same
    pool), purchase units of both, and per class the better of their best reaches."""
    a, b = first.classes, second.classes
    if a.names != b.names or not (
        np.array_equal(a.requests_per_s, b.requests_per_s)
        and np.array_equal(a.kv_transfer_bytes, b.kv_transfer_bytes)
    ):
        raise FleetMismatch("the fleets serve different classes or rates")
    pools = {p.name: p for p in first.pools}
    for pool in second.pools:
        if pools.setdefault(pool.name, pool) != pool:
            raise FleetMismatch(f"tier pool {pool.name!r} differs between the fleets")
    return replace(
        first,
        table=_stacked(first.table, second.table),
        pools=tuple(pools.values()),
        notes=tuple(dict.fromkeys(first.notes + second.notes)),
        best_ttft=_better(first.best_ttft, second.best_ttft),
        best_tpot=_better(first.best_tpot, second.best_tpot),
        generated=first.generated + second.generated,
        purchase_units=first.purchase_units + second.purchase_units,
    )


def _stacked(top: CandidateTable, bottom: CandidateTable) -> CandidateTable:
    """The rows of ``bottom`` under those of ``top``, field by field."""
    return CandidateTable(
        **{
            f.name: _rows(getattr(top, f.name), getattr(bottom, f.name))
            for f in fields(CandidateTable)
            if f.name != "columns"
        },
        columns=Columns(
            **{
                f.name: _rows(getattr(top.columns, f.name), getattr(bottom.columns, f.name))
                for f in fields(Columns)
            }
        ),
    )


def _rows(top, bottom):
    if isinstance(top, tuple):
        return top + bottom
    return np.concatenate([top, bottom])


def _better(a: dict[str, BestReach], b: dict[str, BestReach]) -> dict[str, BestReach]:
    out = dict(a)
    for name, reach in b.items():
        if name not in out or reach.value_s < out[name].value_s:
            out[name] = reach
    return out
