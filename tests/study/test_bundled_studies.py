"""Every bundled study file (problems/studies/) loads and expands, and every problem file beside
them loads: a typo in one is caught here, not by a reader of the README. The paper's summary is
the one the tool writes from the committed results."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from optimizer.api import load_problem
from optimizer.study import expand, load_study, summarize_studies

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


PAPER = STUDIES.parents[1] / "results" / "paper"
_LINK = re.compile(r" Report: \[[^\]]*\]\([^)]*\)\.")


def test_the_paper_summary_is_what_the_tool_writes_from_the_committed_points(tmp_path):
    """results/paper/summary.md is the tool's, from the studies' committed points, not edited
    by hand or left behind a rerun (its links, relative to where it lies, aside)."""
    committed = (PAPER / "summary.md").read_text()
    title = committed.splitlines()[0].removeprefix("# ")
    names = re.findall(r"^## (\S+)$", committed, flags=re.MULTILINE)
    assert {"context-growth", "memory-tiers"} <= set(names)
    for name in names:
        assert f"[{name}/report/summary.md]({name}/report/summary.md)" in committed
    again = summarize_studies([PAPER / n for n in names], tmp_path / "summary.md", title=title)
    assert again.studies == names
    assert _LINK.sub("", (tmp_path / "summary.md").read_text()) == _LINK.sub("", committed)
