"""A workload's representative request: the mean turn of a session (docs/model.md §8)."""

from __future__ import annotations

from dataclasses import dataclass

from optimizer.catalog.workload_spec import Workload


@dataclass(frozen=True, slots=True)
class RequestShape:
    """Token counts of one turn: ``prefix_tokens`` of the input are cached when the session's
    KV was kept since its last turn (in HBM or parked in a tier)."""

    input_tokens: float
    output_tokens: float
    prefix_tokens: float


def representative_request(w: Workload, context_tokens: float | None = None) -> RequestShape:
    """The mean turn: the measured mean context when the workload gives one, else the
    accumulate model ``initial + new + (T − 1)/2 · (new + output)`` (``fresh``: initial + new),
    capped at ``max_context_tokens``. Its cached part is the turn's history, ``context − new``,
    less the share of it the workload's deployments prefilled again
    (:func:`missed_history_share`): at the workload's own context, its measured prefix-cache
    hits.

    ``context_tokens`` replaces that context, uncapped (a what-if: the same workload at a longer
    or shorter context); its new tokens, output and missed share of the history stay the
    workload's.
    """
    own = _own_context(w)
    context = own if context_tokens is None else float(context_tokens)
    history = max(context - w.new_tokens_per_turn.mean, 0.0)
    return RequestShape(
        input_tokens=context,
        output_tokens=w.output_tokens_per_turn.mean,
        prefix_tokens=history * (1.0 - missed_history_share(w)),
    )


def missed_history_share(w: Workload) -> float:
    """The share of a turn's history the workload's measured deployments prefilled again:
    their uncached input, ``(1 − prefix_cache_hit_frac) · context``, less the turn's new
    tokens, over the history ``context − new``, at the workload's own context (coding agent:
    (0.1 · 8,013 − 420) / 7,593 = 5.0 %). It stands for misses a kept KV does not prevent
    (context rewrites, routing to another instance, expiry), so it holds at any context and
    for parked sessions too: a tier only keeps sessions the instance has no room for
    (docs/model.md §6). Keeping the hit fraction of the whole input instead made a 512k-token
    coding turn prefill 51k tokens again without a tier and 420 with one."""
    context = _own_context(w)
    history = context - w.new_tokens_per_turn.mean
    if history <= 0:
        return 0.0
    missed = (1.0 - w.prefix_cache_hit_frac) * context - w.new_tokens_per_turn.mean
    return min(max(missed / history, 0.0), 1.0)


def _own_context(w: Workload) -> float:
    new, output = w.new_tokens_per_turn.mean, w.output_tokens_per_turn.mean
    if w.context_tokens_per_turn is not None:
        context = w.context_tokens_per_turn.mean
    elif w.context_growth == "accumulate":
        turns = w.turns_per_session.mean
        context = w.initial_context_tokens.mean + new + (turns - 1.0) / 2.0 * (new + output)
    else:
        context = w.initial_context_tokens.mean + new
    if w.max_context_tokens is not None:
        context = min(context, float(w.max_context_tokens))
    return context
