"""The bundled problem files: ``problems/*.toml`` without the co-design files there
(``problems/codesign-*.toml`` hold a ``[codesign]`` table and name problems; they are tested in
tests/codesign)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bundled_problems() -> list[Path]:
    """Every bundled problem file, sorted, as absolute paths."""
    return sorted(
        p for p in (ROOT / "problems").glob("*.toml")
        if "codesign" not in tomllib.loads(p.read_text(encoding="utf-8"))
    )  # fmt: skip
