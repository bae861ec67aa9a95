"""A search study's trials as one flat table and as counts, and its best feasible trials.

A complete trial is feasible when all its constraint values are <= 0 (Optuna's rule). Values
of a design that was not evaluated (told as +-inf, see ``search``) show as empty cells.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna
    import pandas

BASE_COLUMNS = ("number", "state", "feasible", "retry_of", "duration_s")


@dataclass(frozen=True, slots=True)
class TrialCounts:
    """Trials of a study by state; ``best`` as ``best_trials`` gives them."""

    n_trials: int
    n_complete: int
    n_feasible: int
    n_infeasible: int
    n_failed: int
    n_running: int
    best: tuple[dict, ...]


def is_feasible(trial: optuna.trial.FrozenTrial) -> bool:
    """A complete trial whose constraint values are all <= 0."""
    from optuna.trial import TrialState

    return trial.state == TrialState.COMPLETE and all(v <= 0 for v in trial.constraints.values())


def summarize(study: optuna.Study) -> TrialCounts:
    """The study's trials counted by state, with its best feasible trials."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    n_feasible = sum(map(is_feasible, complete))
    return TrialCounts(
        n_trials=len(trials),
        n_complete=len(complete),
        n_feasible=n_feasible,
        n_infeasible=len(complete) - n_feasible,
        n_failed=sum(t.state == TrialState.FAIL for t in trials),
        n_running=sum(t.state == TrialState.RUNNING for t in trials),
        best=best_trials(study),
    )


def best_trials(study: optuna.Study) -> tuple[dict, ...]:
    """The report's best designs (``report.codesign_data.best_numbers``): the best feasible
    trial, or for several objectives the feasible Pareto front, values compared to its
    significant digits so that trials differing in the last bits tie and each tied point
    counts once, under its lowest number; in order of the first objective, each as {number,
    values (objective name -> value), params, constraints, attrs}."""
    from optimizer.report.codesign_data import best_numbers

    names = study.metric_names or [f"objective_{i}" for i in range(len(study.directions))]
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    chosen = [trials[number] for number, _ in best_numbers(trials_frame(study), names)]
    return tuple(
        {
            "number": t.number,
            "values": dict(zip(names, t.values, strict=True)),
            "params": dict(t.params),
            "constraints": dict(t.constraints),
            "attrs": dict(t.user_attrs),
        }
        for t in chosen
    )


def trials_frame(study: optuna.Study) -> pandas.DataFrame:
    """One row per trial: ``number``, ``state`` (lowercase), ``feasible`` (empty unless
    complete), ``retry_of`` (the trial a re-queued one repeats), ``duration_s``, one column
    per objective (its name), ``param.<knob>``, ``constraint.<name>`` and the user attributes
    flattened to dotted names (lists as JSON text).

    Raises:
        ValueError: a flattened attribute would overwrite another column.
    """
    import pandas
    from optuna.trial import TrialState

    names = study.metric_names or [f"objective_{i}" for i in range(len(study.directions))]
    rows = []
    for trial in study.get_trials(deepcopy=False):
        complete = trial.state == TrialState.COMPLETE
        duration = trial.duration.total_seconds() if trial.duration is not None else None
        row = {
            "number": trial.number,
            "state": trial.state.name.lower(),
            "feasible": is_feasible(trial) if complete else None,
            "retry_of": trial.system_attrs.get("failed_trial"),
            "duration_s": duration,
        }
        values = trial.values if complete else [math.nan] * len(names)
        row |= {n: v if math.isfinite(v) else math.nan for n, v in zip(names, values, strict=True)}
        row |= {f"param.{k}": v for k, v in trial.params.items()}
        row |= {f"constraint.{k}": v for k, v in trial.constraints.items()}
        for key, value in _flatten(trial.user_attrs):
            if key in row:
                raise ValueError(f"trial {trial.number}: attribute {key} repeats a column")
            row[key] = value
        rows.append(row)
    frame = pandas.DataFrame(rows, columns=None if rows else [*BASE_COLUMNS, *names])
    frame["feasible"] = frame["feasible"].astype("boolean")
    frame["retry_of"] = frame["retry_of"].astype("Int64")
    return frame


def _flatten(attrs: dict, prefix: str = ""):
    """(dotted name, value) of nested dicts; lists and tuples as JSON text."""
    for key, value in attrs.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, name + ".")
        elif isinstance(value, list | tuple):
            yield name, json.dumps(value)
        else:
            yield name, value
