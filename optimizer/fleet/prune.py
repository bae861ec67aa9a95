"""Drop candidate columns no optimal fleet needs: those that cannot serve anything, and those
another column of the same accelerator and phase dominates."""

from __future__ import annotations

import numpy as np

from optimizer.search.columns import Columns

_ATOL = 1e-12


def dominated(columns: Columns) -> np.ndarray:
    """Mask of columns some other column dominates: same phases and availability group, a tier
    pool that is the same or none, every resource use at most as large (cost, idle and busy
    power, devices, pool GB) and every capability and hand-off bandwidth at least as large.
    Swapping a dominated column for its dominator keeps any solution feasible at no higher
    objective, so pruning never changes the optimum. Ties keep the first column."""
    n = len(columns)
    out = np.zeros(n, dtype=bool)
    keys: dict[tuple, list[int]] = {}
    for i in range(n):
        keys.setdefault((columns.prefill[i], columns.decode[i], columns.group[i]), []).append(i)
    for members in keys.values():
        if len(members) < 2:
            continue
        idx = np.array(members)
        less = np.column_stack(
            [
                columns.cost_usd_per_hour[idx],
                columns.idle_w[idx],
                columns.busy_w[idx],
                columns.devices[idx],
                columns.tier_gb[idx],
                columns.tier_gb_per_request_rate[idx],
            ]
        )
        more = np.column_stack(
            [columns.capability[idx], np.minimum(columns.transfer_bytes_per_s[idx], 1e30)]
        )
        tiers = [columns.tier[i] for i in idx]
        # b dominates a: less[b] <= less[a] and more[b] >= more[a] everywhere
        le = np.all(less[:, None, :] <= less[None, :, :] + _ATOL, axis=2)
        ge = np.all(more[:, None, :] >= more[None, :, :] - _ATOL, axis=2)
        equal = le & np.all(less[:, None, :] >= less[None, :, :] - _ATOL, axis=2)
        equal &= np.all(more[:, None, :] <= more[None, :, :] + _ATOL, axis=2)
        tier_ok = np.array([[tb is None or tb == ta for ta in tiers] for tb in tiers])
        beats = le & ge & tier_ok  # [b, a]
        order = np.arange(len(idx))
        # an exact twin only beats the columns after it, so one of a tie survives
        beats &= ~equal | (order[:, None] < order[None, :])
        np.fill_diagonal(beats, False)
        out[idx] = beats.any(axis=0)
    return out


def prune(columns: Columns) -> np.ndarray:
    """Mask of the columns worth giving the ILP."""
    serves = (columns.capability > 0).any(axis=1)
    keep = serves.copy()
    keep[serves] = ~dominated(columns.subset(serves))
    return keep
