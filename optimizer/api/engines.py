"""The serving engine a use case runs on: its profile (scheduler limits, memory share, CUDA
graphs, collectives) from the catalog and its overheads from the efficiency table, looked up one
way for every use case."""

from __future__ import annotations

from optimizer.api.context import Context
from optimizer.api.fields import FieldError, entry
from optimizer.catalog.engine_spec import default_engine, runs_on
from optimizer.catalog.hardware import Accelerator
from optimizer.perf.config import EngineProfile
from optimizer.perf.efficiency import Efficiency


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


def engine_profile(ctx: Context, engine: str) -> EngineProfile:
    return EngineProfile.of(ctx.catalog.engines[engine])


def engine_factors(ctx: Context, acc: Accelerator, engine: str) -> tuple[Efficiency, str | None]:
    """(factors of ``acc``'s family under ``engine``'s overheads, a note when a default stood
    in)."""
    return ctx.efficiency.lookup(acc.family, engine)
