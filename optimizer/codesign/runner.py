"""``hetplan codesign``: a co-design file's search run (or resumed) into an output directory,
with the best catalog-only fleets to compare against and the trials as tables.

The directory holds the file's copy, the Optuna storage (SQLite by default), a manifest,
``reference.json`` (the catalog-only optimum of every base problem and objective, solved once
per directory) and ``trials.parquet``/``trials.csv``; ``codesign.report`` writes the report.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from optimizer.catalog.loader import display_path
from optimizer.codesign.evaluate import OBJECTIVE_NAMES, DesignEvaluator
from optimizer.codesign.search import SearchSettings, run_search, trials_frame
from optimizer.codesign.space import search_space
from optimizer.codesign.spec import Codesign, load_codesign
from optimizer.errors import HetplanError
from optimizer.output import write_bytes_atomic, write_text_atomic
from optimizer.results import Verdict

MANIFEST_NAME = "codesign.json"
COPY_NAME = "codesign.toml"
REFERENCE_NAME = "reference.json"
TABLE_NAMES = ("trials.parquet", "trials.csv")
STORAGE_NAME = "codesign.db"
OWN_NAMES = frozenset({MANIFEST_NAME, COPY_NAME, REFERENCE_NAME, STORAGE_NAME, *TABLE_NAMES,
                       "report"})  # fmt: skip
"""What a run writes; a directory holding only these is a co-design directory."""


@dataclass(frozen=True, repr=False)
class CodesignRun(Verdict):
    """What a run did: ``ok`` with a feasible design, ``infeasible`` without; trials by state,
    the best designs and where everything is."""

    status: str
    codesign: str
    directory: str
    storage: str
    sampler: str
    seed: int
    objectives: tuple[str, ...]
    n_trials: int
    n_complete: int
    n_feasible: int
    n_failed: int
    wall_s: float
    best: tuple[dict, ...] = ()  # the Pareto front (one design for one objective)
    reference: dict = field(default_factory=dict)  # objective name -> catalog-only value
    files: dict = field(default_factory=dict)
    _REPR_FIELDS = ("codesign", "n_complete", "n_feasible")

    @property
    def message(self) -> str:
        if not self.best:
            return f"{self.n_complete} trials, no feasible design"
        return (f"{self.n_complete} trials ({self.n_feasible} feasible), "
                f"{len(self.best)} best design(s)")  # fmt: skip


def default_directory(codesign: Codesign) -> Path:
    """``results/codesign/<name>`` under the working directory."""
    return Path("results") / "codesign" / codesign.spec.codesign.name


def run_codesign(
    path: str | Path,
    *,
    out: str | Path | None = None,
    trials: int | None = None,
    workers: int = 1,
    storage: str | None = None,
    sampler: str | None = None,
    seed: int | None = None,
    force: bool = False,
    catalog_dirs: Sequence[str | Path] = (),
    efficiency: str | Path | None = None,
    on_trial: Callable[[int, int], None] | None = None,
) -> CodesignRun:
    """Search the co-design file's designs (resuming its storage), solve the catalog-only
    reference once, and write the trials' tables.

    Args:
        path: the co-design file.
        out: the output directory (default ``results/codesign/<name>``).
        trials: total trials the study should hold (default: the file's ``trials``).
        workers: processes sharing the study.
        storage: an SQLAlchemy URL or a journal file (default: SQLite in ``out``).
        sampler, seed: override the file's.
        force: write into a directory that holds another co-design's results or other files.
        catalog_dirs, efficiency: as for ``solve``.
        on_trial: called with (finished, total) after each trial of this process.

    Raises:
        CodesignError: an invalid file; HetplanError: the directory cannot be used.
    """
    start = time.perf_counter()
    codesign = load_codesign(path)
    section = codesign.spec.codesign
    directory = Path(out) if out is not None else default_directory(codesign)
    knobs, _ = search_space(codesign)
    settings = SearchSettings(
        name=section.name,
        directions=tuple("minimize" for _ in section.objectives),
        objective_names=tuple(OBJECTIVE_NAMES[o] for o in section.objectives),
        knobs=knobs,
        n_trials=trials or section.trials,
        workers=workers,
        sampler=sampler or section.sampler,
        seed=section.seed if seed is None else seed,
        storage=storage,
        out=directory,
    )
    from optimizer.codesign.storage import resolve_storage  # Optuna, loaded when a run starts

    resolve_storage(settings.storage, directory)  # a bad --storage is said before any write
    _claim(directory, codesign, force=force)
    _write_manifest(directory, codesign, settings)
    evaluator = DesignEvaluator(path, catalog_dirs=catalog_dirs, efficiency=efficiency)
    reference = _reference(directory, codesign, evaluator)
    result = run_search(settings, evaluator, progress=on_trial)
    files = _write_tables(directory, trials_frame(result.study))
    return CodesignRun(
        status="ok" if result.best else "infeasible",
        codesign=section.name,
        directory=str(directory),
        storage=result.storage,
        sampler=settings.sampler,
        seed=settings.seed,
        objectives=settings.objective_names,
        n_trials=result.n_trials,
        n_complete=result.n_complete,
        n_feasible=result.n_feasible,
        n_failed=result.n_failed,
        wall_s=time.perf_counter() - start,
        best=tuple(result.best),
        reference=reference["totals"],
        files=files,
    )


def _claim(directory: Path, codesign: Codesign, *, force: bool) -> None:
    """Create ``directory`` or check it is this co-design's (resuming is the normal case)."""
    if os.path.lexists(directory) and not directory.is_dir():
        raise HetplanError(f"{directory}: exists and is not a directory")
    if directory.is_dir() and not force:
        manifest = directory / MANIFEST_NAME
        if manifest.is_file():
            owner = read_manifest(directory)
            if owner["codesign_sha256"] != codesign.sha256:
                raise HetplanError(
                    f"{directory}: holds the results of another co-design file "
                    f"({owner['codesign_file']}); give another --out, or --force to continue "
                    "its storage with this file"
                )
        elif any(p.name not in OWN_NAMES for p in directory.iterdir()):
            raise HetplanError(
                f"{directory}: exists and is not a co-design directory (no {MANIFEST_NAME}); "
                "not written without --force"
            )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HetplanError(f"{directory}: cannot create: {exc.strerror or exc}") from None
    write_bytes_atomic(directory / COPY_NAME, codesign.path.read_bytes(), force=True)


def _reference(directory: Path, codesign: Codesign, evaluator: DesignEvaluator) -> dict:
    """The best catalog-only fleets, solved once per directory and file content."""
    path = directory / REFERENCE_NAME
    if path.is_file():
        try:
            kept = json.loads(path.read_text(encoding="utf-8"))
            if kept.get("codesign_sha256") == codesign.sha256:
                return kept
        except (OSError, ValueError):
            pass  # unreadable: solved again and rewritten
    fleets = evaluator.catalog_only()
    totals: dict[str, float | None] = {}
    weights = [p.weight for p in codesign.spec.problem for _ in codesign.spec.codesign.objectives]
    for fleet, weight in zip(fleets, weights, strict=True):
        name = OBJECTIVE_NAMES[fleet["objective"]]
        if fleet["value"] is None or totals.get(name, 0.0) is None:
            totals[name] = None
        else:
            totals[name] = totals.get(name, 0.0) + weight * fleet["value"]
    reference = {"codesign_sha256": codesign.sha256, "totals": totals, "fleets": fleets}
    text = json.dumps(reference, indent=1, allow_nan=False) + "\n"
    write_text_atomic(path, text, force=True)
    return reference


def _write_tables(directory: Path, frame) -> dict[str, str]:
    parquet, csv = (directory / name for name in TABLE_NAMES)
    write_bytes_atomic(parquet, frame.to_parquet(index=False), force=True)
    write_text_atomic(csv, frame.to_csv(index=False), force=True)
    return {"parquet": str(parquet), "csv": str(csv)}


def _write_manifest(directory: Path, codesign: Codesign, settings: SearchSettings) -> None:
    """Claim the directory for this file before any trial runs, so that a run killed early is
    resumed, not refused."""
    from optimizer.codesign.storage import resolve_storage

    manifest = {
        "codesign": codesign.spec.codesign.name,
        "codesign_file": display_path(codesign.path),  # relative to the working directory
        "codesign_sha256": codesign.sha256,
        "storage": resolve_storage(settings.storage, settings.out).text,
        "objectives": list(settings.objective_names),
        "sampler": settings.sampler,
        "seed": settings.seed,
    }
    text = json.dumps(manifest, indent=1, allow_nan=False) + "\n"
    write_text_atomic(directory / MANIFEST_NAME, text, force=True)


def read_manifest(directory: Path) -> dict:
    """A co-design directory's manifest.

    Raises:
        HetplanError: no directory, no manifest, or not one this hetplan wrote.
    """
    path = directory / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        why = f"not a co-design directory (no {MANIFEST_NAME})"
        raise HetplanError(f"{directory}: {why}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise HetplanError(f"{path}: cannot read: {exc}") from None
    keys = ("codesign", "codesign_file", "codesign_sha256", "storage", "objectives")
    if not isinstance(manifest, dict) or any(k not in manifest for k in keys):
        raise HetplanError(f"{path}: not a co-design manifest")
    return manifest
