"""``report_codesign``: a co-design directory's trials and reference read back and its report
written beside them (``summary.md``, figures as PNG and SVG, one self-contained
``report.html``) by the renderers of ``optimizer.report``. Each best design is explained with
``optimizer.api.analyze`` on a catalog holding its parts."""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from optimizer.catalog.units import GIGA
from optimizer.codesign.runner import COPY_NAME, REFERENCE_NAME, TABLE_NAMES, read_manifest
from optimizer.errors import HetplanError
from optimizer.output import write_bytes_atomic, write_text_atomic

REPORT_DIRECTORY = "report"
SUMMARY_NAME = "summary.md"
HTML_NAME = "report.html"
DEFAULT_BATCH = 16.0
"""Requests per step at which a part is analysed where no fleet of the design serves a base
problem with it (or its pools record no batch): ``analyze``'s own default."""
MAX_EXPLAINED = 8
"""Best designs explained in OI/CF terms; the others are in the tables only."""


@dataclass(frozen=True)
class CodesignReport:
    """What ``report_codesign`` wrote (``files``) and its lines for the terminal."""

    out: str
    files: tuple[str, ...]
    headlines: tuple[str, ...]


def report_codesign(
    directory: str | Path,
    *,
    out: str | Path | None = None,
    force: bool = True,
    catalog_dirs: Sequence[str | Path] = (),
    efficiency: str | Path | None = None,
) -> CodesignReport:
    """Write the report of the co-design run in ``directory``.

    Args:
        directory: a co-design output directory (``codesign.json``, ``trials.parquet``,
            ``reference.json``).
        out: the report directory (default ``DIR/report``), rewritten on each run.
        force: write into ``out`` even when it holds files a co-design report does not write.
        catalog_dirs, efficiency: as the run was given (they explain the designs).

    Returns:
        The files written (``summary.md``, ``report.html``, each figure's PNG and SVG) and
        short lines on the catalog-only fleets, the best designs and the infeasible ones.

    Raises:
        HetplanError: ``directory`` is not a co-design directory, a table is missing or
        unreadable, or ``out`` is not a co-design report and ``force`` is False.
    """
    from optimizer.report.codesign_data import headlines
    from optimizer.report.codesign_pages import render_html, render_markdown
    from optimizer.report.codesign_plots import FIGURE_NAMES, draw_figures
    from optimizer.report.study_plots import FORMATS

    directory = Path(directory)
    out_dir = Path(out) if out is not None else directory / REPORT_DIRECTORY
    names = {SUMMARY_NAME, HTML_NAME, *(f"{n}.{f}" for n in FIGURE_NAMES for f in FORMATS)}
    _claim(out_dir, names, force=force)  # before any work
    frame, data = codesign_report_data(directory, catalog_dirs=catalog_dirs, efficiency=efficiency)
    figures = draw_figures(frame, data)
    written = []
    for figure in figures:
        for fmt in FORMATS:
            path = out_dir / f"{figure.plan.name}.{fmt}"
            written.append(write_bytes_atomic(path, getattr(figure, fmt), force=True))
    written.append(write_text_atomic(out_dir / SUMMARY_NAME, render_markdown(data, figures),
                                     force=True))  # fmt: skip
    written.append(write_text_atomic(out_dir / HTML_NAME, render_html(data, figures),
                                     force=True))  # fmt: skip
    for name in sorted(names - {p.name for p in written}):  # a figure not drawn this time
        (out_dir / name).unlink(missing_ok=True)
    return CodesignReport(str(out_dir), tuple(map(str, written)), headlines(data))


