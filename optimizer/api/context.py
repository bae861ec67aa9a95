"""The catalog and efficiency factors every use case runs on, built one way for all of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from optimizer.catalog.catalog import Catalog
from optimizer.catalog.loader import load_catalog, load_efficiency_file
from optimizer.perf.efficiency import EfficiencyTable, table_from_entries

CATALOG_FACTORS = "the catalog's efficiency entries"
"""The origin of the catalog's own factors (bundled or overridden by a --catalog directory)."""


@dataclass(frozen=True, slots=True)
class Context:
    """A loaded catalog and the efficiency factors the calibrated model uses with it."""

    catalog: Catalog
    efficiency: EfficiencyTable


def efficiency_table(catalog: Catalog, efficiency_file: str | Path | None = None):
    """The factors of ``efficiency_file`` (an ``[[efficiency]]`` TOML, e.g. from ``calibrate
    --fit``), else the catalog's own entries."""
    if efficiency_file is not None:
        entries = load_efficiency_file(efficiency_file)
        return table_from_entries(entries, str(efficiency_file))
    return table_from_entries(catalog.efficiency.values(), CATALOG_FACTORS)


def open_context(
    catalog_dirs: Sequence[str | Path] = (), efficiency_file: str | Path | None = None
) -> Context:
    """The bundled catalog with ``catalog_dirs`` on top, and the factors to use with it."""
    catalog = load_catalog(*catalog_dirs)
    return Context(catalog, efficiency_table(catalog, efficiency_file))
