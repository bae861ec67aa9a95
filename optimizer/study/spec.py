"""The study file (``problems/studies/*.toml``): a base (a problem file, or an estimate request
given inline), axes over its dotted fields, a design and findings to compute, validated like a
problem file (one ``FILE: ENTRY: FIELD: message`` line per problem).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StrictBool, StringConstraints, ValidationError

from optimizer.catalog.base import StrictModel
from optimizer.catalog.loader import display_path, field_message, read_toml
from optimizer.errors import InputFileError, Problem

MAX_POINTS = 100_000
"""The most points one study expands to: beyond it a journal line per point stops being cheap
to read back, and a typo (a 10^9-point grid) is refused before any work starts."""
MAX_SEED = 2**32 - 1


def _checked_value(value: Any) -> Any:
    """A string, boolean, finite number or list of them: what a ``--set`` value can be."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        plain = isinstance(item, str | bool | int | float)
        if not plain or (isinstance(item, float) and not math.isfinite(item)):
            shown = repr(value)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise ValueError(
                f"must be a string, boolean, finite number or a list of them, got {shown}"
            )
    return value


Value = Annotated[Any, AfterValidator(_checked_value)]
"""One value a problem field takes, as TOML gave it."""
Number = Annotated[float, Field(allow_inf_nan=False, strict=True)]
DottedField = Annotated[
    str,
    StringConstraints(strict=True, pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$", max_length=200),
]
"""A dotted problem field, the same path ``hetplan solve --set`` takes (``serve.0.ttft_ms``)."""


class StudyError(InputFileError):
    """A study file is invalid; one ``FILE: ENTRY: FIELD: message`` problem per line."""


class DesignKind(StrEnum):
    """How axes become points."""

    GRID = "grid"  # every combination of the axes' values (first axis slowest)
    ZIP = "zip"  # the i-th value of every axis together; all axes as long
    RANDOM = "random"  # ``samples`` independent uniform draws, seeded
    LHS = "lhs"  # a Latin hypercube of ``samples`` points, seeded: each axis's n strata once


class StudySection(StrictModel):
    """``[study]``: what is computed at every point: a solve of the ``base`` problem file, or an
    estimate of the ``request`` table (``optimizer.api.EstimateRequest``'s fields)."""

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    kind: Literal["solve", "estimate"]
    base: str | None = Field(None, min_length=1)
    baselines: StrictBool = True
    set: dict[str, Any] = {}
    request: dict[str, Any] | None = None


class FindingSection(StrictModel):
    """``[[finding]]``: a finding the report computes from the table. ``threshold``: per
    combination of the other axes, the first value of ``axis`` at which ``column`` equals
    ``equals`` or falls below ``below``; ``highest``: the last value of ``axis`` at which
    ``column`` equals ``equals`` or is above ``above`` (a break-even price); ``range``: per
    combination of the ``by`` axes, the lowest and highest value of each of ``columns``."""

    kind: Literal["threshold", "highest", "range"]
    axis: str | None = None
    column: str | None = None
    equals: str | None = None
    below: Number | None = None
    above: Number | None = None
    by: list[str] | None = Field(None, min_length=1, max_length=8)
    columns: list[str] | None = Field(None, min_length=1, max_length=16)


class DesignSection(StrictModel):
    """``[design]``: the design kind, its sample count and seed."""

    kind: DesignKind = DesignKind.GRID
    samples: Annotated[int, Field(ge=1, le=MAX_POINTS, strict=True)] | None = None
    seed: Annotated[int, Field(ge=0, le=MAX_SEED, strict=True)] = 0


class Axis(StrictModel):
    """``[[axis]]``: one dotted field and the values it takes: a list (any design), or a numeric
    range ``low``..``high`` (random and lhs designs), log-uniform with ``log`` and whole numbers
    with ``integer``."""

    field: DottedField
    values: list[Value] | None = Field(None, min_length=1, max_length=MAX_POINTS)
    low: Number | None = None
    high: Number | None = None
    log: StrictBool = False
    integer: StrictBool = False


class StudySpec(StrictModel):
    """A whole study file."""

    study: StudySection
    design: DesignSection = DesignSection()
    axis: list[Axis] = Field(min_length=1, max_length=64)
    finding: list[FindingSection] = Field([], max_length=32)


@dataclass(frozen=True, slots=True)
class Study:
    """A validated study file with its base problem located.

    ``sha256`` is over the study file's bytes: it tells one study's output directory from
    another's. ``fixed`` holds the ``[study.set]`` overrides as dotted field → value (a solve
    study's; an estimate study's fixed fields are its ``[study.request]`` table).
    """

    path: Path
    spec: StudySpec
    base: Path | None  # the problem file of a solve study; None for an estimate study
    fixed: dict[str, Value]
    text: bytes
    sha256: str


def load_study(path: str | Path, *, allow_outside_paths: bool = False) -> Study:
    """Read, validate and cross-check one study TOML file.

    Args:
        path: the study file; its ``base`` is relative to it.
        allow_outside_paths: let ``base`` name a file outside the study file's directory and
            the working directory (by default refused, as a problem file's own paths are).

    Raises:
        StudyError: every problem of the file at once, one ``FILE: ENTRY: FIELD: message`` each.
    """
    path = Path(path)
    name = display_path(path)
    problems: list[Problem] = []
    read = read_toml(path, name, problems)
    if read is None:
        raise StudyError(problems)
    raw, data = read
    try:
        spec = StudySpec.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            entry, rest = _locate(tuple(error["loc"]), data)
            problems.append(Problem(name, entry, *field_message({**error, "loc": rest})))
        raise StudyError(problems) from None
    problems.extend(_cross_check(spec, name))
    fixed = dict(dotted_items(spec.study.set))
    base = None
    if spec.study.kind == "estimate":
        problems.extend(_check_estimate(spec, name))
    else:
        problems.extend(_check_fixed(fixed, spec, name))
        if spec.study.request is not None:
            why = "an estimate study's; a solve study varies its base problem"
            problems.append(Problem(name, "study", "request", why))
        if spec.study.base is None:
            problems.append(Problem(name, "study", "base", "required field missing"))
        else:
            base = Path(os.path.normpath(path.parent / spec.study.base))
            problems.extend(_check_base(base, spec.study.base, path, name, allow_outside_paths))
    problems.extend(_check_findings(spec, name))
    if problems:
        raise StudyError(problems)
    return Study(path, spec, base, fixed, raw, hashlib.sha256(raw).hexdigest())


def _locate(loc: tuple, data: dict) -> tuple[str, tuple]:
    """The entry a pydantic loc points into (an axis by its field, or a section) and the rest."""
    if len(loc) > 1 and loc[0] == "axis" and isinstance(loc[1], int):
        return _axis_label(data.get("axis"), loc[1]), loc[2:]
    return (str(loc[0]), loc[1:]) if loc else ("", ())


def _axis_label(axes, index: int) -> str:
    """An axis's ``field`` when it has a usable one, else ``axis[index]``."""
    item = axes[index] if isinstance(axes, list) and index < len(axes) else None
    if isinstance(item, dict) and isinstance(item.get("field"), str) and item["field"]:
        return item["field"]
    return f"axis[{index}]"


def _cross_check(spec: StudySpec, name: str) -> Iterator[Problem]:
    """Rules between axes and the design, each on the entry to change."""
    design = spec.design
    sampled = design.kind in (DesignKind.RANDOM, DesignKind.LHS)
    if sampled and design.samples is None:
        yield Problem(name, "design", "samples", f"required by a {design.kind} design")
    if not sampled and design.samples is not None:
        why = f"only random and lhs designs take samples; a {design.kind} design uses every value"
        yield Problem(name, "design", "samples", why)
    seen: set[str] = set()
    for axis in spec.axis:
        if axis.field in seen:
            yield Problem(name, axis.field, "field", "appears in two axes")
        seen.add(axis.field)
        yield from _check_axis(axis, design.kind, name)
    if design.kind is DesignKind.ZIP:
        lengths = {a.field: len(a.values) for a in spec.axis if a.values is not None}
        if len(set(lengths.values())) > 1:
            listed = ", ".join(f"{f}: {n}" for f, n in lengths.items())
            yield Problem(name, "design", "kind", f"zip needs axes of one length, got {listed}")
    if design.kind is DesignKind.GRID and all(a.values is not None for a in spec.axis):
        n_points = math.prod(len(a.values) for a in spec.axis)
        if n_points > MAX_POINTS:
            why = f"the grid has {n_points:,} points; at most {MAX_POINTS:,}"
            yield Problem(name, "design", "kind", why)


def _check_axis(axis: Axis, kind: DesignKind, name: str) -> Iterator[Problem]:
    entry = axis.field
    has_range = axis.low is not None or axis.high is not None
    if axis.values is not None:
        if has_range:
            yield Problem(name, entry, "values", "give values or low and high, not both")
        for key in ("log", "integer"):
            if getattr(axis, key):
                yield Problem(name, entry, key, "applies to a low..high range, not to values")
        return
    if axis.low is None or axis.high is None:
        missing = "values" if not has_range else ("low" if axis.low is None else "high")
        yield Problem(name, entry, missing, "required field missing (values, or low and high)")
        return
    if kind in (DesignKind.GRID, DesignKind.ZIP):
        why = f"a {kind} design takes values; a low..high range needs a random or lhs design"
        yield Problem(name, entry, "low", why)
    if not axis.low < axis.high:
        yield Problem(name, entry, "high", f"must be > low ({axis.high:g} <= {axis.low:g})")
    elif axis.log and axis.low <= 0:
        yield Problem(name, entry, "low", f"must be > 0 on a log axis, got {axis.low:g}")
    elif axis.integer and math.floor(axis.high) < math.ceil(axis.low):
        why = f"no whole number from {axis.low:g} to {axis.high:g}"
        yield Problem(name, entry, "high", why)


def dotted_items(table: dict, prefix: str = "") -> Iterator[tuple[str, Value]]:
    """``{solver: {name: "cbc"}}`` (TOML's dotted keys) as ``("solver.name", "cbc")``."""
    for key, value in table.items():
        if isinstance(value, dict):
            yield from dotted_items(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _check_fixed(fixed: dict, spec: StudySpec, name: str) -> Iterator[Problem]:
    axes = {a.field for a in spec.axis}
    for key, value in fixed.items():
        try:
            _checked_value(value)
        except ValueError as why:
            yield Problem(name, "study", f"set.{key}", str(why))
        if key in axes:
            yield Problem(name, "study", f"set.{key}", "also an axis; set it in one place")
        elif "." not in key:
            yield Problem(name, "study", f"set.{key}", "name a dotted field (table.key)")


def _check_estimate(spec: StudySpec, name: str) -> Iterator[Problem]:
    """An estimate study: a ``request`` table of estimate fields, axes over them, no base
    problem, fixed overrides or baselines."""
    from optimizer.study.estimates import check_request_table

    section = spec.study
    for key, why in (
        ("base", "a solve study's; an estimate study's base is [study.request]"),
        ("set", "put an estimate study's fixed fields in [study.request]"),
        ("baselines", "a solve study's; an estimate has no baselines"),
    ):
        if key in section.model_fields_set:
            yield Problem(name, "study", key, why)
    if section.request is None:
        yield Problem(name, "study", "request", "required by an estimate study")
        return
    yield from check_request_table(section.request, [a.field for a in spec.axis], name)


def _check_findings(spec: StudySpec, name: str) -> Iterator[Problem]:
    """Each finding names axes of the study, columns of its table and the keys of its kind."""
    from optimizer.study.results import table_columns

    axes = {a.field for a in spec.axis}
    known = {*table_columns(spec.study.kind), *axes, "status"}
    for i, finding in enumerate(spec.finding):
        entry = f"finding[{i}]"
        given = finding.model_fields_set - {"kind"}
        needed = {"range": {"by", "columns"}}.get(finding.kind, {"axis", "column"})
        bound = {"threshold": "below", "highest": "above"}.get(finding.kind)
        allowed = needed | ({"equals", bound} if bound else set())
        for key in sorted(needed - given):
            yield Problem(name, entry, key, f"required by a {finding.kind} finding")
        for key in sorted(given - allowed):
            yield Problem(name, entry, key, f"does not apply to a {finding.kind} finding")
        if bound and (finding.equals is None) == (getattr(finding, bound) is None):
            yield Problem(name, entry, "equals", f"give equals or {bound} (one of them)")
        for column in [finding.column or "", *(finding.columns or [])]:
            if column and column not in known and not column.startswith("devices."):
                key = "column" if column == finding.column else "columns"
                yield Problem(name, entry, key, f"{column!r} is not a column of the table")
        for axis in [finding.axis or "", *(finding.by or [])]:
            if axis and axis not in axes:
                yield Problem(name, entry, "axis" if axis == finding.axis else "by",
                              f"{axis!r} is not an axis of the study")  # fmt: skip


def _check_base(base: Path, given: str, path: Path, name: str, allow_outside: bool):
    """The base problem file exists and, unless allowed, lies in the study file's directory or
    the working directory (symlinks resolved), as a problem file's own paths must."""
    if not base.is_file():
        yield Problem(name, "study", "base", f"no such file {given!r} (looked in {base})")
        return
    if allow_outside:
        return
    try:
        real = base.resolve()
        roots = (path.parent.resolve(), Path.cwd().resolve())
    except (OSError, RuntimeError):
        yield Problem(name, "study", "base", f"{given!r} cannot be resolved (a symlink loop?)")
        return
    if not any(real.is_relative_to(root) for root in roots):
        why = (
            f"{given!r} is outside the study file's directory and the working directory; "
            "pass --allow-outside-paths to read it"
        )
        yield Problem(name, "study", "base", why)
