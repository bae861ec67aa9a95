"""Content hashes that name a study point's result: the same problem on the same catalog is the
same point, whatever study, index or directory asked for it."""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

from optimizer.catalog.loader import bundled_catalog_dir

KEY_VERSION = 1
"""Bumped when what a point's result depends on changes, so old journal lines stop matching."""


def catalog_sha256(
    base: Path | None, base_bytes: bytes, catalog_dirs: Sequence[Path], efficiency: Path | None
) -> str:
    """SHA-256 over every catalog file a point of ``base`` can read: the bundled catalog's,
    each ``--catalog`` directory's and the base problem's own ``[catalog] dirs``' ``*.toml``
    files (name and bytes, in load order), and the efficiency file's bytes. An estimate study
    has no base problem (``base`` None)."""
    digest = hashlib.sha256()
    for directory in (bundled_catalog_dir(), *catalog_dirs, *_own_dirs(base, base_bytes)):
        digest.update(b"dir\0")
        for path in sorted(Path(directory).glob("*.toml")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    if efficiency is not None:
        digest.update(b"efficiency\0" + Path(efficiency).read_bytes())
    return digest.hexdigest()


def _own_dirs(base: Path | None, base_bytes: bytes) -> list[Path]:
    """The base problem's ``[catalog] dirs``, relative to it (none when it names none; a file
    that does not parse has been refused by the problem loader before this is asked)."""
    if base is None:
        return []
    try:
        section = tomllib.loads(base_bytes.decode("utf-8")).get("catalog", {})
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    dirs = section.get("dirs", []) if isinstance(section, dict) else []
    return [base.parent / d for d in dirs if isinstance(d, str)]


def point_key(
    base_bytes: bytes, overrides: Mapping[str, str], catalog: str, *, baselines: bool
) -> str:
    """SHA-256 (hex) of a point's resolved input: the base problem's bytes, its overrides
    (canonical JSON, keys sorted), the catalog hash and whether baselines are reported."""
    canonical = json.dumps(
        {
            "version": KEY_VERSION,
            "kind": "solve",
            "base_sha256": hashlib.sha256(base_bytes).hexdigest(),
            "overrides": dict(overrides),
            "catalog_sha256": catalog,
            "baselines": baselines,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def estimate_key(request: Mapping, catalog: str) -> str:
    """SHA-256 (hex) of an estimate point's resolved input: its request fields (canonical
    JSON, keys sorted; the ``EstimateRequest`` defaults left out, as the table leaves them)
    and the catalog hash."""
    canonical = json.dumps(
        {"version": KEY_VERSION, "kind": "estimate", "request": dict(request),
         "catalog_sha256": catalog},
        sort_keys=True, separators=(",", ":"), ensure_ascii=True,
    )  # fmt: skip
    return hashlib.sha256(canonical.encode()).hexdigest()
