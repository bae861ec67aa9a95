"""Leave-one-source-out validation: how well factors fitted on some publishers' measurements
predict another's (issue 13). Each source group (``catalog.cases.source_group``: one MLPerf
round, the TensorRT-LLM performance tables, the Splitwise profiles, ...) is left out in turn:
efficiency factors are fitted on every other row and the group's rows predicted with them.

A left-out row whose accelerator family, or whose weight precision, no fitted row left has is
an *extrapolation*: its error measures how the pooled factors carry to hardware or formats never
seen, not how the fit generalizes. Those rows are scored apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from optimizer.api.calibration import fit_families, predict_cases, with_engine
from optimizer.api.context import Context, open_context
from optimizer.catalog.cases import Case, load_cases, source_group
from optimizer.perf.calibration import FIT_GROUP, GROUPS
from optimizer.results import Verdict


@dataclass(frozen=True, slots=True)
class GroupScore:
    """One left-out group: its core rows' errors (throughput and fixed-batch latency), split
    into rows whose family and precision the fit still saw and extrapolations."""

    group: str
    rows: int  # its rows in the file, all metrics
    core: int  # core rows predicted
    median: float | None
    p90: float | None
    extrapolated: int
    extrapolated_median: float | None


@dataclass(frozen=True, repr=False)
class Validation(Verdict):
    """Every source group's score when left out of the fit."""

    status: str
    message: str
    cases_file: str
    groups: tuple[GroupScore, ...]
    _REPR_FIELDS = ("cases_file",)


def _kind(case: Case, context: Context) -> tuple[str, str] | None:
    """(accelerator family, weight precision) of a core row; None for another row."""
    accelerator = context.catalog.accelerators.get(case.accelerator)
    if GROUPS.get(case.metric) != FIT_GROUP or accelerator is None:
        return None
    return accelerator.family, case.precision_weights or ""


def _seen(kind: tuple[str, str] | None, kept: set[tuple[str, str]]) -> bool:
    """Whether the kept rows have the row's family and, on any family, its precision."""
    return (
        kind is not None
        and any(k[0] == kind[0] for k in kept)
        and (any(k[1] == kind[1] for k in kept))
    )


def _stats(errors: list[float]) -> tuple[float | None, float | None]:
    if not errors:
        return None, None
    return float(np.median(errors)), float(np.percentile(errors, 90))


def leave_one_source_out(
    cases_file: str | Path,
    *,
    catalog_dirs: tuple[str | Path, ...] = (),
    context: Context | None = None,
    engine: str | None = None,
) -> Validation:
    """Fit without each source group and predict it; groups with no core row are listed with
    zero rows (microbenchmark sources only bound the fit).

    Raises:
        CatalogError: an invalid CSV.
    """
    ctx = context or open_context(catalog_dirs, None)
    cases = with_engine(load_cases(cases_file), ctx, engine)
    groups: dict[str, list[Case]] = {}
    for case in cases:
        groups.setdefault(source_group(case.source), []).append(case)
    scores = []
    for group, left_out in groups.items():
        kept = [c for c in cases if source_group(c.source) != group]
        seen = {_kind(c, ctx) for c in kept} - {None}
        table = fit_families(kept, ctx.catalog).table(f"fit without {group}")
        predictions, _ = predict_cases(left_out, ctx.catalog, table)
        within, beyond = [], []
        for p in predictions:
            if p.group == FIT_GROUP:
                (within if _seen(_kind(p.case, ctx), seen) else beyond).append(p.error)
        median, p90 = _stats(within)
        scores.append(GroupScore(group, len(left_out), len(within), median, p90, len(beyond),
                                 _stats(beyond)[0]))  # fmt: skip
    scores.sort(key=lambda s: -s.core - s.extrapolated)
    scored = [s for s in scores if s.core]
    worst = max(scored, key=lambda s: s.median, default=None)
    message = (
        f"{len(groups)} source groups; worst median error left out: {worst.group} "
        f"{worst.median:.1%} over {worst.core} core rows"
        if worst
        else "no group has core rows to predict"
    )
    return Validation("ok", message, str(cases_file), tuple(scores))
