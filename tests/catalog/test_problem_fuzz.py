"""Any mutation of a valid problem file, its capabilities CSV or its overrides ends in a
LoadedProblem or a ProblemError (a HetplanError) with problems to show, never another exception."""

from __future__ import annotations

import tomllib
from pathlib import Path

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.catalog.problem_loader import LoadedProblem, load_problem
from optimizer.errors import ProblemError
from tests.catalog.test_problem_loader import (
    CSV,
    CSV_PROBLEM,
    HYPOTHETICAL,
    MELANGE,
    MODEL_PROBLEM,
)
from tests.toml_paths import key_paths, set_at

BASES = {
    "melange": tomllib.loads(MELANGE.read_text()),
    "model": tomllib.loads(MODEL_PROBLEM + HYPOTHETICAL),
    "csv": tomllib.loads(CSV_PROBLEM),
}
IDS = ["b200", "h100-sxm", "cxl-expander", "hbm3e", "llama-3.1-70b", "coding-agent", "default"]
SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


PATHS = [(base, path) for base, data in BASES.items() for path in key_paths(data)]

values = st.one_of(
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.sampled_from([10**20, -(10**20), 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(IDS + ["", "Not An Id", "in0-out0", "a\x00b", "../../x", "/"]),
    st.lists(st.one_of(st.integers(-5, 50), st.floats(-1, 50), st.sampled_from(IDS)), max_size=4),
    st.lists(st.lists(st.floats(-1, 50), max_size=3), max_size=3),
    st.dictionaries(
        st.sampled_from(["name", "id", "x", "requests_per_s"]), st.integers(), max_size=2
    ),
)


def _load(path: Path, overrides=None) -> None:
    try:
        result = load_problem(path, overrides)
    except ProblemError as error:  # the one HetplanError load_problem raises
        assert error.problems
        assert all(p.file and p.message for p in error.problems)
        return
    assert isinstance(result, LoadedProblem)


def _write(directory: Path, text: bytes) -> Path:
    (directory / "caps.csv").write_text(CSV)
    path = directory / "problem.toml"
    path.write_bytes(text)
    return path


@SETTINGS
@given(
    target=st.sampled_from(PATHS),
    value=st.one_of(st.none(), values),
    extra=st.one_of(st.none(), st.tuples(st.sampled_from(PATHS), values)),
)
def test_mutated_problem_loads_or_reports_problems(tmp_path_factory, target, value, extra):
    base, path = target
    data = tomllib.loads(tomli_w.dumps(BASES[base]))  # a deep copy
    try:
        set_at(data, path, value)
        if extra is not None and extra[0][0] == base:
            set_at(data, extra[0][1], extra[1])
        text = tomli_w.dumps(data)
    except (KeyError, IndexError, TypeError, AttributeError, ValueError):
        return  # the first mutation removed the second's parent, or TOML cannot hold the value
    _load(_write(tmp_path_factory.mktemp("fuzz"), text.encode()))


@SETTINGS
@given(
    base=st.sampled_from(sorted(BASES)),
    cut=st.floats(0, 1),
    junk=st.one_of(
        st.text(max_size=20), st.binary(max_size=8).map(bytes.hex), st.binary(max_size=6)
    ),
    csv_junk=st.one_of(st.none(), st.text(max_size=30)),
    override=st.one_of(
        st.none(),
        st.tuples(
            st.one_of(
                st.sampled_from([".".join(map(str, p)) for _, p in PATHS]), st.text(max_size=10)
            ),
            st.one_of(
                st.text(max_size=10), st.sampled_from(["4", "-1", "[1, 2]", "true", "{a = 1}"])
            ),
        ),
    ),
)
def test_junk_text_csv_and_overrides_load_or_report_problems(
    tmp_path_factory, base, cut, junk, csv_junk, override
):
    text = tomli_w.dumps(BASES[base]).encode()
    position = int(cut * len(text))
    junk_bytes = junk if isinstance(junk, bytes) else junk.encode()
    path = _write(tmp_path_factory.mktemp("junk"), text[:position] + junk_bytes + text[position:])
    if csv_junk is not None:
        lines = CSV.splitlines(keepends=True)
        lines.insert(int(cut * len(lines)), csv_junk)
        (path.parent / "caps.csv").write_text("".join(lines))
    _load(path, dict([override]) if override else None)
