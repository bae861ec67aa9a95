"""``report_study``: a study directory's table read back and its report written beside it
(``summary.md``, figures as PNG and SVG, one self-contained ``report.html``) by the renderers
of ``optimizer.report``; ``summarize_studies``: one Markdown page over several studies' findings.
Every file atomically, none over an existing one without ``force``."""

from __future__ import annotations

import os
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from optimizer.errors import HetplanError
from optimizer.output import check_destination, write_bytes_atomic, write_text_atomic
from optimizer.results import Verdict
from optimizer.study.results import TABLE_NAMES
from optimizer.study.store import STUDY_COPY_NAME, read_manifest

REPORT_DIRECTORY = "report"
SUMMARY_NAME = "summary.md"
HTML_NAME = "report.html"


@dataclass(frozen=True, repr=False)
class StudyReport(Verdict):
    """What ``study report`` wrote: ``ok``, the study, where, and how much it shows."""

    status: str
    study: str
    directory: str  # the study directory
    out: str  # the report directory
    n_points: int  # in the design
    n_rows: int  # in the table
    n_answered: int  # with a fleet
    counts: dict[str, int]
    n_figures: int
    files: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    _REPR_FIELDS = ("study", "n_rows", "n_figures")

    @property
    def message(self) -> str:
        return f"{self.n_rows} points, {self.n_figures} figures in {self.out}"


def report_study(
    directory: str | Path, *, out: str | Path | None = None, force: bool = False
) -> StudyReport:
    """Write the report of the study in ``directory``.

    Args:
        directory: a study's output directory (``study.json`` and ``points.parquet``).
        out: the report directory (default ``DIR/report``).
        force: replace report files that exist.

    Returns:
        What was written: ``summary.md``, ``report.html`` and each figure's PNG and SVG.

    Raises:
        HetplanError: ``directory`` is not a study directory or has no table yet, its table
        cannot be read, or a report file exists and ``force`` is not given (nothing written).
    """
    from optimizer.report.study_pages import render_html, render_markdown
    from optimizer.report.study_plots import FIGURE_PREFIXES, FORMATS, draw_figure, plan_figures

    start = time.perf_counter()
    directory = Path(directory)
    frame, data = _report_data(directory)
    meta = data.meta
    out_dir = Path(out) if out is not None else directory / REPORT_DIRECTORY
    plans = plan_figures(data, frame)
    paths = [out_dir / SUMMARY_NAME, out_dir / HTML_NAME]
    paths += [out_dir / f"{p.name}.{fmt}" for p in plans for fmt in FORMATS]
    if out_dir.exists() and not out_dir.is_dir():
        raise HetplanError(f"{out_dir}: exists and is not a directory")
    for path in paths:  # refuse before drawing anything
        check_destination(path, force=force)
    figures = [draw_figure(plan, frame, data) for plan in plans]
    written = []
    for figure in figures:
        for fmt in FORMATS:
            image = getattr(figure, fmt)
            path = out_dir / f"{figure.plan.name}.{fmt}"
            written.append(write_bytes_atomic(path, image, force=force))
    written.append(write_text_atomic(out_dir / SUMMARY_NAME, render_markdown(data, figures),
                                     force=force))  # fmt: skip
    written.append(write_text_atomic(out_dir / HTML_NAME, render_html(data, figures),
                                     force=force))  # fmt: skip
    if force:
        _drop_old_figures(out_dir, set(written), FIGURE_PREFIXES, FORMATS)
    return StudyReport(
        status="ok",
        study=meta.name,
        directory=str(directory),
        out=str(out_dir),
        n_points=meta.n_planned,
        n_rows=data.n_rows,
        n_answered=data.n_answered,
        counts=data.counts,
        n_figures=len(figures),
        files=[str(p) for p in written],
        wall_s=time.perf_counter() - start,
    )


@dataclass(frozen=True, repr=False)
class StudiesSummary(Verdict):
    """What ``study summary`` wrote: ``ok``, the file and the studies it summarizes."""

    status: str
    out: str
    studies: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    _REPR_FIELDS = ("out", "studies")

    @property
    def message(self) -> str:
        return f"{len(self.studies)} studies summarized in {self.out}"


