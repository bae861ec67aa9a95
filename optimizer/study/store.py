"""A study's output directory: which study owns it, a lock while one run writes to it, and the
manifest that lets ``study status`` count points without re-reading the study or catalog."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from optimizer.errors import HetplanError
from optimizer.output import write_bytes_atomic, write_text_atomic
from optimizer.study.journal import JOURNAL_NAME
from optimizer.study.results import TABLE_NAMES
from optimizer.study.spec import Study

MANIFEST_NAME = "study.json"
STUDY_COPY_NAME = "study.toml"
LOCK_NAME = ".lock"
MANIFEST_VERSION = 1
OWN_NAMES = frozenset({MANIFEST_NAME, STUDY_COPY_NAME, LOCK_NAME, JOURNAL_NAME, *TABLE_NAMES})
"""What a run writes: a directory holding only these (a run killed before its manifest was
written) is taken as a study directory."""


def default_directory(study_file: Path) -> Path:
    """``results/studies/<study file stem>`` under the working directory."""
    return Path("results") / "studies" / study_file.stem


@contextlib.contextmanager
def claimed(directory: Path, study: Study, *, force: bool) -> Iterator[Path]:
    """Hold ``directory`` for one run of ``study``: created if needed, refused when it holds
    another study's results or other files (unless ``force``) or another run is writing to it.
    Resuming into the directory of the same study is the normal case, not an overwrite."""
    _check_owner(directory, study, force=force)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HetplanError(f"{directory}: cannot create: {exc.strerror or exc}") from None
    with _locked(directory):
        write_bytes_atomic(directory / STUDY_COPY_NAME, study.text, force=True)
        yield directory


def _check_owner(directory: Path, study: Study, *, force: bool) -> None:
    if os.path.lexists(directory) and not directory.is_dir():
        raise HetplanError(f"{directory}: exists and is not a directory")
    if not directory.is_dir() or force:
        return
    manifest = directory / MANIFEST_NAME
    if manifest.is_file():
        owner = read_manifest(directory)
        if owner["study_sha256"] != study.sha256:
            raise HetplanError(
                f"{directory}: holds the results of another study ({owner['study_file']}, "
                f"sha256 {owner['study_sha256'][:12]}); give another --out, or --force to run "
                "this study there (points with the same problem and catalog are kept)"
            )
    elif any(p.name not in OWN_NAMES for p in directory.iterdir()):
        raise HetplanError(
            f"{directory}: exists and is not a study directory (no {MANIFEST_NAME}); "
            "not written without --force"
        )


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive lock on ``directory/.lock`` for as long as the run lasts (the kernel frees
    it when the process dies, however it dies)."""
    import fcntl

    with open(directory / LOCK_NAME, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise HetplanError(
                f"{directory}: another 'hetplan study run' is writing here; wait for it"
            ) from None
        yield


def write_manifest(directory: Path, manifest: dict) -> None:
    text = json.dumps({"version": MANIFEST_VERSION, **manifest}, indent=1, allow_nan=False)
    write_text_atomic(directory / MANIFEST_NAME, text + "\n", force=True)


def read_manifest(directory: Path) -> dict:
    """The manifest of a study directory.

    Raises:
        HetplanError: no such directory, no manifest, or one this hetplan did not write.
    """
    path = directory / MANIFEST_NAME
    if not directory.is_dir():
        raise HetplanError(f"{directory}: no such directory")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HetplanError(f"{directory}: not a study directory (no {MANIFEST_NAME})") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise HetplanError(f"{path}: cannot read: {exc}") from None
    keys = ("version", "study", "study_file", "study_sha256", "points")
    if not isinstance(manifest, dict) or any(k not in manifest for k in keys):
        raise HetplanError(f"{path}: not a study manifest")
    if manifest["version"] != MANIFEST_VERSION:
        why = f"manifest version {manifest['version']!r}; this hetplan reads {MANIFEST_VERSION}"
        raise HetplanError(f"{path}: {why}")
    return manifest
