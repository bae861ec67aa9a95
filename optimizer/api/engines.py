"""The serving engine a use case runs on: the one named, checked against the accelerator's
vendor, else the vendor's default."""

from __future__ import annotations

from optimizer.api.context import Context
from optimizer.api.fields import FieldError, entry
from optimizer.catalog.engine_spec import default_engine, runs_on
from optimizer.catalog.hardware import Accelerator


def engine_id(ctx: Context, acc: Accelerator, named: str | None) -> str:
    """The engine ``acc`` runs on: ``named`` (checked against the catalog), else its vendor's
    default (``engine_spec.DEFAULT_ENGINES``)."""
    if named is None:
        return default_engine(ctx.catalog.engines, acc.vendor)
    engine = entry(ctx.catalog, "engines", "engine", named)
    if not runs_on(engine, acc.vendor):
        raise FieldError(
            "engine", f"{named} runs on {', '.join(engine.vendors)} accelerators, not on "
            f"{acc.id} ({acc.vendor})"
        )  # fmt: skip
    return engine.id