def summarize_studies(
    directories: Sequence[str | Path],
    out: str | Path,
    *,
    title: str = "Study summary",
    force: bool = False,
) -> StudiesSummary:
    """Write one Markdown summary of several studies: per study, in the order given, its
    description, points by status, the findings its study file asks for and a link to its own
    report (``DIR/report/summary.md``, where written).

    Args:
        directories: study output directories (``study.json`` and ``points.parquet``).
        out: the Markdown file to write.
        title: its first heading.
        force: replace ``out`` if it exists.

    Returns:
        The file written and the studies' names.

    Raises:
        HetplanError: no directory given, one is not a study directory or has no table yet,
        or ``out`` exists and ``force`` is not given (nothing written).
    """
    from optimizer.report.study_pages import render_summary_markdown

    start = time.perf_counter()
    if not directories:
        raise HetplanError("study summary: give at least one study directory")
    out = Path(out)
    check_destination(out, force=force)
    sections = []
    for directory in map(Path, directories):
        _, data = _report_data(directory)
        report = directory / REPORT_DIRECTORY / SUMMARY_NAME
        link = os.path.relpath(report, out.parent) if report.is_file() else None
        sections.append((data, link))
    write_text_atomic(out, render_summary_markdown(title, sections), force=force)
    return StudiesSummary(
        status="ok",
        out=str(out),
        studies=[data.meta.name for data, _ in sections],
        wall_s=time.perf_counter() - start,
    )


def _report_data(directory: Path):
    """A study directory's table and its report's numbers (``ReportData``)."""
    from optimizer.report.study_data import StudyMeta, build_report_data

    manifest = read_manifest(directory)
    frame = _read_table(directory)
    points = manifest["points"]
    description, design, asked = _study_text(directory)
    meta = StudyMeta(
        name=manifest["study"],
        description=description,
        study_file=manifest["study_file"],
        axes=tuple(points[0]["values"]) if points else (),
        n_planned=len(points),
        design=design,
        asked=asked,
    )
    return frame, build_report_data(frame, meta)


def _drop_old_figures(out_dir: Path, kept: set[Path], prefixes, formats) -> None:
    """Figures of a report replaced with ``force`` that this one did not draw again (an axis
    since gone), so the directory holds one report, not two."""
    for path in sorted(out_dir.iterdir()):
        ours = path.name.startswith(prefixes) and path.suffix.lstrip(".") in formats
        if ours and path.is_file() and path not in kept:
            path.unlink(missing_ok=True)


def _read_table(directory: Path):
    """The study's ``points.parquet``.

    Raises:
        HetplanError: there is none yet, or it cannot be read.
    """
    import pandas as pd

    path = directory / TABLE_NAMES[0]
    if not path.is_file():
        raise HetplanError(
            f"{directory}: no points table yet ({TABLE_NAMES[0]}); run 'hetplan study run' first"
        )
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise HetplanError(f"{path}: cannot read: {exc}") from None


def _study_text(directory: Path) -> tuple[str, str, tuple]:
    """The study's description, design kind and ``[[finding]]`` entries, from the copy of its
    file in ``directory`` (the run validated it; unreadable, the report does without a
    description and findings and joins no points by lines)."""
    from optimizer.report.study_data import Highest, Range, Threshold

    try:
        spec = tomllib.loads((directory / STUDY_COPY_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return "", "random", ()
    description = spec.get("study", {}).get("description", "")
    design = spec.get("design", {}).get("kind", "grid")
    asked = []
    for finding in spec.get("finding", []):
        if finding.get("kind") == "threshold":
            asked.append(Threshold(finding["axis"], finding["column"], finding.get("equals"),
                                   finding.get("below")))  # fmt: skip
        elif finding.get("kind") == "highest":
            asked.append(Highest(finding["axis"], finding["column"], finding.get("equals"),
                                 finding.get("above")))  # fmt: skip
        else:
            asked.append(Range(tuple(finding["by"]), tuple(finding["columns"])))
    return (description if isinstance(description, str) else "",
            design if isinstance(design, str) else "random", tuple(asked))  # fmt: skip