def codesign_report_data(
    directory: str | Path,
    *,
    catalog_dirs: Sequence[str | Path] = (),
    efficiency: str | Path | None = None,
):
    """A co-design directory's trials table and its report's numbers (``CodesignData``), the
    best designs explained in OI/CF terms; what :func:`report_codesign` lays out.

    Raises:
        HetplanError: as :func:`report_codesign`.
    """
    from optimizer.report.codesign_data import SearchFacts, build_codesign_data

    directory = Path(directory)
    manifest = read_manifest(directory)
    frame = _read_trials(directory)
    reference = _read_json(directory / REFERENCE_NAME)
    spec = _read_copy(directory)
    attrs = _study_attrs(directory, manifest)
    facts = SearchFacts(
        name=manifest["codesign"],
        description=str(spec.get("codesign", {}).get("description", "")),
        codesign_file=manifest["codesign_file"],
        storage=manifest["storage"],
        sampler=manifest.get("sampler", attrs.get("sampler")),
        seed=manifest.get("seed", attrs.get("seed")),
        hetplan_version=manifest.get("hetplan_version", attrs.get("hetplan_version")),
        optuna_version=manifest.get("optuna_version", attrs.get("optuna_version")),
        n_runs=len(attrs["runs"]) if "runs" in attrs else None,
    )
    objectives = tuple(manifest["objectives"])
    data = build_codesign_data(frame, facts, objectives, reference, _knob_order(spec))
    walls, note = _explain(manifest, data.best, catalog_dirs, efficiency)
    return frame, replace(data, walls=walls, walls_note=note)


def _claim(out_dir: Path, names: set[str], *, force: bool) -> None:
    """Refuse ``out_dir`` when it is not a directory, or (without ``force``) holds anything
    a co-design report does not write."""
    if out_dir.exists() and not out_dir.is_dir():
        raise HetplanError(f"{out_dir}: exists and is not a directory")
    if out_dir.is_dir() and not force:
        other = sorted(p.name for p in out_dir.iterdir() if p.name not in names)
        if other:
            raise HetplanError(
                f"{out_dir}: is not a co-design report (holds {', '.join(other[:3])}); "
                "give another directory, or force to write into it"
            )


def _read_trials(directory: Path):
    import pandas as pd

    path = directory / TABLE_NAMES[0]
    if not path.is_file():
        raise HetplanError(f"{directory}: no trials table yet ({TABLE_NAMES[0]}); run "
                           "'hetplan codesign' first")  # fmt: skip
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise HetplanError(f"{path}: cannot read: {exc}") from None


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HetplanError(f"{path}: missing; run 'hetplan codesign' again to solve it") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise HetplanError(f"{path}: cannot read: {exc}") from None
    if not isinstance(data, dict) or "totals" not in data or "fleets" not in data:
        raise HetplanError(f"{path}: not a co-design reference (no totals and fleets)")
    return data


