"""Agentic workload entries: sessions of turns whose context snowballs."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from optimizer.catalog.base import Entry, Fraction, NonNegativeFloat, PositiveInt, StrictModel


class Distribution(StrictModel):
    """A non-negative quantity summarised by its mean and whichever quantiles a source gives."""

    mean: NonNegativeFloat
    min: NonNegativeFloat | None = None
    p50: NonNegativeFloat | None = None
    p90: NonNegativeFloat | None = None
    p99: NonNegativeFloat | None = None
    max: NonNegativeFloat | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Distribution:
        named = [(k, getattr(self, k)) for k in ("min", "p50", "p90", "p99", "max")]
        given = [(k, v) for k, v in named if v is not None]
        for (k1, v1), (k2, v2) in zip(given, given[1:], strict=False):
            if v1 > v2:
                raise ValueError(f"{k2}: must be >= {k1} ({v1}), got {v2}")
        if self.min is not None and self.mean < self.min:
            raise ValueError(f"mean: must be >= min ({self.min}), got {self.mean}")
        if self.max is not None and self.mean > self.max:
            raise ValueError(f"mean: must be <= max ({self.max}), got {self.mean}")
        return self


class Workload(Entry):
    """How one kind of client uses a model.

    A session makes ``turns_per_session`` turns. With ``context_growth = "accumulate"`` turn t
    sends the whole history, ``initial_context_tokens + Σ_{j<t} (new_j + output_j) + new_t``;
    with ``"fresh"`` every turn stands alone. ``prefix_cache_hit_frac`` is the share of each
    turn's input already cached from earlier turns; ``tool_time_s`` is the gap between a turn's
    last output token and the next turn (tool calls, the user's thinking).
    """

    kind: Literal["chat", "agent"]
    turns_per_session: Distribution
    initial_context_tokens: Distribution  # system prompt, tool schemas, task statement
    new_tokens_per_turn: Distribution
    output_tokens_per_turn: Distribution
    context_tokens_per_turn: Distribution | None = None  # measured whole input per turn
    context_growth: Literal["accumulate", "fresh"]
    max_context_tokens: PositiveInt | None = None
    prefix_cache_hit_frac: Fraction
    tool_time_s: Distribution

    @model_validator(mode="after")
    def _turns_at_least_one(self) -> Workload:
        if self.turns_per_session.mean < 1:
            raise ValueError(
                f"turns_per_session.mean: must be >= 1, got {self.turns_per_session.mean}"
            )
        return self
