"""Imports point down the layers, and light entry points stay light (docs/architecture.md).

The static half parses every module of ``optimizer/`` and checks each import it makes, at any
depth (inside functions and ``if TYPE_CHECKING:`` too), against the layer order below; the
subprocess half checks what an import really loads.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

HEAVY = ("pulp", "optuna", "matplotlib", "pandas", "scipy", "typer", "rich")

PACKAGE = Path(__file__).resolve().parents[1] / "optimizer"
ROOT = "optimizer"  # its __init__ names optimizer.api lazily; only the CLI imports it

LAYERS = (
    ("optimizer.errors", "optimizer.catalog.units", "optimizer.results", "optimizer.output"),
    ("optimizer.catalog",),
    ("optimizer.workload",),
    ("optimizer.perf",),
    ("optimizer.fleet",),
    ("optimizer.search",),
    ("optimizer.report",),
    ("optimizer.api",),
    ("optimizer.study",),
    ("optimizer.codesign",),
    ("optimizer.cli",),
)
"""Lowest first: a module may import its own layer and any layer below it."""

CLI_MAY_IMPORT = (
    "optimizer.api",
    "optimizer.study",
    "optimizer.codesign",
    "optimizer.report",
    "optimizer.errors",
    "optimizer.cli",
)
"""All of optimizer the CLI may import, besides the package root (for ``__version__``)."""


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = frozenset(module_name(p) for p in PACKAGE.rglob("*.py"))


def _submodule(base: str, name: str) -> str:
    return f"{base}.{name}" if f"{base}.{name}" in MODULES else base


def imports_of(module: str, source: str, *, package: bool = False) -> list[tuple[str, int]]:
    """(optimizer module, line) for each import in ``source`` at any depth, relative imports
    resolved; ``from a import b`` names ``a.b`` where that is a module, else ``a``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the importer's package, up ``level - 1``
                parts = module.split(".") if package else module.split(".")[:-1]
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            names = [_submodule(base, alias.name) for alias in node.names]
        else:
            continue
        found += [(n, node.lineno) for n in dict.fromkeys(names) if _within(n, ROOT)]
    return sorted(found, key=lambda f: f[1])


@cache
def edges() -> tuple[tuple[str, str, int], ...]:
    """(importer, imported, line) over every module of the package."""
    return tuple(
        (module_name(path), target, line)
        for path in sorted(PACKAGE.rglob("*.py"))
        for target, line in imports_of(
            module_name(path), path.read_text(encoding="utf-8"), package=path.stem == "__init__"
        )
    )


def layer(module: str) -> int:
    """The index in LAYERS of ``module`` (the package root as a target ranks with the CLI)."""
    if module == ROOT:
        return len(LAYERS) - 1
    owners = [(len(p), i) for i, names in enumerate(LAYERS) for p in names if _within(module, p)]
    if not owners:
        raise ValueError(f"{module} is in no layer: add it to LAYERS")
    return max(owners)[1]


def points_up(module: str, target: str) -> bool:
    """An import of a higher layer (the package root may name anything)."""
    return module != ROOT and layer(target) > layer(module)


def search_imports_perf(module: str, target: str) -> bool:
    """Search reaches perf only through fleet."""
    return _within(module, "optimizer.search") and _within(target, "optimizer.perf")


def perf_imports_catalog(module: str, target: str) -> bool:
    """No module in perf/ imports the catalog by id (the Catalog class)."""
    return _within(module, "optimizer.perf") and _within(target, "optimizer.catalog.catalog")


def cli_reaches_past_api(module: str, target: str) -> bool:
    """The CLI imports only the api, study, report, errors, itself and the root
    (``__version__``)."""
    allowed = target == ROOT or any(_within(target, p) for p in CLI_MAY_IMPORT)
    return _within(module, "optimizer.cli") and not allowed


def violations(rule, found=None) -> list[str]:
    found = edges() if found is None else found
    return [f"{m} -> {t} (line {n})" for m, t, n in found if rule(m, t)]


def test_every_module_is_in_a_layer():
    for module in MODULES - {ROOT}:
        layer(module)


@pytest.mark.parametrize(
    "rule",
    [points_up, search_imports_perf, perf_imports_catalog, cli_reaches_past_api],
    ids=lambda rule: rule.__name__,
)
def test_layer_rule(rule):
    found = violations(rule)
    assert not found, f"{rule.__doc__}\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "from optimizer.errors import HetplanError\n"
            "def f():\n    from ..search import provision\n",
            "optimizer.search.provision (line 3)",
        ),
        ("if TYPE_CHECKING:\n    import optimizer.cli.main\n", "optimizer.cli.main (line 2)"),
    ],
)
def test_the_checker_reports_an_upward_import(source, expected):
    module = "optimizer.perf.example"
    found = [(module, t, n) for t, n in imports_of(module, source)]
    assert violations(points_up, found) == [f"{module} -> {expected}"]


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


def test_study_runner_loads_no_dask_or_table_library():
    """Dask is loaded only for ``--dask``, pandas only to write the tables."""
    loaded = _loaded_after("import optimizer.study.runner, optimizer.study.executor")
    assert not loaded & {"dask", "distributed", "pandas", "pyarrow"}


def test_cli_startup_loads_no_study_dependency():
    loaded = _loaded_after("import optimizer.cli.main")
    assert not loaded & {"numpy", "pandas", "pydantic", "dask", "distributed"}
