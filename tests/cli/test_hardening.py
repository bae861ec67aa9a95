"""Issue 14, one test per class of failure: inputs that are not regular files or too large,
nesting, numbers out of range, lax scalar types, rich markup in user text, paths a problem
file may name, and writes that are whole or absent.

Every case runs the command line and checks the promise: exit 2 with a ``FILE: ENTRY: FIELD:
message`` (or ``--option: message``) line and no traceback, or the command's normal answer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path

import pytest
import tomli_w

from optimizer.catalog.loader import MAX_INPUT_BYTES
from optimizer.cli.main import run
from optimizer.output import write_text_atomic

REPO = Path(__file__).resolve().parents[2]
MELANGE = REPO / "problems" / "melange-example.toml"
POWER_CSV = REPO / "catalogs" / "measurements" / "power.csv"
ESTIMATE = ["estimate", "--model", "llama-3.1-8b", "--accelerator", "h100-sxm"]
TOKENS = ["--input-tokens", "1000", "--output-tokens", "100"]
CSV_PROBLEM = """\
[problem]
name = "from-csv"

[measured]
classes = [{ name = "short", requests_per_s = 5.0 }]
capabilities_csv = "CSV_PATH"

[objective]
pricing = "cloud"
"""
CAPS = "instance,usd_per_hour,class,max_requests_per_s\na10g,1.01,short,2\n"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def _fails(capsys, argv) -> str:
    """Run ``argv``, expect exit 2 and clean error lines; return stderr."""
    code = run([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, (code, err)
    assert "Traceback" not in err and err.strip()
    assert all(": " in line for line in err.splitlines() if line.strip()), err
    if "--json" in argv:
        assert not out.strip()
    return err


def _ok(capsys, argv, code: int = 0) -> str:
    """Run ``argv``, expect ``code``; return stdout."""
    got = run([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert got == code, err
    assert "Traceback" not in err
    return out


def _csv_problem(directory: Path, csv_path: str) -> Path:
    path = directory / "problem.toml"
    path.write_text(CSV_PROBLEM.replace("CSV_PATH", csv_path))
    return path


# --- inputs that are not regular files, or too large -------------------------------------------


def _bad_input(kind: str, path: Path) -> None:
    """Make ``path`` the kind of input no reader may take."""
    if kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "symlink-loop":
        path.symlink_to(path.name + ".other")
        path.with_name(path.name + ".other").symlink_to(path.name)
    elif kind == "directory":
        path.mkdir()
    elif kind == "too-large":
        with path.open("wb") as f:
            f.truncate(MAX_INPUT_BYTES + 1)  # sparse: costs no disk
    elif kind == "fifo":
        os.mkfifo(path)


def _reader_argv(reader: str, tmp: Path) -> tuple[list[str], Path]:
    """The command that reads one input of ``reader`` kind, and the path of that input."""
    if reader == "catalog":
        (tmp / "cat").mkdir()
        return ["--catalog", "cat", "catalog", "list"], tmp / "cat" / "x.toml"
    if reader == "efficiency":
        return [*ESTIMATE, *TOKENS, "--efficiency", "eff.toml"], tmp / "eff.toml"
    if reader == "problem":
        return ["solve", "p.toml"], tmp / "p.toml"
    if reader == "capabilities":
        _csv_problem(tmp, "caps.csv")  # outside paths allowed: the reader itself must refuse
        return ["solve", "problem.toml", "--allow-outside-paths"], tmp / "caps.csv"
    if reader == "calibration":
        return ["calibrate", "cases.csv"], tmp / "cases.csv"
    (tmp / "a.json").write_text("{}")
    return ["compare", "b.json", "a.json"], tmp / "b.json"  # the first file is read first


READERS = ["catalog", "efficiency", "problem", "capabilities", "calibration", "solution"]
KINDS = ["dev-zero", "symlink-loop", "directory", "too-large"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reader", READERS)
def test_no_reader_takes_a_device_loop_directory_or_huge_file(capsys, tmp_path, reader, kind):
    argv, target = _reader_argv(reader, tmp_path)
    _bad_input(kind, target)
    err = _fails(capsys, argv)
    assert target.name in err


@pytest.mark.parametrize("reader", READERS)
def test_no_reader_waits_on_a_fifo(tmp_path, reader):
    """A FIFO is refused at once (in a subprocess: a blocking open would hang the test run)."""
    argv, target = _reader_argv(reader, tmp_path)
    _bad_input("fifo", target)
    done = subprocess.run(
        [sys.executable, "-m", "optimizer.cli", *argv],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "not a regular file" in done.stderr and "Traceback" not in done.stderr


NESTED = "x = " + "[" * 100_000 + "]" * 100_000 + "\n"


@pytest.mark.parametrize("reader", ["catalog", "efficiency", "problem"])
def test_deeply_nested_toml_is_an_input_error(capsys, tmp_path, reader):
    argv, target = _reader_argv(reader, tmp_path)
    target.write_text(NESTED)
    assert "nested too deeply to read" in _fails(capsys, argv)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"schema_version": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
        ('{"schema_version": ' + "9" * 5000 + "}", "5,000 digits"),
        ('{"schema_version": 1, "wall_s": NaN}', "NaN is not a JSON number"),
        ('{"schema_version": 1, "wall_s": 1e999}', "overflows a float"),
    ],
)
def test_solution_json_must_be_strict_and_shallow(capsys, tmp_path, text, says):
    argv, target = _reader_argv("solution", tmp_path)
    target.write_text(text)
    assert says in _fails(capsys, argv)


# --- numbers: finite and in a stated range ------------------------------------------------------

OPTION_CASES = [
    ("--tp", "99999999999999999999"),
    ("--pp", "99999999999999999999"),
    ("--ep", "99999999999999999999"),
    ("--dp", "99999999999999999999"),
    ("--output-tokens", "nan"),
    ("--input-tokens", "1e308"),
    ("--prefix-tokens", "inf"),
    ("--tpot-slo-ms", "nan"),
    ("--ttft-slo-ms", "inf"),
    ("--requests-per-s", "nan"),
    ("--slo-percentile", "nan"),
    ("--power-cap-w", "inf"),
]


@pytest.mark.parametrize(("option", "value"), OPTION_CASES)
def test_estimate_option_out_of_range_names_the_option(capsys, option, value):
    argv = [*ESTIMATE, *TOKENS, option, value, "--json"]
    err = _fails(capsys, argv)
    assert err.startswith(f"error: {option}: ")


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["estimate", "--model", "x"], "error: Missing option '--accelerator'."),
        ([*ESTIMATE, "--tp", "two"], "error: --tp: "),
        ([*ESTIMATE, "--bogus", "1"], "error: No such option: --bogus"),
    ],
)
def test_a_usage_error_is_one_line(capsys, argv, line):
    err = _fails(capsys, argv)
    assert len(err.strip().splitlines()) == 1 and err.startswith(line)


@pytest.mark.parametrize("value", ["nan", "inf", "1e308"])
def test_tier_gb_must_be_finite(capsys, value):
    tier = ["--tier", "cxl-expander", "--tier-use", "spill", "--tier-gb", value]
    assert _fails(capsys, [*ESTIMATE, *TOKENS, *tier]).startswith("error: --tier-gb: ")


@pytest.mark.parametrize(
    ("option", "value"),
    [("--batch", "99999999999999999999"), ("--input-tokens", "nan"), ("--output-tokens", "inf")],
)
def test_analyze_option_out_of_range_names_the_option(capsys, option, value):
    argv = ["analyze", "--model", "llama-3.1-8b", "--no-plots", option, value]
    assert _fails(capsys, argv).startswith(f"error: {option}: ")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("constraints.power_budget_kw", "1e308"),
        ("constraints.power_budget_kw", "inf"),
        ("constraints.power_budget_kw", "1e-300"),  # HiGHS gave no verdict on it
        ("constraints.budget_usd_per_hour", "1e-300"),
        ("measured.instances.0.capabilities", "[[5e-324, 1.0], [5.0, 2.0]]"),
        ("solver.time_limit_s", "nan"),
        ("measured.requests_per_s", "1e300"),
        ("measured.instances.0.usd_per_hour", "1e300"),
    ],
)
def test_problem_numbers_out_of_range_name_the_field(capsys, field, value):
    err = _fails(capsys, ["solve", MELANGE, "--set", f"{field}={value}"])
    assert f"override {field}" in err


CASES_HEADER = (
    "case_id,source,model,accelerator,accelerators,precision_weights,precision_kv,tp,pp,"
    "instances,scenario,input_tokens,output_tokens,batch,metric,value,unit,notes\n"
)
CASES_ROW = "c1,src,llama-3.1-8b,h100-sxm,1,fp8,,1,1,1,offline,100,100,,{m},{v},tok/s,n\n"


@pytest.mark.parametrize(
    ("column", "row"),
    [
        ("value", CASES_ROW.format(m="output_tokens_per_s_per_accelerator", v="0")),
        ("value", CASES_ROW.format(m="output_tokens_per_s_per_accelerator", v="nan")),
        ("value", CASES_ROW.format(m="output_tokens_per_s_per_accelerator", v="inf")),
        ("value", CASES_ROW.format(m="output_tokens_per_s_per_accelerator", v="1e20")),
        ("tp", CASES_ROW.format(m="x", v="1").replace(",1,1,1,offline", ",1e20,1,1,offline")),
        ("input_tokens", CASES_ROW.format(m="x", v="1").replace(",100,100,", ",1e300,100,")),
    ],
)
def test_calibration_numbers_out_of_range_name_the_column(capsys, column, row):
    Path("cases.csv").write_text(CASES_HEADER + row)
    err = _fails(capsys, ["calibrate", "cases.csv", "--json"])
    assert f"cases.csv: c1: {column}: " in err


def test_calibration_csv_without_rows_or_with_a_huge_cell_is_an_input_error(capsys):
    Path("cases.csv").write_text(CASES_HEADER)
    assert "holds no rows" in _fails(capsys, ["calibrate", "cases.csv"])
    row = CASES_ROW.format(m="x", v="1").replace(",n\n", "," + "n" * 200_000 + "\n")
    Path("cases.csv").write_text(CASES_HEADER + row)
    assert "not valid CSV" in _fails(capsys, ["calibrate", "cases.csv"])


def test_an_error_line_never_quotes_a_huge_key_or_cell(capsys):
    Path("p.toml").write_text(MELANGE.read_text() + "\n" + "k" * 10_000 + " = 1\n")
    Path("cases.csv").write_text(CASES_HEADER + CASES_ROW.format(m="x", v="0").replace(
        "c1,", "c" * 100_000 + ","))  # fmt: skip
    for argv in (["solve", "p.toml"], ["calibrate", "cases.csv"]):
        err = _fails(capsys, argv)
        assert max(len(line) for line in err.splitlines()) < 400


# --- strict scalar types ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("measured.requests_per_s", "true"),
        ("solver.time_limit_s", '"60"'),
        ("solver.seed", "1.0"),
        ("styles.memory_tiers", '"false"'),
        ("styles.tp", '["1"]'),
        ("problem.description", "5"),
    ],
)
def test_problem_scalars_are_taken_only_as_themselves(capsys, field, value):
    assert f"override {field}" in _fails(capsys, ["solve", MELANGE, "--set", f"{field}={value}"])


def test_lists_for_tuples_and_strings_for_enums_stay_accepted(capsys):
    sets = ["styles.tp=[1, 2]", "objective.kind=cost", "solver.name=highs"]
    argv = ["solve", MELANGE, "--json"] + [a for s in sets for a in ("--set", s)]
    assert json.loads(_ok(capsys, argv))["status"] == "optimal"


def test_catalog_numbers_are_taken_only_as_numbers(capsys, write_catalog, minimal_files):
    text = minimal_files["hardware.toml"].replace("tdp_w = 700.0", 'tdp_w = "700"')
    write_catalog({"hardware.toml": text}, name="cat")
    assert "acc-x: tdp_w: " in _fails(capsys, ["--catalog", "cat", "catalog", "validate"])


@pytest.mark.parametrize(
    ("field", "value"),
    [("wall_s", True), ("wall_s", "1.5"), ("systems", {"a": "b"}), ("devices", {"a": 1.5})],
)
def test_solution_fields_are_taken_only_as_their_type(capsys, field, value):
    assert run(["solve", str(MELANGE), "--out", "a.json"]) == 0
    data = json.loads(Path("a.json").read_text()) | {field: value}
    Path("b.json").write_text(json.dumps(data))
    capsys.readouterr()
    assert f"b.json: {field}" in _fails(capsys, ["compare", "a.json", "b.json", "--json"])


# --- rich markup in user text -------------------------------------------------------------------


def test_markup_characters_in_paths_and_ids_print_as_written(capsys):
    odd = Path("a[")
    odd.mkdir()
    out = _ok(capsys, ["solve", MELANGE, "--out", odd / "]s.json"])
    assert "a[/]s.json" in out
    assert "a[/]s.json" in _ok(capsys, ["compare", odd / "]s.json", odd / "]s.json"])
    Path("cases.csv").write_text(CASES_HEADER + CASES_ROW.format(m="[/]", v="1").replace(
        "c1,", "[bold]c1[/],"))  # fmt: skip
    out = _ok(capsys, ["calibrate", "cases.csv"])
    assert "[bold]c1[/]" in out
    out = _ok(capsys, ["analyze", "--model", "llama-3.1-8b", "--accelerator", "h100-sxm",
                       "--out-dir", odd / "]plots"])  # fmt: skip
    assert "a[/]plots" in out.replace("\n", "")


# --- paths a problem file may name --------------------------------------------------------------


def test_capabilities_csv_outside_is_refused_without_echoing_it(capsys, tmp_path):
    (tmp_path / "p").mkdir()
    _csv_problem(tmp_path / "p", "/etc/passwd")
    err = _fails(capsys, ["solve", "p/problem.toml"])
    assert "--allow-outside-paths" in err and "root:" not in err
    err = _fails(capsys, ["solve", "p/problem.toml", "--allow-outside-paths"])
    assert "not a capabilities CSV" in err and "root:" not in err


def test_paths_in_a_problem_stay_in_its_directory_or_the_working_one(capsys, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "caps.csv").write_text(CAPS)
    inside = tmp_path / "work"
    inside.mkdir()
    os.chdir(inside)
    _csv_problem(inside, "../outside/caps.csv")
    assert "outside the problem file's directory" in _fails(capsys, ["solve", "problem.toml"])
    (inside / "link.csv").symlink_to(outside / "caps.csv")
    _csv_problem(inside, "link.csv")
    assert "--allow-outside-paths" in _fails(capsys, ["solve", "problem.toml"])
    _ok(capsys, ["solve", "problem.toml", "--allow-outside-paths"])
    (inside / "problem.toml").write_text(
        MELANGE.read_text() + '\n[catalog]\ndirs = ["../outside"]\n'
    )
    assert "catalog: dirs: '../outside' is outside" in _fails(capsys, ["solve", "problem.toml"])


def test_a_problem_in_another_directory_reads_its_own_files(capsys, tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "caps.csv").write_text(CAPS)
    _csv_problem(tmp_path / "p", "caps.csv")
    _ok(capsys, ["solve", "p/problem.toml"])


# --- writes: whole or absent, checked before the work, never through a symlink -----------------


def test_out_is_checked_before_the_solve(capsys, tmp_path):
    Path("afile").write_text("x")
    err = _fails(capsys, ["solve", MELANGE, "--out", "afile/s.json"])
    assert "afile is not a directory" in err
    Path("s.json").write_text("old")
    assert "exists" in _fails(capsys, ["calibrate", POWER_CSV, "--fit", "--out", "s.json"])
    assert Path("s.json").read_text() == "old"


def test_out_never_follows_a_symlink(capsys, tmp_path):
    target = tmp_path / "target.json"
    Path("link.json").symlink_to(target)  # dangling
    assert "exists" in _fails(capsys, ["solve", MELANGE, "--out", "link.json"])
    assert not target.exists()
    _ok(capsys, ["solve", MELANGE, "--out", "link.json", "--force"])
    assert not target.exists() and not Path("link.json").is_symlink()
    assert json.loads(Path("link.json").read_text())["status"] == "optimal"


def test_analyze_needs_force_to_replace_its_plots(capsys):
    argv = ["analyze", "--model", "llama-3.1-8b", "--accelerator", "h100-sxm", "--out-dir", "p"]
    _ok(capsys, argv)
    written = sorted(p.name for p in Path("p").iterdir())
    assert len(written) == 8 and not any(name.startswith(".") for name in written)
    assert "exists" in _fails(capsys, argv)
    _ok(capsys, [*argv, "--force"])


WRITER = """
import sys
from pathlib import Path
from optimizer.output import write_text_atomic
print("ready", flush=True)
write_text_atomic(Path(sys.argv[1]), "new " * 20_000_000, force=True)
"""


def test_a_write_killed_midway_leaves_the_old_file_whole(tmp_path):
    """SIGKILL at a different moment each round: the file is the old one or the whole new one,
    never a part of either."""
    path = tmp_path / "out.txt"
    write_text_atomic(path, "old")
    for delay in (0.0, 0.05, 0.1, 0.2, 0.4):
        proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(WRITER), str(path)],
                                stdout=subprocess.PIPE, cwd=REPO)  # fmt: skip
        proc.stdout.readline()
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        text = path.read_text()
        assert text == "old" or text == "new " * 20_000_000
        if text != "old":
            write_text_atomic(path, "old", force=True)


@pytest.mark.parametrize(("compute", "codes"), [(1e-300, (2,)), (1e-3, (0, 1))])
def test_a_tiny_efficiency_factor_is_an_answer_or_an_input_error(capsys, compute, codes):
    """Below MIN_EFFICIENCY a factor is an input error; at it, an answer or a verdict."""
    entry = tomllib.loads((REPO / "catalogs" / "efficiency.toml").read_text())["efficiency"][0]
    Path("eff.toml").write_text(tomli_w.dumps({"efficiency": [entry | {"compute": compute}]}))
    code = run([*ESTIMATE, *TOKENS, "--efficiency", "eff.toml", "--json"])
    assert code in codes and "Traceback" not in capsys.readouterr().err
