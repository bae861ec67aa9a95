"""Economic assumptions that turn power and purchase prices into dollars per hour."""

from __future__ import annotations

from pydantic import Field

from optimizer.catalog.base import Entry, PositiveFloat


class Economics(Entry):
    """Electricity price, facility overhead and hardware life for one setting."""

    electricity_usd_per_kwh: PositiveFloat
    # facility power / IT power
    pue: float = Field(ge=1.0, le=3.0, allow_inf_nan=False, strict=True)
    depreciation_years: PositiveFloat
