"""A workload's representative request: the mean turn of a session (docs/model.md §8)."""

from __future__ import annotations

from dataclasses import dataclass

from optimizer.catalog.workload_spec import Workload


@dataclass(frozen=True, slots=True)
class RequestShape:
    """Token counts of one turn: ``prefix_tokens`` of the input are already cached."""

    input_tokens: float
    output_tokens: float
    prefix_tokens: float
    parkable_tokens: float  # history a parked session brings back instead of prefilling again


def representative_request(w: Workload, context_tokens: float | None = None) -> RequestShape:
    """The mean turn: the measured mean context when the workload gives one, else the
    accumulate model ``initial + new + (T − 1)/2 · (new + output)`` (``fresh``: initial + new),
    capped at ``max_context_tokens``; the prefix-cache hit fraction of it is cached.

    ``context_tokens`` replaces that context, uncapped (a what-if: the same workload at a longer
    or shorter context); its new tokens, output and cache-hit fraction stay the workload's.
    """
    new = w.new_tokens_per_turn.mean
    output = w.output_tokens_per_turn.mean
    if context_tokens is not None:
        context = float(context_tokens)
    elif w.context_tokens_per_turn is not None:
        context = w.context_tokens_per_turn.mean
    elif w.context_growth == "accumulate":
        turns = w.turns_per_session.mean
        context = w.initial_context_tokens.mean + new + (turns - 1.0) / 2.0 * (new + output)
    else:
        context = w.initial_context_tokens.mean + new
    if context_tokens is None and w.max_context_tokens is not None:
        context = min(context, float(w.max_context_tokens))
    return RequestShape(
        input_tokens=context,
        output_tokens=output,
        prefix_tokens=w.prefix_cache_hit_frac * context,
        parkable_tokens=max(context - new, 0.0),
    )
