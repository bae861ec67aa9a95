"""Content hashes that name a study point's result: the same problem on the same catalog is the
same point, whatever study, index or directory asked for it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

KEY_VERSION = 2
"""Bumped when what a point's result depends on changes, so old journal lines stop matching."""


def catalog_sha256(catalog_fingerprint: str, efficiency: Path | None) -> str:
    """SHA-256 over the catalog a point runs with: the loaded catalog's fingerprint (every file
    it read, bundled, ``--catalog`` and the problem's own ``[catalog] dirs``, by name and bytes)
    and the efficiency file's bytes."""
    digest = hashlib.sha256(b"catalog\0" + catalog_fingerprint.encode())
    if efficiency is not None:
        digest.update(b"\0efficiency\0" + Path(efficiency).read_bytes())
    return digest.hexdigest()


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
