"""Designs against hand-written points, and LHS strata counted independently of the code."""

from __future__ import annotations

import math
import tomllib

import pytest

from optimizer.study.design import expand, override_text
from optimizer.study.spec import StudySpec


def _spec(design: dict, *axes: dict) -> StudySpec:
    study = {"name": "t", "kind": "solve", "base": "base.toml"}
    return StudySpec.model_validate({"study": study, "design": design, "axis": list(axes)})


def _values(spec: StudySpec) -> list[dict]:
    return [p.values for p in expand(spec)]


def test_grid_is_every_combination_first_axis_slowest():
    spec = _spec(
        {"kind": "grid"},
        {"field": "serve.0.requests_per_s", "values": [1, 2]},
        {"field": "objective.kind", "values": ["cost", "energy", "cost"]},
    )
    rate, kind = "serve.0.requests_per_s", "objective.kind"
    assert _values(spec) == [
        {rate: 1, kind: "cost"},
        {rate: 1, kind: "energy"},
        {rate: 1, kind: "cost"},
        {rate: 2, kind: "cost"},
        {rate: 2, kind: "energy"},
        {rate: 2, kind: "cost"},
    ]
    assert [p.index for p in expand(spec)] == list(range(6))


def test_zip_takes_the_ith_value_of_every_axis():
    spec = _spec(
        {"kind": "zip"},
        {"field": "serve.0.requests_per_s", "values": [1, 2.5, 4]},
        {"field": "styles.tp", "values": [[1], [1, 2], [8]]},
    )
    assert _values(spec) == [
        {"serve.0.requests_per_s": 1, "styles.tp": [1]},
        {"serve.0.requests_per_s": 2.5, "styles.tp": [1, 2]},
        {"serve.0.requests_per_s": 4, "styles.tp": [8]},
    ]


@pytest.mark.parametrize("value", [4, 2.5, 1e-05, True, "cbc", "4", ["bf16", "fp8"], [1, 2]])
def test_override_text_reads_back_as_the_same_toml_value(value):
    parsed = tomllib.loads(f"v = {override_text(value)}")["v"]
    assert parsed == value and type(parsed) is type(value)


RANGE_AXES = (
    {"field": "serve.0.requests_per_s", "low": 1, "high": 100},
    {"field": "serve.1.requests_per_s", "low": 0.1, "high": 1000, "log": True},
    {"field": "constraints.max_devices", "low": 2, "high": 9, "integer": True},
    {"field": "objective.kind", "values": ["cost", "energy"]},
)


def test_random_design_is_deterministic_for_a_seed_and_stays_in_range():
    first = _values(_spec({"kind": "random", "samples": 20, "seed": 3}, *RANGE_AXES))
    again = _values(_spec({"kind": "random", "samples": 20, "seed": 3}, *RANGE_AXES))
    other = _values(_spec({"kind": "random", "samples": 20, "seed": 4}, *RANGE_AXES))
    assert first == again
    assert first != other
    for row in first:
        assert 1 <= row["serve.0.requests_per_s"] <= 100
        assert 0.1 <= row["serve.1.requests_per_s"] <= 1000
        assert row["constraints.max_devices"] in range(2, 10)
        assert type(row["constraints.max_devices"]) is int
        assert row["objective.kind"] in ("cost", "energy")


@pytest.mark.parametrize("n", [1, 7, 40])
def test_lhs_hits_each_of_n_strata_exactly_once_per_axis(n):
    spec = _spec({"kind": "lhs", "samples": n, "seed": 11}, *RANGE_AXES[:2])
    rows = _values(spec)
    assert len(rows) == n
    # stratum of each value, computed here from the axis definition alone
    linear = sorted(math.floor((r["serve.0.requests_per_s"] - 1) / 99 * n) for r in rows)
    log = sorted(
        math.floor(math.log(r["serve.1.requests_per_s"] / 0.1) / math.log(1000 / 0.1) * n)
        for r in rows
    )
    assert linear == list(range(n))
    assert log == list(range(n))
    assert rows == _values(spec)  # seeded


def test_lhs_over_a_list_gives_each_value_equally_often():
    spec = _spec(
        {"kind": "lhs", "samples": 6, "seed": 0},
        {"field": "objective.kind", "values": ["cost", "energy", "cost-energy"]},
    )
    kinds = sorted(r["objective.kind"] for r in _values(spec))
    assert kinds == ["cost", "cost", "cost-energy", "cost-energy", "energy", "energy"]


def test_integer_lhs_covers_every_whole_number_of_its_range():
    spec = _spec(
        {"kind": "lhs", "samples": 8, "seed": 5},
        {"field": "constraints.max_devices", "low": 1, "high": 8, "integer": True},
    )
    assert sorted(r["constraints.max_devices"] for r in _values(spec)) == list(range(1, 9))


def test_points_carry_their_values_as_override_text():
    spec = _spec({"kind": "grid"}, {"field": "solver.name", "values": ["cbc"]})
    (point,) = expand(spec)
    assert point.overrides == {"solver.name": '"cbc"'}
