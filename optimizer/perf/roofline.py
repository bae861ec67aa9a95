"""Roofline time of one step: the slower of compute and memory traffic (MODEL.md §4, sol mode)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class RooflineTime:
    """Terms of the ``max()`` kept apart so callers can say which wall binds (arrays, seconds)."""

    compute_s: np.ndarray
    memory_s: np.ndarray

    @property
    def time_s(self) -> np.ndarray:
        return np.maximum(self.compute_s, self.memory_s)

    @property
    def is_compute_bound(self) -> np.ndarray:
        return self.compute_s >= self.memory_s


def roofline_time(flops, bytes_moved, peak_flop_per_s, bandwidth_bytes_per_s) -> RooflineTime:
    """Pure roofline of ``flops`` and ``bytes_moved`` on a device of the given peaks."""
    flops = np.asarray(flops, dtype=np.float64)
    bytes_moved = np.asarray(bytes_moved, dtype=np.float64)
    return RooflineTime(flops / peak_flop_per_s, bytes_moved / bandwidth_bytes_per_s)
