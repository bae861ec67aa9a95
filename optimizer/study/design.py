"""Designs: a study's axes expanded into points, deterministically for a seed.

Random and Latin-hypercube designs draw unit coordinates ``u`` in [0, 1) per axis and map them
onto each axis: a list of values by index, a range linearly (or in log space with ``log``), a
whole-number range uniformly over its whole numbers. So an LHS sample puts exactly one point in
each of its n equal strata of every axis.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from optimizer.study.spec import Axis, DesignKind, StudySpec, Value


@dataclass(frozen=True, slots=True)
class Point:
    """One point of a study: its position in the design and the values of its axes.

    ``values`` holds each axis's value as the study file gives it (numbers stay numbers, for
    tables); ``overrides`` the same values as TOML text, for ``solve(overrides=...)``.
    """

    index: int
    values: dict[str, Value]
    overrides: dict[str, str]


def expand(spec: StudySpec) -> tuple[Point, ...]:
    """Every point of the study's design, in design order."""
    design, axes = spec.design, spec.axis
    if design.kind is DesignKind.GRID:
        rows = grid(axes)
    elif design.kind is DesignKind.ZIP:
        rows = zipped(axes)
    elif design.kind is DesignKind.RANDOM:
        rows = random_design(axes, design.samples, design.seed)
    else:
        rows = lhs_design(axes, design.samples, design.seed)
    return tuple(
        Point(i, row, {field: override_text(v) for field, v in row.items()})
        for i, row in enumerate(rows)
    )


def override_text(value: Value) -> str:
    """``value`` as the TOML text a problem override reads back as that very value: ``"cbc"``
    stays a string even where it looks like a number, ``4`` an integer, ``[1, 2]`` an array.
    (JSON's strings, numbers, booleans and arrays are valid TOML values.)"""
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def grid(axes: Sequence[Axis]) -> list[dict[str, Value]]:
    """Every combination of the axes' values, the first axis varying slowest."""
    names = [a.field for a in axes]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(
        *(a.values for a in axes))]  # fmt: skip


def zipped(axes: Sequence[Axis]) -> list[dict[str, Value]]:
    """The i-th value of every axis together (the axes are equally long)."""
    names = [a.field for a in axes]
    columns = zip(*(a.values for a in axes), strict=True)
    return [dict(zip(names, combo, strict=True)) for combo in columns]


def random_design(axes: Sequence[Axis], n_samples: int, seed: int) -> list[dict[str, Value]]:
    """``n_samples`` points, each coordinate uniform on its axis (NumPy's default generator)."""
    import numpy as np

    unit = np.random.default_rng(seed).random((n_samples, len(axes)))
    return _on_axes(axes, unit)


def lhs_design(axes: Sequence[Axis], n_samples: int, seed: int) -> list[dict[str, Value]]:
    """A Latin hypercube of ``n_samples`` points (``scipy.stats.qmc.LatinHypercube``)."""
    from scipy.stats import qmc

    unit = qmc.LatinHypercube(d=len(axes), seed=seed).random(n_samples)
    return _on_axes(axes, unit)


def _on_axes(axes: Sequence[Axis], unit) -> list[dict[str, Value]]:
    """Rows of unit coordinates ``(n_points, n_axes)`` as axis values."""
    columns = [[axis_value(a, float(u)) for u in unit[:, j]] for j, a in enumerate(axes)]
    names = [a.field for a in axes]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def axis_value(axis: Axis, u: float) -> Value:
    """The value at unit coordinate ``u`` in [0, 1) of one axis: the ``floor(u·n)``-th of its
    n values, or a point of its range (log-uniform with ``log``; with ``integer``, one of its
    whole numbers, each equally likely, or log-uniform over [lo, hi + 1) with ``log``)."""
    if axis.values is not None:
        return axis.values[min(int(u * len(axis.values)), len(axis.values) - 1)]
    low, high = axis.low, axis.high
    if axis.integer:
        lo, hi = math.ceil(low), math.floor(high)
        if axis.log:
            value = math.exp(math.log(lo) + u * (math.log(hi + 1) - math.log(lo)))
        else:
            value = lo + u * (hi + 1 - lo)
        return min(int(math.floor(value)), hi)
    if axis.log:
        return math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    return low + u * (high - low)
