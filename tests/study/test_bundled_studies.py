"""Every bundled study file (problems/studies/) loads and expands, and every problem file beside
them loads: a typo in one is caught here, not by a reader of the README."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from optimizer.api import load_problem
from optimizer.study import expand, load_study

STUDIES = Path(__file__).resolve().parents[2] / "problems" / "studies"
FILES = sorted(STUDIES.rglob("*.toml"))


def test_the_bundled_studies_are_found():
    assert len([f for f in FILES if "study" in tomllib.loads(f.read_text())]) >= 4


@pytest.mark.parametrize("path", FILES, ids=[str(f.relative_to(STUDIES)) for f in FILES])
def test_a_bundled_file_loads(path):
    if "study" in tomllib.loads(path.read_text()):
        assert expand(load_study(path).spec)
    else:
        assert load_problem(path).spec.serve
