"""Every reader of hetplan, fuzzed through the command line in a separate interpreter.

Each case mutates one valid input (a catalog directory, a problem file, a calibration CSV, a
power CSV, a saved solution, an efficiency file, or one command-line option), runs the command
that reads it in a worker process (``tests/cli/fuzz_worker.py``, restarted after a hang) and
checks the promise of issue 14: exit 0, 1 or 2; no traceback; exit 2 explains itself in
``FILE: ENTRY: FIELD: message`` or ``--option: message`` lines on stderr and prints nothing on
stdout; any ``--json`` output parses with a strict JSON parser (no NaN, no Infinity).

The default run tries ``N_DEFAULT`` cases per reader (400 in all, about half a minute);
``-m slow`` tries ``N_SLOW`` per reader (10,400 in all, about half an hour on two cores).
"""

from __future__ import annotations

import csv
import io
import json
import select
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import MINIMAL_HARDWARE
from tests.toml_paths import key_paths, set_at

REPO = Path(__file__).resolve().parents[2]
N_DEFAULT = 50
N_SLOW = 1300
HANG_S = 60.0  # a command that has not answered by then is a hang

PROBLEM = """
[problem]
name = "fuzz"

[[serve]]
model = "llama-3.1-8b"
workload = "chat"
requests_per_s = 10
ttft_ms = 1000
tpot_ms = 50

[objective]
kind = "cost"
pricing = "cloud"

[styles]
accelerators = ["h100-sxm"]
precisions = ["fp8"]
tp = [1]
memory_tiers = false

[solver]
name = "highs"
time_limit_s = 20
"""
MELANGE = (REPO / "problems" / "melange-example.toml").read_text()
ESTIMATE = ["estimate", "--model", "llama-3.1-8b", "--accelerator", "h100-sxm",
            "--input-tokens", "1000", "--output-tokens", "100"]  # fmt: skip
ESTIMATE_OPTIONS = ["--tp", "--pp", "--dp", "--ep", "--batch", "--input-tokens",
                    "--output-tokens", "--prefix-tokens", "--requests-per-s", "--ttft-slo-ms",
                    "--tpot-slo-ms", "--slo-percentile", "--tier-gb", "--power-cap-w",
                    "--precision", "--kv-precision", "--phase", "--mode", "--model"]  # fmt: skip
ANALYZE_OPTIONS = ["--batch", "--input-tokens", "--output-tokens", "--prefix-tokens",
                   "--precision", "--kv-precision", "--model", "--workload"]  # fmt: skip


def _csv_head(name: str, rows: int) -> str:
    """The header and first ``rows`` rows of a bundled measurement CSV."""
    text = (REPO / "catalogs" / "measurements" / name).read_text()
    return "".join(list(io.StringIO(text, newline=""))[: rows + 1])


def _efficiency_base() -> dict:
    """One ``[[efficiency]]`` entry of the bundled catalog, as an efficiency file holds it."""
    entries = tomllib.loads((REPO / "catalogs" / "efficiency.toml").read_text())["efficiency"]
    return {"efficiency": [entries[0]]}


TOML_BASES = {
    "catalog": tomllib.loads(MINIMAL_HARDWARE),
    "problem": tomllib.loads(PROBLEM),
    "melange": tomllib.loads(MELANGE),
    "efficiency": _efficiency_base(),
}
CSV_BASES = {"published": _csv_head("published.csv", 3), "power": _csv_head("power.csv", 3)}

# Values a user could write where a number, a string, a boolean or a list belongs.
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.sampled_from([0, -1, 10**20, -(10**20), 2**63, 2**64, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e-300, 1e300, 1e308, -0.0, 5e-324]),
    st.text(max_size=12),
    st.sampled_from(["", "[/]", "[bold]x", "../../etc/passwd", "/dev/zero", "a\x00b", "60"]),
)
values = st.one_of(
    st.none(),  # drop the key
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.sampled_from(["id", "name", "x"]), scalars, max_size=2),
)
CELLS = ["", "0", "-1", "nan", "inf", "-inf", "1e20", "1e400", "1.5", "2", "abc", "[/]", '"',
         "\n", ",", "9" * 40, "x" * 200_000]  # fmt: skip
