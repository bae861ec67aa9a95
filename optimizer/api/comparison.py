"""``compare``: solutions side by side, saved ones or what-if variants of one problem."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from optimizer.api.fields import FieldError
from optimizer.api.overrides import problem_overrides
from optimizer.api.provisioning import solve
from optimizer.catalog.problem_loader import load_problem
from optimizer.results import Verdict
from optimizer.search.solution import Solution, read_solution


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
            [str(p) for p in solution_files], [read_solution(p) for p in solution_files]
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
