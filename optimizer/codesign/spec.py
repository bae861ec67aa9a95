"""The co-design file (``problems/codesign-*.toml``): base problems, objectives and the knobs
of hypothetical parts, validated like a problem file (one ``FILE: ENTRY: FIELD: message`` line
per problem).

A knob is a fixed value, a list of choices, or a ``{low, high}`` range (``log`` for a
log-uniform one, ``step`` for a grid); whole-number knobs (stacks, domain, radix) take whole
ranges. ``[prefill]`` designs an accelerator that serves prefill instances only and
``[decode]`` one that serves decode instances only: the split the seed paper argues for.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, ValidationError

from optimizer.catalog.base import StrictModel
from optimizer.catalog.loader import display_path, field_message, read_toml
from optimizer.errors import InputFileError, Problem

MAX_TRIALS = 100_000
MAX_SEED = 2**32 - 1
Number = Annotated[float, Field(allow_inf_nan=False, strict=False)]
Choice = str | bool | int | float


class CodesignError(InputFileError):
    """A co-design file is invalid; one ``FILE: ENTRY: FIELD: message`` problem per line."""


class Range(StrictModel):
    """A numeric knob's range: uniform from ``low`` to ``high``, log-uniform with ``log``, on a
    grid of ``step`` from ``low``."""

    low: Number
    high: Number
    log: StrictBool = False
    step: Number | None = Field(None, gt=0)


Knob = Range | list[Choice] | Choice
"""What a co-design file gives for one knob."""


class PartSpace(StrictModel):
    """``[prefill]`` or ``[decode]``: the knobs of one hypothetical accelerator
    (``codesign.parts.AcceleratorKnobs``)."""

    node: Knob
    dense_fp8_tflops: Knob
    memory: Knob
    memory_stacks: Knob
    scale_up_gb_per_s: Knob
    scale_up_domain: Knob


class PoolSpace(StrictModel):
    """``[pool]``: the knobs of a memory pool behind links (``codesign.parts.PoolKnobs``)."""

    link_gb_per_s_per_device: Knob
    capacity_gb: Knob
    radix: Knob


WHOLE = {"memory_stacks", "scale_up_domain", "radix"}
"""Knobs that take whole numbers."""
TEXT = {"node", "memory"}
"""Knobs that name an entry of the constants file."""


class BaseProblem(StrictModel):
    """``[[problem]]``: a problem file (relative to the co-design file), its weight in the
    objectives and ``--set`` style overrides."""

    file: str = Field(min_length=1)
    weight: Number = Field(1.0, gt=0)
    set: dict[str, Any] = {}


class CodesignSection(StrictModel):
    """``[codesign]``: what is searched for and how."""

    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    objectives: list[Literal["cost", "energy"]] = Field(["cost"], min_length=1, max_length=2)
    keep_catalog: StrictBool = True
    trials: Annotated[int, Field(ge=1, le=MAX_TRIALS, strict=True)] = 100
    sampler: Literal["tpe", "gp", "nsga2", "random"] = "tpe"
    seed: Annotated[int, Field(ge=0, le=MAX_SEED, strict=True)] = 0
    package_power_limit_w: Number | None = Field(None, gt=0)
    constants: str | None = Field(None, min_length=1)


class CodesignSpec(StrictModel):
    """A whole co-design file."""

    codesign: CodesignSection
    problem: list[BaseProblem] = Field(min_length=1, max_length=16)
    prefill: PartSpace | None = None
    decode: PartSpace | None = None
    pool: PoolSpace | None = None


@dataclass(frozen=True)
class Codesign:
    """A validated co-design file: its spec, base problem paths and content hash."""

    path: Path
    spec: CodesignSpec
    problems: tuple[Path, ...]
    constants: Path | None
    sha256: str

    def knobs(self) -> dict[str, Knob]:
        """Every knob by dotted name (``decode.memory_stacks``), in file order."""
        out: dict[str, Knob] = {}
        for part in ("prefill", "decode", "pool"):
            space = getattr(self.spec, part)
            if space is not None:
                out |= {f"{part}.{k}": getattr(space, k) for k in type(space).model_fields}
        return out


def load_codesign(path: str | Path) -> Codesign:
    """Read and check a co-design file; every problem at once.

    Raises:
        CodesignError: one ``FILE: ENTRY: FIELD: message`` per problem.
    """
    path = Path(path)
    name = display_path(path)
    problems: list[Problem] = []
    read = read_toml(path, name, problems)
    if read is None:
        raise CodesignError(problems)
    raw, data = read
    try:
        spec = CodesignSpec.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            entry, rest = _locate(tuple(error["loc"]))
            problems.append(Problem(name, entry, *field_message({**error, "loc": rest})))
        raise CodesignError(problems) from None
    bases = tuple(Path(os.path.normpath(path.parent / p.file)) for p in spec.problem)
    for i, (base, given) in enumerate(zip(bases, spec.problem, strict=True)):
        if not base.is_file():
            why = f"no such file {given.file!r} (looked in {base})"
            problems.append(Problem(name, f"problem[{i}]", "file", why))
    constants = None
    if spec.codesign.constants is not None:
        constants = Path(os.path.normpath(path.parent / spec.codesign.constants))
        if not constants.is_file():
            why = f"no such file {spec.codesign.constants!r} (looked in {constants})"
            problems.append(Problem(name, "codesign", "constants", why))
    problems.extend(_check_knobs(spec, name))
    if not problems:
        problems.extend(_check_names(spec, constants, name))
    if problems:
        raise CodesignError(problems)
    return Codesign(path, spec, bases, constants, hashlib.sha256(raw).hexdigest())


def _locate(loc: tuple) -> tuple[str, tuple]:
    if len(loc) > 1 and loc[0] == "problem" and isinstance(loc[1], int):
        return f"problem[{loc[1]}]", loc[2:]
    return (str(loc[0]), loc[1:]) if loc else ("", ())


def _check_knobs(spec: CodesignSpec, name: str) -> Iterator[Problem]:
    if spec.prefill is None and spec.decode is None:
        yield Problem(name, "", "decode", "design at least one part: [prefill] or [decode]")
    for part in ("prefill", "decode", "pool"):
        space = getattr(spec, part)
        if space is None:
            continue
        for key in type(space).model_fields:
            yield from _check_knob(getattr(space, key), key, part, name)


def _check_names(spec: CodesignSpec, path: Path | None, name: str) -> Iterator[Problem]:
    """Each node and memory a knob names is an entry of the constants file, so that a typo is
    said before the search starts (a constants file's own problems are its loader's)."""
    from optimizer.codesign.constants import load_constants

    constants = load_constants(path)
    known = {"node": constants.node, "memory": constants.memory}
    for part in ("prefill", "decode"):
        space = getattr(spec, part)
        for key, table in known.items() if space is not None else ():
            knob = getattr(space, key)
            for value in knob if isinstance(knob, list) else [knob]:
                if value not in table:
                    why = f"no {key} {value!r} in the co-design constants; known: "
                    yield Problem(name, part, key, why + ", ".join(sorted(table)))


def _check_knob(knob: Knob, key: str, part: str, name: str) -> Iterator[Problem]:
    values = knob if isinstance(knob, list) else [knob]
    if not values:
        yield Problem(name, part, key, "give at least one choice")
        return
    if isinstance(knob, Range):
        if key in TEXT:
            yield Problem(name, part, key, "names an entry: give a name or a list of names")
        elif not knob.low < knob.high:
            why = f"must be > low ({knob.high:g} <= {knob.low:g})"
            yield Problem(name, part, f"{key}.high", why)
        elif knob.log and knob.low <= 0:
            why = f"must be > 0 on a log range, got {knob.low:g}"
            yield Problem(name, part, f"{key}.low", why)
        elif key in WHOLE and not (knob.low.is_integer() and knob.high.is_integer()):
            yield Problem(name, part, key, "takes whole numbers: give whole low and high")
        elif key in WHOLE and knob.step is not None and not knob.step.is_integer():
            yield Problem(name, part, f"{key}.step", f"must be whole, got {knob.step:g}")
        elif knob.log and knob.step is not None:
            yield Problem(name, part, f"{key}.step", "a log range takes no step")
        elif key not in WHOLE and knob.low <= 0:
            yield Problem(name, part, f"{key}.low", f"must be > 0, got {knob.low:g}")
        return
    for value in values:
        if key in TEXT and not isinstance(value, str):
            yield Problem(name, part, key, f"names an entry, got {value!r}")
        elif key not in TEXT and (isinstance(value, bool | str) or not math.isfinite(value)):
            yield Problem(name, part, key, f"must be a number, got {value!r}")
        elif key in WHOLE and not float(value).is_integer():
            yield Problem(name, part, key, f"takes whole numbers, got {value!r}")
        elif key not in TEXT and value <= 0:
            yield Problem(name, part, key, f"must be > 0, got {value!r}")
