"""Cheap analytic evaluators for the search engine's tests and benchmark, defined at module
level so that they pickle to worker processes, and the brute-force helpers that check them."""

from __future__ import annotations

import itertools
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from optimizer.codesign.search import Knob, SearchSettings, TrialOutcome, run_search

BOWL_KNOBS = (
    Knob("x", low=0.0, high=1.0),
    Knob("y", low=0.0, high=1.0),
    Knob("kind", choices=("a", "b", "c")),
)
KIND_OFFSET = {"a": 0.0, "b": 0.25, "c": 0.5}
KILLED_TRIAL_S = 0.4


def bowl_budget(params: dict) -> float:
    """The bowl's one constraint: x + y <= 1.2."""
    return params["x"] + params["y"] - 1.2


@dataclass(frozen=True)
class Bowl:
    """One objective, (x - 0.3)^2 + (y - 0.6)^2 plus a kind's offset; designs with
    x + y > 1.2 are infeasible and not evaluated. ``sleep_s`` makes a trial last."""

    sleep_s: float = 0.0

    def __call__(self, params: dict) -> TrialOutcome:
        time.sleep(self.sleep_s)
        budget = bowl_budget(params)
        attrs = {"design": dict(params), "notes": {"budget_excess": budget}}
        if budget > 0:
            return TrialOutcome(None, {"budget": budget}, attrs)
        loss = (params["x"] - 0.3) ** 2 + (params["y"] - 0.6) ** 2 + KIND_OFFSET[params["kind"]]
        return TrialOutcome((loss,), {"budget": budget}, attrs | {"objectives": {"loss": loss}})


@dataclass(frozen=True)
class NoisyPlateau:
    """The bowl's loss in steps of 0.05, so that designs on a step tie, times 1 + 10⁻¹³·u with
    u drawn from ``noise_seed`` and the design: the float noise a fleet solve's value carries,
    which moves with the solver's path."""

    noise_seed: int = 0

    def __call__(self, params: dict) -> TrialOutcome:
        budget = bowl_budget(params)
        attrs = {"design": dict(params)}
        if budget > 0:
            return TrialOutcome(None, {"budget": budget}, attrs)
        bowl = (params["x"] - 0.3) ** 2 + (params["y"] - 0.6) ** 2
        loss = 1.0 + math.floor(bowl / 0.05) * 0.05 + KIND_OFFSET[params["kind"]]
        design = [self.noise_seed, round(params["x"] * 1e9), round(params["y"] * 1e9)]
        loss *= 1.0 + 1e-13 * np.random.default_rng(design).uniform(-1.0, 1.0)
        return TrialOutcome((loss,), {"budget": budget}, attrs)


@dataclass(frozen=True)
class TwoObjectives:
    """Two objectives that trade off, (x, 1 - sqrt(x) + y), over the bowl's knobs. Designs
    with x + y > 1.2 are infeasible and not evaluated; designs with y < 0.1 are evaluated
    but infeasible (a floor), and they dominate feasible designs of the same x."""

    def __call__(self, params: dict) -> TrialOutcome:
        constraints = {"budget": bowl_budget(params), "floor": 0.1 - params["y"]}
        if constraints["budget"] > 0:
            return TrialOutcome(None, constraints, {"design": dict(params)})
        values = (params["x"], 1.0 - math.sqrt(params["x"]) + params["y"])
        return TrialOutcome(values, constraints, {"design": dict(params)})


GRID_KNOBS = (
    Knob("a", low=0, high=9, integer=True),
    Knob("b", low=0, high=9, integer=True),
    Knob("tech", choices=("p", "q", "r", "s", "t")),
)
TECH_COST = {"p": 0.0, "q": 0.8, "r": 2.0, "s": 3.5, "t": 1.2}


@dataclass(frozen=True)
class GridCost:
    """A discrete space of 10 x 10 x 5 = 500 designs: a cost of about 10 with a coupled
    bowl in (a, b), a cost per tech, and a constraint a + b <= 11 that cuts through it."""

    def __call__(self, params: dict) -> TrialOutcome:
        a, b, tech = params["a"], params["b"], params["tech"]
        excess = a + b - 11
        if excess > 0:
            return TrialOutcome(None, {"a_plus_b": excess}, {"design": dict(params)})
        cost = 10.0 + 0.6 * (a - 7) ** 2 + 0.9 * (b - 5) ** 2 + 0.3 * (a - b) ** 2 / 4
        cost += TECH_COST[tech]
        return TrialOutcome((cost,), {"a_plus_b": excess}, {"design": dict(params)})


def grid(knobs: tuple[Knob, ...]) -> list[dict]:
    """Every design of a discrete knob space (choices, integer ranges, stepped ranges)."""
    axes = []
    for knob in knobs:
        if knob.choices is not None:
            axes.append(list(knob.choices))
        elif knob.integer:
            axes.append(list(range(int(knob.low), int(knob.high) + 1, int(knob.step or 1))))
        elif knob.step is not None:
            n = int(round((knob.high - knob.low) / knob.step))
            axes.append([knob.low + i * knob.step for i in range(n + 1)])
        else:
            raise ValueError(f"knob {knob.name}: a continuous range has no grid")
    names = [k.name for k in knobs]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes)]


def brute_force_optimum(knobs, evaluator) -> float:
    """The least value of any feasible design of the grid (one objective, minimized)."""
    values = []
    for params in grid(knobs):
        outcome = evaluator(params)
        if outcome.values is not None and all(v <= 0 for v in outcome.constraints.values()):
            values.append(outcome.values[0])
    return min(values)


def evaluations_to_reach(frame, column: str, target: float) -> int | None:
    """How many trials (in trial order) a search needed before a feasible one reached
    ``target`` or less; None if none did."""
    ordered = frame.sort_values("number").reset_index(drop=True)
    hit = ordered["feasible"].fillna(False).to_numpy() & (ordered[column] <= target).to_numpy()
    reached = ordered.index[hit]
    return int(reached[0]) + 1 if len(reached) else None


def dominates(a, b) -> bool:
    """a is no worse than b in every objective and better in one (minimized)."""
    return bool(np.all(np.asarray(a) <= b) and np.any(np.asarray(a) < b))


def killable_settings(storage: str, out: str) -> SearchSettings:
    """The search the kill-and-resume test runs in a subprocess and then resumes: slow
    trials on two workers, a heartbeat each second and a grace period of two."""
    return SearchSettings(
        name="killed",
        directions=("minimize",),
        objective_names=("loss",),
        knobs=BOWL_KNOBS,
        n_trials=12,
        workers=2,
        storage=storage,
        out=Path(out),
        heartbeat_s=1,
        grace_s=2,
    )


if __name__ == "__main__":  # python -m tests.codesign.synthetic STORAGE OUT: the killed run
    run_search(killable_settings(sys.argv[1], sys.argv[2]), Bowl(sleep_s=KILLED_TRIAL_S))
