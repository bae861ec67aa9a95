"""``compare``: solutions side by side, saved ones or what-if variants of one problem."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from optimizer.api.fields import FieldError
from optimizer.api.overrides import problem_overrides
from optimizer.api.provisioning import solve
from optimizer.catalog.loader import UnreadableFileError, read_input
from optimizer.catalog.problem_loader import load_problem
from optimizer.errors import InputFileError, Problem
from optimizer.results import Verdict
from optimizer.search.solution import SCHEMA_VERSION, Solution

MAX_SOLUTION_PROBLEMS = 20
"""The most problems listed for one invalid solution file (the rest are counted)."""
_REQUIRED = ("problem", "status", "objective_kind", "objective_units", "wall_s", "solver")
_Scalar = str | int | float | bool | None


class WholeUnits(BaseModel):
    """What a solution's ``systems`` says of one kind of system bought in whole units."""

    model_config = ConfigDict(strict=True)

    accelerator: str
    devices_per_unit: int
    units: int
    idle_devices: int


class _Untyped(BaseModel):
    """The shapes of the mappings a :class:`Solution` types only as ``dict``; other keys are
    the Solution's own to check."""

    model_config = ConfigDict(strict=True, extra="ignore")

    solver: dict[str, _Scalar]
    cost_breakdown: dict[str, float | None] = {}
    systems: dict[str, WholeUnits] = {}
    devices: dict[str, int] = {}


@dataclass(frozen=True, repr=False)
class Comparison(Verdict):
    """Labelled solutions, in order; ``success`` when every one found a fleet."""

    status: str
    labels: tuple[str, ...]
    solutions: tuple[Solution, ...]
    _REPR_FIELDS = ("labels",)

    @property
    def message(self) -> str:
        unsolved = [lbl for lbl, s in zip(self.labels, self.solutions, strict=True)
                    if not s.success]  # fmt: skip
        if unsolved:
            return f"no fleet for {', '.join(unsolved)}"
        return f"{len(self.solutions)} solutions side by side"

    def to_dict(self) -> dict:
        pairs = zip(self.labels, self.solutions, strict=True)
        return self.verdict() | {"solutions": [{"label": lbl, **s.to_dict()} for lbl, s in pairs]}

    def rows(self) -> list[dict]:
        """One flat record per solution, labelled."""
        pairs = zip(self.labels, self.solutions, strict=True)
        return [{"label": lbl, **s.to_row()} for lbl, s in pairs]


def read_saved_solution(path: str | Path) -> Solution:
    """A solution file as ``solve --out`` wrote it, read like every other input: a regular file
    of at most ``MAX_INPUT_BYTES``, strict JSON (no NaN, no ±Infinity, no number that overflows
    a float), this hetplan's ``schema_version``, and every field of its type, booleans, numbers
    and strings taken only as themselves.

    Raises:
        InputFileError: one ``FILE: ENTRY: FIELD: message`` problem per wrong field.
    """
    name = str(path)
    try:
        data = json.loads(
            read_input(Path(path)), parse_constant=_refuse, parse_float=_finite, parse_int=_int
        )
    except UnreadableFileError as exc:
        raise InputFileError([Problem(name, "", "", str(exc))]) from None
    except RecursionError:
        raise InputFileError([Problem(name, "", "", "nested too deeply to read")]) from None
    except (UnicodeDecodeError, ValueError) as exc:  # ValueError: not JSON, a 5,000-digit int
        why = f"not a solution JSON file ({exc})"
        raise InputFileError([Problem(name, "", "", why)]) from None
    _check_header(data, name)
    given = {k: v for k, v in data.items() if k not in ("success", "message")}
    try:
        _Untyped.model_validate(given)
        return _solution_adapter().validate_json(json.dumps(given), strict=True)
    except ValidationError as exc:
        raise InputFileError(_problems(name, exc.errors())) from None


def _refuse(constant: str):
    raise ValueError(f"{constant} is not a JSON number")


def _int(text: str) -> int:
    """A JSON integer of at most 15 digits: beyond that no count or float field is meant."""
    if len(text.lstrip("-")) > 15:
        raise ValueError(f"an integer of {len(text.lstrip('-')):,} digits; at most 15 are read")
    return int(text)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} overflows a float")
    return value


def _check_header(data, name: str) -> None:
    """A JSON object with this hetplan's schema version and every required key."""
    if not isinstance(data, dict) or "schema_version" not in data:
        raise InputFileError([Problem(name, "", "", "not a hetplan solution (no schema_version)")])
    version = data["schema_version"]
    if type(version) is not int or version != SCHEMA_VERSION:
        why = f"schema_version {json.dumps(version)[:20]}; this hetplan reads {SCHEMA_VERSION}"
        raise InputFileError([Problem(name, "", "", why)])
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise InputFileError([Problem(name, "", k, "required field missing") for k in missing])


def _problems(name: str, errors: list[dict]) -> list[Problem]:
    """One problem per pydantic error, at most ``MAX_SOLUTION_PROBLEMS`` and a count of the rest;
    the wrong value itself is not echoed (it may be long)."""
    out = [
        Problem(name, "", ".".join(str(part) for part in e["loc"]), e["msg"])
        for e in errors[:MAX_SOLUTION_PROBLEMS]
    ]
    if len(errors) > MAX_SOLUTION_PROBLEMS:
        out.append(Problem(name, "", "", f"and {len(errors) - MAX_SOLUTION_PROBLEMS} more"))
    return out


@cache
def _solution_adapter() -> TypeAdapter:
    return TypeAdapter(Solution)


def _comparison(labels: Sequence[str], solutions: Sequence[Solution]) -> Comparison:
    status = "ok" if all(s.success for s in solutions) else "partial"
    return Comparison(status, tuple(labels), tuple(solutions))


def compare(
    solution_files: Sequence[str | Path] = (),
    *,
    problem: str | Path | None = None,
    vary: Mapping[str, Sequence[str]] | None = None,
    overrides: Mapping[str, str] | None = None,
    catalog_dirs: Sequence[str | Path] = (),
    efficiency: str | Path | None = None,
    workers: int | None = None,
    verbose: bool = False,
    allow_outside_paths: bool = False,
) -> Comparison:
    """Two or more saved solutions, or ``problem`` solved once per combination of ``vary``
    (on top of ``overrides``), labelled for a side-by-side table. ``allow_outside_paths`` is
    ``load_problem``'s.

    Raises:
        FieldError: neither or both of files and a problem, fewer than two files, or a
        ``vary`` that names no values.
    """
    if problem is None:
        if vary or overrides:
            raise FieldError("overrides", "apply to a problem file with {vary}")
        if len(solution_files) < 2:
            raise FieldError("solution_files", "give two or more, or a problem and {vary}")
        return _comparison(
            [str(p) for p in solution_files], [read_saved_solution(p) for p in solution_files]
        )
    if solution_files:
        raise FieldError("solution_files", "give solution files or a problem, not both")
    if not vary:
        raise FieldError("vary", "name at least one field to vary")
    variants = problem_overrides(overrides, vary)
    loaded = [
        load_problem(problem, v.overrides, catalog_dirs, allow_outside_paths=allow_outside_paths)
        for v in variants
    ]
    solutions = [solve(p, efficiency=efficiency, workers=workers, verbose=verbose) for p in loaded]
    return _comparison([v.label for v in variants], solutions)
