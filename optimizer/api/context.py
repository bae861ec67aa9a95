"""The catalog and efficiency factors every use case runs on, built one way for all of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from optimizer.catalog.catalog import Catalog
from optimizer.catalog.efficiency_spec import PowerFactors
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
    """The factors of ``efficiency_file`` (``[[efficiency]]`` and/or ``[[power]]`` entries,
    e.g. from ``calibrate --fit``) over the catalog's own: the file replaces the kinds it
    holds, so a power-only fit keeps the catalog's time factors and vice versa."""
    time = [*catalog.efficiency.values(), *catalog.overheads.values()]
    power = list(catalog.power.values())
    if efficiency_file is None:
        return table_from_entries(time + power, CATALOG_FACTORS)
    entries = load_efficiency_file(efficiency_file)
    given_power = [e for e in entries if isinstance(e, PowerFactors)]
    given_time = [e for e in entries if not isinstance(e, PowerFactors)]
    source = str(efficiency_file)
    if not (given_time and given_power):
        kept = "power shares" if given_time else "efficiency factors"
        source += f" (with the catalog's {kept})"
    return table_from_entries((given_time or time) + (given_power or power), source)


def open_context(
    catalog_dirs: Sequence[str | Path] = (), efficiency_file: str | Path | None = None
) -> Context:
    """The bundled catalog with ``catalog_dirs`` on top, and the factors to use with it."""
    catalog = load_catalog(*catalog_dirs)
    return Context(catalog, efficiency_table(catalog, efficiency_file))
