"""What every use-case result shares: the verdict first (``status``, ``success``, ``message``),
like ``scipy.optimize.OptimizeResult``, a JSON-ready ``to_dict`` and a flat ``to_row``."""

from __future__ import annotations

import math
from dataclasses import fields, is_dataclass
from enum import Enum

SUCCESS = frozenset({"ok", "optimal", "feasible"})
"""Statuses that answer the question asked (a time-limited fleet is still a fleet)."""


def plain(value):
    """``value`` as JSON-ready data: dataclasses and mappings to dicts, sequences to lists,
    enums to their values, NumPy scalars to Python numbers and non-finite floats to None."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "item") and callable(value.item):  # NumPy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def flat(data: dict, prefix: str = "") -> dict:
    """One level of dotted keys and scalar values: nested dicts flatten, lists of scalars join
    with "; ", lists of records (tables of their own) are left out."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        elif isinstance(value, list):
            if not any(isinstance(v, dict | list) for v in value):
                out[f"{prefix}{key}"] = "; ".join(str(v) for v in value)
        else:
            out[f"{prefix}{key}"] = value
    return out


class Verdict:
    """Mixin for frozen dataclass results with a ``status`` field and a ``message``."""

    status: str
    message: str
    _REPR_FIELDS: tuple[str, ...] = ()

    @property
    def success(self) -> bool:
        return self.status in SUCCESS

    def verdict(self) -> dict:
        """``status``, ``success`` and ``message``: what every ``to_dict`` starts with."""
        return {"status": self.status, "success": self.success, "message": self.message}

    def to_dict(self) -> dict:
        """Verdict first, then every field, JSON-ready (strict: no NaN or infinity)."""
        head = self.verdict()
        return head | {k: v for k, v in plain(self).items() if k not in head}

    def to_row(self) -> dict:
        """One flat record (dotted keys) for tables and data frames."""
        return flat(self.to_dict())

    def __repr__(self) -> str:
        shown = [f"status={self.status!r}", *(f"{n}={getattr(self, n)!r}" for n in
                                              self._REPR_FIELDS)]  # fmt: skip
        return f"{type(self).__name__}({', '.join(shown)})"
