"""Imports point down the layers, and light entry points stay light (STYLE.md §1)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pulp", "optuna", "matplotlib", "pandas", "scipy", "typer", "rich")


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def test_import_optimizer_is_light():
    loaded = _loaded_after("import optimizer")
    assert not loaded & {*HEAVY, "pydantic", "numpy"}


@pytest.mark.parametrize("module", ["optimizer.catalog", "optimizer.perf"])
def test_lower_layers_load_no_heavy_library(module):
    assert not _loaded_after(f"import {module}") & set(HEAVY)


def test_public_api_names_resolve_lazily():
    loaded = _loaded_after("import optimizer; optimizer.load_catalog")
    assert "optimizer.catalog.loader" in loaded
    assert "optimizer.cli.main" not in loaded


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        ("optimizer.catalog.problem_loader", set()),
        ("optimizer.fleet.candidates", set()),
        ("optimizer.fleet.prune", set()),
        ("optimizer.search.provision", {"pulp", "scipy"}),
    ],
)
def test_solve_path_loads_only_what_it_uses(module, allowed):
    """Problem files and candidates need no solver; only the search layer loads PuLP."""
    assert _loaded_after(f"import {module}") & set(HEAVY) <= allowed


def test_fleet_imports_nothing_above_it():
    loaded = _loaded_after("import optimizer.fleet.candidates, optimizer.fleet.ilp_input")
    assert not {m for m in loaded if m.startswith(("optimizer.search", "optimizer.cli"))}
