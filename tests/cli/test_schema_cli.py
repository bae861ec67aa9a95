"""``hetplan schema``: JSON Schemas that an independent validator (jsonschema) accepts every
bundled file against, and rejects a wrong one with."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import jsonschema
import pytest

from optimizer.cli.main import run
from tests.bundled import bundled_problems

ROOT = Path(__file__).resolve().parents[2]


def _schema(capsys, name: str) -> dict:
    assert run(["schema", name]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


@pytest.mark.parametrize("path", bundled_problems(), ids=lambda p: p.stem)
def test_every_bundled_problem_validates(capsys, path):
    schema = _schema(capsys, "problem")
    jsonschema.validate(tomllib.loads(path.read_text()), schema)


def test_a_misspelt_key_fails_validation(capsys):
    schema = _schema(capsys, "problem")
    problem = tomllib.loads((ROOT / "problems" / "melange-example.toml").read_text())
    problem["objective"]["kindd"] = "cost"
    with pytest.raises(jsonschema.ValidationError, match="kindd"):
        jsonschema.validate(problem, schema)


@pytest.mark.parametrize("table", ["accelerator", "memory", "interconnect", "system", "model",
                                   "workload", "economics", "efficiency", "power"])  # fmt: skip
def test_every_bundled_catalog_entry_validates(capsys, table):
    schema = _schema(capsys, table)
    entries = [
        entry
        for path in sorted((ROOT / "catalogs").glob("*.toml"))
        for entry in tomllib.loads(path.read_text()).get(table, [])
    ]
    assert entries, table
    for entry in entries:
        jsonschema.validate(entry, schema)


def test_an_unknown_schema_is_exit_2(capsys):
    assert run(["schema", "nope"]) == 2
    assert "NAME" in capsys.readouterr().err
