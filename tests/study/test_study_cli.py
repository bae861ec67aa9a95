"""``hetplan study`` on invalid input: one ``FILE: ENTRY: FIELD: message`` line, exit 2, no
traceback; directories that are not the study's are refused.

Most cases call the CLI's ``run`` in this process (what the console script calls, without its
signal wrapper); one of each kind runs the real command in a subprocess."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from optimizer.cli.main import run
from tests.study.conftest import hetplan, write_study


def _cli(capsys, directory: Path, *args: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``hetplan ARGS`` run in ``directory``."""
    here = Path.cwd()
    os.chdir(directory)
    try:
        code = run(list(args))
    finally:
        os.chdir(here)
    out, err = capsys.readouterr()
    return code, out, err


ESTIMATE_HEAD = """
[study]
name = "bad"
kind = "estimate"

[study.request]
model = "llama-3.1-70b"
accelerator = "h200-sxm"
"""

VALID_AXIS = """
[[axis]]
field = "serve.0.requests_per_s"
values = [5, 10]
"""

HEAD = """
[study]
name = "bad"
kind = "solve"
base = "base.toml"
"""


@pytest.mark.parametrize(
    ("body", "line"),
    [
        (HEAD + "colour = 'red'\n" + VALID_AXIS, "study.toml: study: colour: unknown key"),
        (
            ESTIMATE_HEAD + 'colour = 1\n[[axis]]\nfield = "request.input_tokens"\nvalues = [1]\n',
            "study.toml: study: request.colour: unknown key",
        ),
        (
            HEAD + '[design]\nkind = "lhs"\n' + VALID_AXIS,
            "study.toml: design: samples: required by a lhs design",
        ),
        (
            HEAD + '[design]\nkind = "zip"\n' + VALID_AXIS
            + '[[axis]]\nfield = "serve.0.ttft_ms"\nvalues = [1000]\n',
            "study.toml: design: kind: zip needs axes of one length",
        ),  # fmt: skip
        (
            HEAD + '[design]\nkind = "random"\nsamples = 3\n'
            + '[[axis]]\nfield = "serve.0.requests_per_s"\nlow = 5\nhigh = 1\n',
            "study.toml: serve.0.requests_per_s: high: must be > low",
        ),  # fmt: skip
        (
            HEAD + '[[axis]]\nfield = "serve.0.requests_per_s"\nlow = 1\nhigh = 5\n',
            "study.toml: serve.0.requests_per_s: low: a grid design takes values",
        ),
        (
            HEAD + '[[axis]]\nfield = "serve.0.requests_per_s"\nvalues = [1, nan]\n',
            "study.toml: serve.0.requests_per_s: values.1: must be a string, boolean, finite",
        ),
        (
            HEAD.replace("base.toml", "missing.toml") + VALID_AXIS,
            "study.toml: study: base: no such file 'missing.toml'",
        ),
        (HEAD + "[[axis]\n", "study.toml: line 6: "),
        (HEAD, "study.toml: axis: required field missing"),
        (
            HEAD + VALID_AXIS + '[[finding]]\nkind = "highest"\naxis = "serve.0.requests_per_s"\n'
            'column = "tier_gb"\nabove = 0\nbelow = 1\n',
            "study.toml: finding[0]: below: does not apply to a highest finding",
        ),
        (
            HEAD + VALID_AXIS + '[[finding]]\nkind = "highest"\naxis = "serve.0.requests_per_s"\n'
            'column = "tier_gb"\n',
            "study.toml: finding[0]: equals: give equals or above (one of them)",
        ),
    ],
    ids=[
        "unknown-key", "estimate-kind", "lhs-samples", "zip-lengths", "low-high", "range-in-grid",
        "nan-value", "missing-base", "toml-syntax", "no-axis", "highest-below", "highest-bare",
    ],
)  # fmt: skip
def test_invalid_study_file_is_one_line_and_exit_2(capsys, study_dir, body, line):
    write_study(study_dir, body)
    code, out, err = _cli(capsys, study_dir, "study", "run", "study.toml")
    assert code == 2, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {line}"), lines[0]
    assert not (study_dir / "results").exists()


def test_invalid_study_file_in_a_subprocess_is_one_line_without_traceback(study_dir):
    write_study(study_dir, HEAD.replace('kind = "solve"', "kind = 3") + VALID_AXIS)
    done = hetplan("study", "run", "study.toml", cwd=study_dir)
    assert done.returncode == 2
    assert done.stdout == ""
    why = "Input should be 'solve' or 'estimate', got 3"
    assert done.stderr == f"error: study.toml: study: kind: {why}\n"


def test_invalid_study_set_is_reported_by_the_problem_loader(capsys, study_dir):
    write_study(study_dir, HEAD + '[study.set]\nobjective.kindd = "cost"\n' + VALID_AXIS)
    code, _, err = _cli(capsys, study_dir, "study", "run", "study.toml")
    assert code == 2
    assert err.strip() == "error: base.toml: override objective.kindd: unknown key"


def test_a_directory_of_another_study_is_refused_without_force(capsys, study_dir):
    write_study(study_dir, HEAD + VALID_AXIS.replace("[5, 10]", "[5]"), name="one")
    write_study(study_dir, HEAD + VALID_AXIS.replace("[5, 10]", "[6]"), name="two")
    first = _cli(capsys, study_dir, "study", "run", "one.toml", "--out", "out", "--workers", "1")
    assert first[0] == 0, first[2]
    code, _, err = _cli(capsys, study_dir, "study", "run", "two.toml", "--out", "out")
    assert code == 2
    assert err.startswith("error: out: holds the results of another study")
    forced = hetplan("study", "run", "two.toml", "--out", "out", "--force", "--json",
                     cwd=study_dir)  # fmt: skip
    assert forced.returncode == 0, forced.stderr
    summary = json.loads(forced.stdout)  # strict JSON on stdout, nothing else
    assert summary["n_points"] == 1 and summary["counts"] == {"optimal": 1}
    assert forced.stderr == ""  # no progress bar under --json


def test_a_directory_with_other_files_is_refused_without_force(capsys, study_dir):
    write_study(study_dir, HEAD + VALID_AXIS)
    (study_dir / "out").mkdir()
    (study_dir / "out" / "notes.txt").write_text("mine")
    code, _, err = _cli(capsys, study_dir, "study", "run", "study.toml", "--out", "out")
    assert code == 2
    assert "exists and is not a study directory" in err


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("--workers", "0"), "error: --workers: must be from 1 to 1,024, got 0"),
        (("--dask", "nowhere"), "error: --dask: expected local:N, a scheduler address"),
        (("--dask", "local:0"), "error: --dask: local:N needs N from 1 to 1024"),
        (("--point-timeout", "nan"), "error: --point-timeout: must be a finite number"),
        (("--workers", "2", "--dask", "local:2"), "error: --workers: give --workers or --dask"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(capsys, study_dir, args, line):
    write_study(study_dir, HEAD + VALID_AXIS)
    code, _, err = _cli(capsys, study_dir, "study", "run", "study.toml", *args)
    assert code == 2
    assert err.startswith(line), err
    assert len(err.strip().splitlines()) == 1


def test_status_of_a_directory_that_is_no_study_exits_2(capsys, study_dir):
    code, _, err = _cli(capsys, study_dir, "study", "status", str(study_dir))
    assert code == 2
    assert err.strip() == f"error: {study_dir}: not a study directory (no study.json)"
