"""One co-design trial against independent references: with the catalog kept, a design never
makes the optimum worse than the catalog-only optimum; a part serves only its role; a design
that breaks a constraint is not evaluated; without the catalog, a design too small to serve is
infeasible; and the joined fleet solves to what one rating of the trial's catalog gives."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from optimizer.codesign.evaluate import NOT_SERVED, DesignEvaluator
from optimizer.codesign.space import search_space
from optimizer.codesign.spec import load_codesign

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "problems" / "codesign" / "short-sessions.toml"

FILE = f"""
[codesign]
name = "tiny"
objectives = ["cost"]
keep_catalog = KEEP

[[problem]]
file = "{BASE}"
weight = 2

[prefill]
node = "n4"
dense_fp8_tflops = {{ low = 300, high = 3000, log = true }}
memory = ["gddr7", "lpddr5x"]
memory_stacks = {{ low = 2, high = 8 }}
scale_up_gb_per_s = 450
scale_up_domain = 8

[decode]
node = "n4"
dense_fp8_tflops = {{ low = 200, high = 1500, log = true }}
memory = ["hbm3e", "lpddr5x"]
memory_stacks = {{ low = 2, high = 8 }}
scale_up_gb_per_s = 450
scale_up_domain = 8
"""


def _evaluator(tmp_path: Path, keep: bool) -> tuple[DesignEvaluator, list]:
    path = tmp_path / f"tiny-{keep}.toml"
    path.write_text(FILE.replace("KEEP", "true" if keep else "false"))
    return DesignEvaluator(path), list(search_space(load_codesign(path))[0])


def _designs(knobs, n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        design = {}
        for k in knobs:
            if k.choices:
                design[k.name] = rng.choice(k.choices)
            elif k.integer:
                design[k.name] = rng.randint(int(k.low), int(k.high))
            else:
                design[k.name] = float(np.exp(rng.uniform(np.log(k.low), np.log(k.high))))
        out.append(design)
    return out


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    return _evaluator(tmp_path_factory.mktemp("kept"), keep=True)


def test_a_design_never_makes_the_catalog_optimum_worse(kept):
    """The catalog's columns stay in every trial's ILP, so its optimum (weight 2 × the
    catalog-only cost) bounds every feasible trial from above; parts serve their role only."""
    evaluator, knobs = kept
    reference = evaluator.catalog_only()
    assert [f["status"] for f in reference] == ["optimal"]
    ceiling = 2 * reference[0]["value"]
    evaluated = 0
    for design in _designs(knobs, 6, seed=3):
        outcome = evaluator(design)
        if outcome.values is None:
            assert any(v > 0 for v in outcome.constraints.values())
            continue
        evaluated += 1
        assert all(v <= 0 for v in outcome.constraints.values())
        (cost,) = outcome.values
        assert cost <= ceiling * (1 + 1e-6)
        (fleet,) = outcome.attrs["fleets"]
        assert fleet["status"] == "optimal"
        assert cost == pytest.approx(2 * fleet["cost_usd_per_hour"])
        for pool in fleet["pools"]:
            if pool["accelerator"].startswith("tiny-"):
                assert pool["accelerator"] == f"tiny-{pool['phase']}"
    assert evaluated >= 3


def test_a_design_that_breaks_a_constraint_is_not_solved(kept):
    """A 20,000-TFLOPS die is far beyond the reticle and the package power limit: the trial
    records those constraints (> 0) and solves nothing."""
    evaluator, knobs = kept
    design = _designs(knobs, 1, seed=0)[0] | {"prefill.dense_fp8_tflops": 20_000.0}
    outcome = evaluator(design)
    assert outcome.values is None and "fleets" not in outcome.attrs
    broken = {k for k, v in outcome.constraints.items() if v > 0}
    assert {"prefill.reticle", "prefill.package_power"} <= broken
    assert not any(k.startswith("decode.") for k in broken)


def test_without_the_catalog_only_the_designed_parts_serve(tmp_path):
    """Without the catalog a design serves alone, each part in its role; a prefill part of 6 GB
    (2 GDDR7 devices) cannot hold gpt-oss-120b's 60 GB of weights even over 8 devices, so that
    design serves nothing: the whole weight (2) is unserved."""
    evaluator, knobs = _evaluator(tmp_path, keep=False)
    smallest = {k.name: (k.choices[-1] if k.choices else k.low) for k in knobs}
    outcome = evaluator(smallest)
    assert outcome.values is not None
    (fleet,) = outcome.attrs["fleets"]
    assert set(fleet["devices"]) == {"tiny-prefill", "tiny-decode"}
    assert {p["phase"] for p in fleet["pools"]} == {"prefill", "decode"}
    starved = evaluator(smallest | {"prefill.memory": "gddr7", "prefill.memory_stacks": 2})
    assert outcome.attrs["parts"]["prefill"]["memory_capacity_gb"] * 8 > 60
    assert starved.attrs["parts"]["prefill"]["memory_capacity_gb"] * 8 < 60
    assert starved.values is None
    assert starved.constraints[NOT_SERVED] == 2.0


def test_a_base_problems_overrides_reach_it_as_set_would(tmp_path):
    """Booleans, arrays and numbers in ``set`` arrive typed, and each objective's copy of the
    problem carries its own objective kind."""
    path = tmp_path / "set.toml"
    path.write_text(
        FILE.replace("KEEP", "false")
        .replace(
            "weight = 2",
            'weight = 2\nset = { "styles.memory_tiers" = false, "styles.tp" = [1, 2], '
            '"serve.0.requests_per_s" = 20 }',
        )
        .replace('objectives = ["cost"]', 'objectives = ["cost", "energy"]')
    )
    bases = DesignEvaluator(path)._prepare().bases
    assert [b.objective for b in bases] == ["cost", "energy"]
    for base in bases:
        spec = base.loaded.spec
        assert spec.styles.memory_tiers is False and spec.styles.tp == (1, 2)
        assert spec.serve[0].requests_per_s == 20
        assert spec.objective.kind.value == base.objective