cells = st.one_of(
    st.sampled_from(CELLS),
    st.text(max_size=10),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
junk = st.one_of(st.text(max_size=20), st.binary(max_size=12))
option_values = st.one_of(
    cells,
    st.integers().map(str),
    st.sampled_from(["99999999999999999999", "1e308", "-0", "0.5", "4096", "h100-sxm", "fp8"]),
)


class Worker:
    """One ``tests.cli.fuzz_worker`` process: a command line in, its exit and output out."""

    def __init__(self) -> None:
        self.proc = self._start()

    @staticmethod
    def _start() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.cli.fuzz_worker"],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def run(self, argv: list[str], cwd: Path) -> dict:
        """The reply to one command; ``code`` is ``"hang"`` or ``"died"`` when there is none."""
        self.proc.stdin.write(json.dumps({"argv": argv, "cwd": str(cwd)}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], HANG_S)
        line = self.proc.stdout.readline() if ready else ""
        if line:
            return json.loads(line)
        self.close()
        self.proc = self._start()
        return {"code": "hang" if not ready else "died", "out": "", "err": "", "escaped": None}

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()


def _refuse(constant: str):
    raise ValueError(f"{constant} in --json output")


def check(reply: dict, argv: list[str]) -> None:
    """The promise every command keeps, whatever it read."""
    assert reply["escaped"] is None, reply["escaped"]
    assert reply["code"] in (0, 1, 2), (argv, reply)
    assert "Traceback" not in reply["err"], reply["err"]
    if reply["code"] == 2:
        lines = [line for line in reply["err"].splitlines() if line.strip()]
        assert lines, argv
        assert all(": " in line for line in lines), reply["err"]
        if "--json" in argv:
            assert not reply["out"].strip()
    elif "--json" in argv and reply["out"].strip():
        json.loads(reply["out"], parse_constant=_refuse)


def _mutated_toml(base: dict, path: tuple, value, splice) -> bytes | None:
    """``base`` with the key at ``path`` set to ``value`` (dropped for None), then ``splice``
    (a cut position and junk) spliced into the text; None when TOML cannot hold the value."""
    data = tomllib.loads(tomli_w.dumps(base))  # a deep copy
    set_at(data, path, value)
    try:
        text = tomli_w.dumps(data).encode()
    except (TypeError, ValueError):
        return None
    if splice is None:
        return text
    cut, extra = splice
    position = int(cut * len(text))
    extra = extra if isinstance(extra, bytes) else extra.encode()
    return text[:position] + extra + text[position:]


def _mutated_csv(base: str, row: int, column: int, cell: str) -> str:
    rows = list(csv.reader(io.StringIO(base, newline="")))
    row %= len(rows)
    rows[row][column % len(rows[row])] = cell
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def _toml_case(reader: str):
    paths = key_paths(TOML_BASES[reader])
    return st.tuples(
        st.sampled_from(paths), values, st.one_of(st.none(), st.tuples(st.floats(0, 1), junk))
    )


def _run_toml(worker, directory: Path, reader: str, case) -> None:
    path, value, splice = case
    text = _mutated_toml(TOML_BASES[reader], path, value, splice)
    if text is None:
        return
    if reader == "catalog":
        (directory / "cat").mkdir()
        (directory / "cat" / "hardware.toml").write_bytes(text)
        argv = ["--catalog", "cat", "catalog", "list", "accelerators", "--json"]
    elif reader == "efficiency":
        (directory / "eff.toml").write_bytes(text)
        argv = [*ESTIMATE, "--efficiency", "eff.toml", "--json"]
    else:
        (directory / "p.toml").write_bytes(text)
        argv = ["solve", "p.toml", "--json"]
    check(worker.run(argv, directory), argv)


def _run_csv(worker, directory: Path, reader: str, case) -> None:
    row, column, cell = case
    (directory / "cases.csv").write_text(_mutated_csv(CSV_BASES[reader], row, column, cell))
    argv = ["calibrate", "cases.csv", "--json"]
    check(worker.run(argv, directory), argv)


@pytest.fixture(scope="module")
def saved_solution(worker, tmp_path_factory) -> dict:
    """A solution ``solve --out`` wrote, as parsed JSON."""
    directory = tmp_path_factory.mktemp("saved")
    (directory / "p.toml").write_text(MELANGE)
    reply = worker.run(["solve", "p.toml", "--out", "a.json"], directory)
    assert reply["code"] == 0, reply
    return json.loads((directory / "a.json").read_text())


def _run_solution(worker, directory: Path, base: dict, case) -> None:
    path, value, big = case
    data = json.loads(json.dumps(base))
    set_at(data, path, value)
    text = json.dumps(data)  # NaN and Infinity come out as JSON extensions: a reader must refuse
    if big is not None:
        text = text.replace('"wall_s": ', f'"wall_s": {big}, "x": ', 1)
    (directory / "a.json").write_text(json.dumps(base))
    (directory / "b.json").write_text(text)
    argv = ["compare", "a.json", "b.json", "--json"]
    check(worker.run(argv, directory), argv)


def _run_option(worker, directory: Path, case) -> None:
    command, option, value = case
    if command == "estimate":
        argv = [*ESTIMATE, option, value]
    elif command == "analyze":
        argv = ["analyze", "--model", "llama-3.1-8b", "--no-plots", option, value]
    else:
        (directory / "p.toml").write_text(PROBLEM)
        argv = ["solve", "p.toml", "--set", f"{option}={value}"]
    check(worker.run([*argv, "--json"], directory), [*argv, "--json"])


SET_KEYS = [".".join(map(str, p)) for p in key_paths(TOML_BASES["problem"])]
option_cases = st.one_of(
    st.tuples(st.just("estimate"), st.sampled_from(ESTIMATE_OPTIONS), option_values),
    st.tuples(st.just("analyze"), st.sampled_from(ANALYZE_OPTIONS), option_values),
    st.tuples(st.just("solve"), st.sampled_from(SET_KEYS), option_values),
)
huge_numbers = st.one_of(
    st.none(), st.sampled_from(["9" * 5000, "1" + "0" * 400, "-1e999", "[" * 5000 + "]" * 5000])
)
READERS = ["catalog", "problem", "melange", "efficiency", "published", "power", "solution",
           "options"]  # fmt: skip


def _fuzz(reader: str, n: int, worker, tmp_path_factory, saved_solution) -> None:
    """Run ``n`` hypothesis cases against one reader."""
    common = dict(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    if reader in TOML_BASES:
        strategy = _toml_case(reader)
        body = lambda case: _run_toml(worker, tmp_path_factory.mktemp(reader), reader, case)  # noqa: E731
    elif reader in CSV_BASES:
        strategy = st.tuples(st.integers(0, 10), st.integers(0, 30), cells)
        body = lambda case: _run_csv(worker, tmp_path_factory.mktemp(reader), reader, case)  # noqa: E731
    elif reader == "solution":
        paths = [p for p in key_paths(saved_solution) if p[0] != "schema_version"]
        strategy = st.tuples(st.sampled_from(paths), values, huge_numbers)
        body = lambda case: _run_solution(  # noqa: E731
            worker, tmp_path_factory.mktemp(reader), saved_solution, case
        )
    else:
        strategy = option_cases
        body = lambda case: _run_option(worker, tmp_path_factory.mktemp(reader), case)  # noqa: E731
    settings(**common)(given(strategy)(body))()


@pytest.mark.parametrize("reader", READERS)
def test_reader_fuzz(reader, worker, tmp_path_factory, saved_solution):
    _fuzz(reader, N_DEFAULT, worker, tmp_path_factory, saved_solution)


@pytest.mark.slow
@pytest.mark.parametrize("reader", READERS)
def test_reader_fuzz_slow(reader, worker, tmp_path_factory, saved_solution):
    _fuzz(reader, N_SLOW, worker, tmp_path_factory, saved_solution)


def test_fuzz_check_catches_a_traceback_and_nan_json():
    """The check itself fails on what it is meant to catch (a fuzz that cannot fail tests
    nothing)."""
    with pytest.raises(AssertionError):
        check({"code": 1, "out": "", "err": "Traceback (most recent call last):", "escaped": None},
              ["solve"])  # fmt: skip
    with pytest.raises(ValueError):
        check({"code": 0, "out": '{"a": NaN}', "err": "", "escaped": None}, ["solve", "--json"])
    with pytest.raises(AssertionError):
        check({"code": "hang", "out": "", "err": "", "escaped": None}, ["solve"])