def _read_copy(directory: Path) -> dict:
    """The copy of the co-design file (the run validated it); unreadable: empty."""
    try:
        return tomllib.loads((directory / COPY_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


def _knob_order(spec: dict) -> list[str]:
    """Knob names in the file's order: ``prefill.node``, ..."""
    return [
        f"{part}.{key}"
        for part in ("prefill", "decode", "pool")
        if isinstance(spec.get(part), dict)
        for key in spec[part]
    ]


def _study_attrs(directory: Path, manifest: dict) -> dict:
    """The study's user attributes (seed, sampler, versions, runs) where its storage is a
    file this process can open (the default SQLite file, a journal); else empty: a database
    server is not contacted to write a report, and its URL is kept without password."""
    import optuna

    from optimizer.codesign.search import SearchSettings
    from optimizer.codesign.storage import (
        DEFAULT_NAME,
        StorageError,
        StorageSpec,
        open_storage,
        resolve_storage,
    )

    try:
        spec = resolve_storage(manifest["storage"], directory)
    except StorageError:
        return {}
    if (directory / DEFAULT_NAME).is_file() and spec.target.endswith(DEFAULT_NAME):
        local = directory / DEFAULT_NAME  # the run's working directory may not be ours
        spec = StorageSpec("rdb", f"sqlite:///{local}", str(local))
    elif spec.kind == "rdb" and spec.target.startswith("sqlite:///"):
        local = Path(spec.target.removeprefix("sqlite:///"))
    else:
        local = Path(spec.target) if spec.kind == "journal" else None
    if local is None or not local.is_file():
        return {}
    try:
        storage = open_storage(
            spec, heartbeat_s=SearchSettings.heartbeat_s, grace_s=SearchSettings.grace_s
        )
        return dict(optuna.load_study(study_name=manifest["codesign"], storage=storage).user_attrs)
    except (StorageError, KeyError):
        return {}


def _explain(manifest: dict, best, catalog_dirs, efficiency):
    """(PartWall of each part of the first ``MAX_EXPLAINED`` best designs and each serve
    class of each base problem, a note on what is not explained or None)."""
    from optimizer.catalog.problem_loader import load_problem
    from optimizer.codesign.evaluate import DesignEvaluator
    from optimizer.codesign.spec import load_codesign

    if not best:
        return (), None
    path = Path(manifest["codesign_file"])
    try:
        same = hashlib.sha256(path.read_bytes()).hexdigest() == manifest["codesign_sha256"]
    except OSError:
        same = False
    if not same:
        return (), (f"The designs are not explained: the co-design file {path} is not where "
                    "the run read it, or has changed since.")  # fmt: skip
    try:
        codesign = load_codesign(path)
        problems = []
        for given, problem_path in zip(codesign.spec.problem, codesign.problems, strict=True):
            overrides = {k: str(v) for k, v in _flat(given.set)}
            problems.append(load_problem(problem_path, overrides, catalog_dirs).spec)
        evaluator = DesignEvaluator(path, catalog_dirs=catalog_dirs, efficiency=efficiency)
        walls = []
        for design in best[:MAX_EXPLAINED]:
            walls += _design_walls(evaluator, design, problems, efficiency)
    except HetplanError as exc:  # a base problem or the catalog changed since the run
        return (), f"The designs are not explained: {exc}"
    note = None
    if len(best) > MAX_EXPLAINED:
        note = f"The first {MAX_EXPLAINED} of {len(best)} best designs are explained."
    return tuple(walls), note


def _flat(table: dict, prefix: str = ""):
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _design_walls(evaluator, design, problems, efficiency) -> list:
    """Each part of one design against each serve class of each base problem."""
    from optimizer.api.analysis import AnalyzeRequest, analyze
    from optimizer.api.context import Context, efficiency_table
    from optimizer.perf.operators import phase_walls
    from optimizer.report.codesign_data import PartWall

    catalog = evaluator.catalog_with(design.knobs)
    context = Context(catalog, efficiency_table(catalog, efficiency))
    parts = {role: part.entry["id"] for role, part in evaluator.parts(design.knobs).items()}
    walls = []
    for problem in problems:
        name = problem.problem.name
        for serve in problem.serve:
            for role, part in parts.items():
                pools = _pools(design.fleets, name, part)
                given = next((p for p in pools if p["batch"]), None)
                batch = float(given["batch"]) if given else DEFAULT_BATCH
                precision = (given or {}).get("precision") or problem.styles.precisions[0]
                request = AnalyzeRequest(model=serve.model, workload=serve.workload,
                                         accelerators=(part,), precision=precision,
                                         batch=batch)  # fmt: skip
                analysis = analyze(request, context=context).analysis
                device = analysis.devices[0]
                phase = analysis.prefill if role == "prefill" else analysis.decode
                walls.append(PartWall(
                    number=design.number, role=role, part=part, problem=name,
                    model=serve.model, workload=serve.workload, precision=precision,
                    batch=batch, batch_from_fleet=given is not None,
                    ridge_flop_per_byte=device.ridge_flop_per_byte,
                    prefill_oi_flop_per_byte=float(analysis.prefill.oi_flop_per_byte),
                    decode_oi_flop_per_byte=float(analysis.decode.oi_flop_per_byte),
                    wall=phase_walls(phase, analysis.devices)[part], tp=device.tp,
                    memory_gb=device.memory_bytes / GIGA,
                    cf_gb=float(phase.cf_bytes) / GIGA,
                    pools=tuple((p["objective"], p["devices"], p["bound"]) for p in pools),
                ))  # fmt: skip
    return walls


def _pools(fleets, problem: str, part: str) -> list[dict]:
    """``part`` in each of ``problem``'s fleets that uses it: the fleet's objective, devices
    over its pools, and the bound, batch and precision of its largest pool (batch and
    precision None where the fleet summary records none)."""
    found = []
    for fleet in fleets:
        pools = [p for p in fleet["pools"] if p["accelerator"] == part]
        if fleet["problem"] == problem and pools:
            largest = max(pools, key=lambda p: p["devices"])
            found.append({
                "objective": fleet["objective"],
                "devices": sum(p["devices"] for p in pools),
                "bound": largest["bound"],
                "batch": largest.get("batch"),
                "precision": largest.get("precision"),
            })  # fmt: skip
    return found
