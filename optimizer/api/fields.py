"""Checks of request fields; a failure is a :class:`FieldError` named by the field (``tp``),
never by a command-line flag: the CLI maps a field to its flag in one place
(``optimizer.cli.flags``)."""

from __future__ import annotations

import math
import numbers
from enum import StrEnum
from typing import TypeVar

from optimizer.catalog.base import MAX_QUANTITY
from optimizer.catalog.catalog import Catalog, UnknownIdError
from optimizer.catalog.precision import Precision, UnknownPrecisionError
from optimizer.errors import FieldError
from optimizer.perf.serving import Request

E = TypeVar("E", bound=StrEnum)


def _number(field: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise FieldError(field, f"must be a number, got {literal(repr(value))}")


def at_least(field: str, value: float, low: float) -> None:
    """``value`` is a finite number from ``low`` to :data:`MAX_QUANTITY`."""
    _number(field, value)
    if not (math.isfinite(value) and low <= value <= MAX_QUANTITY):
        raise FieldError(field, f"must be from {low:g} to {MAX_QUANTITY:g}, got {value:g}")


def positive(field: str, value: float | None) -> None:
    """``value`` is None or a finite number > 0, at most :data:`MAX_QUANTITY`."""
    if value is None:
        return
    _number(field, value)
    if not (math.isfinite(value) and value > 0):
        raise FieldError(field, f"must be positive, got {value:g}")
    if value > MAX_QUANTITY:
        raise FieldError(field, f"must be at most {MAX_QUANTITY:g}, got {value:g}")


def choice(field: str, value: str | E, enum: type[E]) -> E:
    """``value`` as a member of ``enum``; the error lists the choices."""
    try:
        return enum(value)
    except ValueError:
        options = ", ".join(e.value for e in enum)
        raise FieldError(
            field, f"unknown value {literal(repr(value))}; use one of {options}"
        ) from None


def literal(text: str) -> str:
    """User text inside a :class:`FieldError` message, braces kept as they are."""
    return text.replace("{", "{{").replace("}", "}}")


def precision(field: str, name: str) -> Precision:
    """The precision called ``name``."""
    try:
        return Precision.parse(name, field)
    except UnknownPrecisionError:
        known = ", ".join(p.value for p in Precision)
        raise FieldError(
            field, f"unknown precision {literal(repr(name))}; use one of {known}"
        ) from None


def token_request(input_tokens: float, output_tokens: float, prefix_tokens: float) -> Request:
    """A request given by token counts: at least one input and one output token, and a cached
    prefix shorter than the input."""
    at_least("input_tokens", input_tokens, 1)
    at_least("output_tokens", output_tokens, 1)
    if not 0 <= prefix_tokens < input_tokens:
        raise FieldError(
            "prefix_tokens",
            f"must be in [0, input tokens {input_tokens:g}), got {prefix_tokens:g}",
        )
    return Request(float(input_tokens), float(output_tokens), float(prefix_tokens))


def workload_alone(input_tokens, output_tokens, prefix_tokens) -> None:
    """A workload names its own mean turn: token counts may not come with it."""
    if input_tokens is not None or output_tokens is not None or prefix_tokens:
        raise FieldError("workload", "replaces {input_tokens}/{output_tokens}; give one")


def entry(catalog: Catalog, kind: str, field: str, entry_id: str):
    """The catalog entry ``entry_id`` of ``kind`` that ``field`` names."""
    try:
        return catalog.get(kind, entry_id)
    except UnknownIdError as error:
        raise FieldError(field, literal(str(error))) from None


def count(field: str, value, most: int) -> None:
    """``value`` is None or a whole number in ``[1, most]`` (devices, ranks, sequences)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise FieldError(field, f"must be a whole number, got {literal(repr(value))}")
    if not (math.isfinite(value) and float(value).is_integer() and 1 <= value <= most):
        raise FieldError(field, f"must be a whole number from 1 to {most:,}, got {value:g}")
