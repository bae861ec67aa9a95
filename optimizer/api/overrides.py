"""Problem overrides: one problem file, many variants (``--set``, ``--vary``, study points).

A variant is a mapping of dotted problem fields to values, applied to the file's tables before
validation by :func:`optimizer.catalog.problem_loader.load_problem` (``solve(path,
overrides=variant.overrides)``), so a bad field or value is reported like one in the file.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from optimizer.api.fields import FieldError, literal

ALIASES = {
    "objective": "objective.kind",
    "pricing": "objective.pricing",
    "solver": "solver.name",
    "assignment": "solver.assignment",
}
"""Short names for the fields what-ifs vary most."""


@dataclass(frozen=True, slots=True)
class Variant:
    """One problem variant: a label for tables and the overrides that make it."""

    label: str
    overrides: Mapping[str, str]


def problem_overrides(
    base: Mapping[str, str] | None = None,
    vary: Mapping[str, Sequence[str]] | None = None,
) -> tuple[Variant, ...]:
    """Every combination of the ``vary`` values on top of the ``base`` overrides.

    Args:
        base: dotted field → value, applied to every variant (``{"solver.name": "highs"}``).
        vary: dotted field (or an alias: objective, pricing, solver, assignment) → the values
            to try; several fields give their cartesian product, in the order given.

    Returns:
        One variant per combination (just ``base`` when nothing varies), labelled
        ``field=value, ...``.

    Raises:
        FieldError: an empty field name or a field with no values.
    """
    base = dict(base or {})
    for key in base:
        if not key.strip():
            raise FieldError("overrides", "a field name is empty")
    axes = []
    for key, values in (vary or {}).items():
        if isinstance(values, str):  # one value, not its characters
            values = [values]
        field = ALIASES.get(key.strip(), key.strip())
        if not field:
            raise FieldError("vary", "a field name is empty")
        if not values:
            raise FieldError("vary", f"{literal(key)}: give at least one value")
        axes.append([(field, value) for value in values])
    return tuple(
        Variant(", ".join(f"{k}={v}" for k, v in combo), {**base, **dict(combo)})
        for combo in itertools.product(*axes)
    )
