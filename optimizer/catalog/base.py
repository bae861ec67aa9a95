"""Shared pieces of every catalog entry: strict models, ids, sources and confidence."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Id = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.\-]*$")]
"""Catalog ids: lowercase letters, digits, dots and hyphens (``h200-sxm``, ``llama-3.1-70b``)."""

PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]


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
