"""Shared pieces of every catalog entry: strict models, ids, sources and confidence."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

ID_PATTERN = r"^[a-z0-9][a-z0-9.\-]*$"
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN, strict=True)]
"""Catalog ids: lowercase letters, digits, dots and hyphens (``h200-sxm``, ``llama-3.1-70b``)."""

MAX_NUMBER = 1e15
"""The largest number a catalog entry may hold: above any real figure (10^15 FLOP/s is a
petaflop, 10^15 bytes a petabyte, in the units the keys name), far below where the model's
products overflow."""
MAX_WHOLE = 2**53
"""The largest whole number: every integer up to it is exact as a float and fits NumPy's int64."""
MAX_COUNT = 1 << 20
"""Devices, ranks, instances and sequences a user gives (command line, API, calibration rows):
whole numbers up to 2^20, beyond any real system; larger counts are typos."""
MAX_QUANTITY = 1e12
"""Any other number a user gives (tokens, GB, requests/s, ms, W, a measured value): finite and at
most 10^12, far above any real figure and far below where the model's arithmetic overflows."""

# Scalars are strict: a number is taken only as a number (an integer is a number; true and "60"
# are not), a whole number only as an integer. Lists for tuples and strings for enums stay
# accepted, as TOML has no other way to write them.
PositiveFloat = Annotated[float, Field(gt=0, le=MAX_NUMBER, allow_inf_nan=False, strict=True)]
NonNegativeFloat = Annotated[float, Field(ge=0, le=MAX_NUMBER, allow_inf_nan=False, strict=True)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, strict=True)]
PositiveInt = Annotated[int, Field(gt=0, le=MAX_WHOLE, strict=True)]
NonNegativeInt = Annotated[int, Field(ge=0, le=MAX_WHOLE, strict=True)]
# Prices from a tenth of a cent an hour to a million dollars an hour (a cent to a billion
# dollars to buy): beyond any real device or system either way. An ILP whose costs span more than
# 10^9 is beyond the solvers' tolerances: with instances at 10^-9 and 10^12 $/h HiGHS refused its
# rows, and at 10^-3 and 10^12 $/h it proved a bound of 6.2 above a fleet of 0.001 $/h
UsdPerHour = Annotated[float, Field(ge=1e-3, le=1e6, allow_inf_nan=False, strict=True)]
Usd = Annotated[float, Field(ge=1e-2, le=1e9, allow_inf_nan=False, strict=True)]


class Confidence(StrEnum):
    """How far a catalog figure can be trusted."""

    SOLID = "solid"  # vendor datasheet or exact config file, cross-checked
    MEDIUM = "medium"  # second-hand vendor figure, or sources disagree slightly
    UNCERTAIN = "uncertain"  # estimate, derived number or pre-launch claim


class StrictModel(BaseModel):
    """Frozen pydantic model that rejects unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Entry(StrictModel):
    """Fields every catalog entry carries.

    ``estimated`` names the fields whose values are estimates rather than published figures; their
    derivation must be in ``sources`` and they count as ``uncertain`` whatever the entry's
    overall ``confidence``.
    """

    id: Id
    name: str = Field(min_length=1)
    sources: tuple[Annotated[str, Field(min_length=1)], ...] = Field(min_length=1)
    confidence: Confidence
    estimated: tuple[str, ...] = ()
    notes: str | None = None

    @model_validator(mode="after")
    def _estimated_fields_exist(self) -> Entry:
        fields = type(self).model_fields
        for name in self.estimated:
            if name not in fields or name in Entry.model_fields:
                raise ValueError(f"estimated: {name!r} is not a data field of this entry")
            if getattr(self, name) is None:
                raise ValueError(f"estimated: {name!r} is marked estimated but has no value")
        return self
