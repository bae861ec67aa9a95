"""Loading problem files: the measured table, the catalog with inline entries, overrides, and
one ``FILE: ENTRY: FIELD: message`` line per mistake."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from optimizer.catalog import Origin, load_catalog
from optimizer.catalog.problem_loader import load_problem
from optimizer.errors import HetplanError, Problem, ProblemError

MELANGE = Path(__file__).resolve().parents[2] / "problems" / "melange-example.toml"

MODEL_PROBLEM = """
[problem]
name = "agents"

[[serve]]
model = "llama-3.1-70b"
workload = "coding-agent"
sessions_per_s = 2.0
ttft_ms = 2000.0
tpot_ms = 50.0

[[serve]]
name = "chat-70b"
model = "llama-3.1-70b"
workload = "chat"
requests_per_s = 10.0

[styles]
accelerators = ["h100-sxm", "b200"]
tiers = ["cxl-expander"]
precisions = ["bf16", "fp8"]

[constraints]
devices = { h100-sxm = 64 }
"""

HYPOTHETICAL = """
[[catalog.accelerator]]
id = "hypo-x"
name = "Hypothetical X"
vendor = "test"
family = "test-gen1"
year = 2027
dense_tflops = { bf16 = 3000.0 }
memory_type = "hbm3e"
memory_capacity_gb = 256.0
memory_bandwidth_tb_per_s = 12.0
tdp_w = 1200.0
sources = ["what-if"]
confidence = "uncertain"
"""

CSV_PROBLEM = """
[problem]
name = "from-csv"

[measured]
classes = [{ name = "short", requests_per_s = 5.0 }, { name = "long", requests_per_s = 2.0 }]
capabilities_csv = "caps.csv"

[objective]
pricing = "cloud"
"""

CSV = """\
instance,usd_per_hour,class,max_requests_per_s,power_w
a10g,1.01,short,2,300
a10g,1.01,long,1,300
big,3.67,long,20,700
"""


@pytest.fixture
def write_problem(tmp_path: Path):
    """Write a problem file (and any side files) into a fresh directory; return its path."""

    def write(text: str, files: dict[str, str] | None = None) -> Path:
        for name, content in (files or {}).items():
            (tmp_path / name).write_text(content)
        path = tmp_path / "problem.toml"
        path.write_text(text)
        return path

    return write


def _problems(path, overrides=None) -> list[Problem]:
    with pytest.raises(ProblemError) as caught:
        load_problem(path, overrides)
    assert caught.value.exit_code == 2
    assert isinstance(caught.value, HetplanError)
    assert str(caught.value) == "\n".join(str(p) for p in caught.value.problems)
    return caught.value.problems


def _one(path, overrides=None) -> Problem:
    problems = _problems(path, overrides)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


# --- valid problems ---------------------------------------------------------------------------


def test_load_problem_melange_example_gives_the_published_table():
    loaded = load_problem(MELANGE)
    table = loaded.measured
    assert table.class_names == ("in0-out0", "in0-out1", "in1-out0", "in1-out1")
    # shares [[0.2, 0.1], [0.5, 0.2]] of 30 requests/s
    np.testing.assert_allclose(table.requests_per_s, [6.0, 3.0, 15.0, 6.0])
    assert table.instance_names == ("a10g", "a100-80gb")
    np.testing.assert_array_equal(table.capability, [[2, 1, 5, 2], [20, 20, 40, 20]])
    np.testing.assert_array_equal(table.usd_per_hour, [1.01, 3.67])
    assert np.isnan(table.power_w).all() and np.isnan(table.idle_w).all()
    np.testing.assert_array_equal(table.devices, [1, 1])
    assert table.group == ("a10g", "a100-80gb")
    assert (loaded.spec.solver.assignment, loaded.spec.solver.slice_factor) == ("whole-class", 1)
    assert loaded.spec.objective.pricing == "cloud"
    assert loaded.economics.id == "default"
    assert len(loaded.fingerprint) == 16


def test_load_problem_measured_arrays_are_read_only():
    table = load_problem(MELANGE).measured
    with pytest.raises(ValueError, match="read-only"):
        table.capability[0, 0] = 99.0


def test_load_problem_zero_share_cells_are_not_classes(write_problem):
    text = MELANGE.read_text().replace("[[0.2, 0.1], [0.5, 0.2]]", "[[0.3, 0.0], [0.5, 0.2]]")
    table = load_problem(write_problem(text)).measured
    assert table.class_names == ("in0-out0", "in1-out0", "in1-out1")
    np.testing.assert_allclose(table.requests_per_s, [9.0, 15.0, 6.0])
    np.testing.assert_array_equal(table.capability[0], [2, 5, 2])


def test_load_problem_sessions_per_s_times_mean_turns(write_problem):
    loaded = load_problem(write_problem(MODEL_PROBLEM))
    coding, chat = loaded.spec.serve
    turns = loaded.catalog.workloads["coding-agent"].turns_per_session.mean
    assert turns > 1
    assert loaded.requests_per_s(coding) == pytest.approx(2.0 * turns)
    assert loaded.requests_per_s(chat) == 10.0
    assert loaded.measured is None


def test_load_problem_inline_hypothetical_accelerator_is_a_user_entry(write_problem):
    loaded = load_problem(write_problem(MODEL_PROBLEM + HYPOTHETICAL))
    record = loaded.catalog.records[("accelerators", "hypo-x")]
    assert record.origin is Origin.USER
    assert record.file.endswith("problem.toml")
    assert record.entry.memory_bandwidth_tb_per_s == 12.0
    assert loaded.catalog.fingerprint != load_catalog().fingerprint


def test_load_problem_without_inline_entries_keeps_the_bundled_fingerprint(write_problem):
    loaded = load_problem(write_problem(MODEL_PROBLEM))
    assert loaded.catalog.fingerprint == load_catalog().fingerprint


def test_load_problem_inline_entry_replaces_a_bundled_one_whole(write_problem):
    bundled = load_catalog().accelerators["b200"]
    assert bundled.price_usd is not None
    override = HYPOTHETICAL.replace('"hypo-x"', '"b200"')
    loaded = load_problem(write_problem(MODEL_PROBLEM + override))
    record = loaded.catalog.records[("accelerators", "b200")]
    assert record.origin is Origin.OVERRIDE
    assert record.entry.memory_bandwidth_tb_per_s == 12.0
    assert record.entry.price_usd is None  # not merged field by field


def test_load_problem_catalog_dirs_are_relative_to_the_problem_file(write_problem, tmp_path):
    (tmp_path / "extra").mkdir()
    catalog_file = HYPOTHETICAL.replace("catalog.accelerator", "accelerator")
    (tmp_path / "extra" / "hw.toml").write_text(catalog_file)
    text = MODEL_PROBLEM.replace("[styles]", '[catalog]\ndirs = ["extra"]\n\n[styles]')
    text = text.replace('accelerators = ["h100-sxm", "b200"]', 'accelerators = ["hypo-x"]')
    loaded = load_problem(write_problem(text))
    assert loaded.catalog.records[("accelerators", "hypo-x")].origin is Origin.USER


def test_load_problem_csv_missing_pair_means_cannot_serve(write_problem):
    loaded = load_problem(write_problem(CSV_PROBLEM, {"caps.csv": CSV}))
    table = loaded.measured
    assert table.class_names == ("short", "long")
    np.testing.assert_array_equal(table.requests_per_s, [5.0, 2.0])
    assert table.instance_names == ("a10g", "big")
    np.testing.assert_array_equal(table.capability, [[2.0, 1.0], [0.0, 20.0]])
    np.testing.assert_array_equal(table.power_w, [300.0, 700.0])


def test_load_problem_csv_optional_columns(write_problem):
    csv = (
        "accelerator,instance,class,max_requests_per_s,usd_per_hour,devices,idle_w\n"
        "h100-sxm,h100x8,short,40,98.3,8,800\n"
        "h100-sxm,h100x8,long,12.5,98.3,8,800\n"
    )
    table = load_problem(write_problem(CSV_PROBLEM, {"caps.csv": csv})).measured
    assert table.group == ("h100-sxm",)
    np.testing.assert_array_equal(table.devices, [8])
    np.testing.assert_array_equal(table.idle_w, [800.0])
    assert np.isnan(table.power_w[0])
    np.testing.assert_array_equal(table.capability, [[40.0, 12.5]])


def test_load_problem_fingerprint_covers_file_overrides_and_csv(write_problem):
    first = load_problem(MELANGE)
    assert load_problem(MELANGE).fingerprint == first.fingerprint
    varied = load_problem(MELANGE, {"solver.slice_factor": "4"})
    assert varied.fingerprint != first.fingerprint
    csv_path = write_problem(CSV_PROBLEM, {"caps.csv": CSV})
    before = load_problem(csv_path).fingerprint
    (csv_path.parent / "caps.csv").write_text(CSV.replace("big,3.67,long,20", "big,3.67,long,21"))
    assert load_problem(csv_path).fingerprint != before


# --- overrides --------------------------------------------------------------------------------


def test_load_problem_override_values_are_parsed_as_toml():
    loaded = load_problem(MELANGE, {"solver.slice_factor": "4", "solver.assignment": "split"})
    assert loaded.spec.solver.slice_factor == 4
    assert loaded.spec.solver.assignment == "split"


def test_load_problem_override_creates_missing_tables():
    loaded = load_problem(MELANGE, {"constraints.devices.a10g": "2"})
    assert loaded.spec.constraints.devices == {"a10g": 2}


def test_load_problem_override_lists_and_array_items(write_problem):
    path = write_problem(MODEL_PROBLEM)
    overrides = {"styles.accelerators": '["b200"]', "serve.1.requests_per_s": "20"}
    loaded = load_problem(path, overrides)
    assert loaded.spec.styles.accelerators == ("b200",)
    assert loaded.requests_per_s(loaded.spec.serve[1]) == 20.0


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        ({"objective.kindd": "cost"}, "override objective.kindd: unknown key"),
        (
            {"objective.kind": "costt"},
            "override objective.kind: Input should be 'cost', 'energy' or 'weighted', got 'costt'",
        ),
        ({"problem.name.x": "1"}, "override problem.name.x: problem.name is not a table"),
        (
            {"measured.instances.5.name": "x"},
            "override measured.instances.5.name: measured.instances holds 2",
        ),
        ({"solver..gap": "0.1"}, "override solver..gap: empty key part"),
        (
            {"measured.instances.0.usd_per_hour": "-1"},
            "override measured.instances.0.usd_per_hour: Input should be greater than or equal"
            " to 0.001, got -1",
        ),
    ],
)
def test_load_problem_override_problems_name_the_override(overrides, line):
    problem = _one(MELANGE, overrides)
    assert str(problem).startswith(f"{problem.file}: {line}")
    assert problem.file.endswith("melange-example.toml")


# --- errors -----------------------------------------------------------------------------------


def test_load_problem_missing_file(tmp_path):
    problem = _one(tmp_path / "nope.toml")
    assert (problem.entry, problem.field) == ("", "")
    assert problem.message.startswith("cannot read")


def test_load_problem_non_utf8_file(tmp_path):
    path = tmp_path / "p.toml"
    path.write_bytes(b'[problem]\nname = "caf\xe9"\n')
    assert _one(path).message == "not UTF-8 text (byte 21)"


def test_load_problem_toml_syntax_error_names_the_line(write_problem):
    problem = _one(write_problem(MODEL_PROBLEM.replace('workload = "chat"', "workload = chat")))
    assert problem.entry == "line 15"


def test_load_problem_nesting_too_deep_to_parse(write_problem):
    problem = _one(write_problem(MODEL_PROBLEM + "\n[styles.x]\ny = " + "[" * 5000 + "]" * 5000))
    assert problem.message == "nested too deeply to read"


MODEL_CASES = [
    (
        'model = "llama-3.1-70b"',
        'model = "llama-9"',
        "serve[0]",
        "model",
        "unknown model id 'llama-9'",
    ),
    ('workload = "chat"', 'workload = "chatter"', "chat-70b", "workload", "unknown workload id"),
    ("tpot_ms = 50.0", "tpot_ms = -1.0", "serve[0]", "tpot_ms", "greater than 0, got -1.0"),
    (
        "tpot_ms = 50.0",
        "tpot_ms = 50.0\nrequests_per_s = 3.0",
        "serve[0]",
        "requests_per_s",
        "exactly one",
    ),
    (
        '"h100-sxm", "b200"]',
        '"h100", "b200"]',
        "styles",
        "accelerators",
        "unknown accelerator id 'h100'",
    ),
    (
        'precisions = ["bf16", "fp8"]',
        'precisions = ["bf16", "fp8"]\nexclude_accelerators = ["x1"]',
        "styles",
        "exclude_accelerators",
        "unknown accelerator id 'x1'",
    ),
    (
        'tiers = ["cxl-expander"]',
        'tiers = ["hbm3e"]',
        "styles",
        "tiers",
        "'hbm3e' is on-package memory, not a tier",
    ),
    ('tiers = ["cxl-expander"]', 'tiers = ["cxl"]', "styles", "tiers", "unknown memory id 'cxl'"),
    (
        'precisions = ["bf16", "fp8"]',
        'precisions = ["bf16", "fp6"]',
        "styles",
        "precisions",
        "unknown precision 'fp6'",
    ),
    (
        'precisions = ["bf16", "fp8"]',
        'precisions = ["bf16"]\nkv_precision = "fp9"',
        "styles",
        "kv_precision",
        "unknown precision 'fp9'",
    ),
    ('precisions = ["bf16", "fp8"]', "precisions = []", "styles", "precisions", "at least one"),
    (
        'precisions = ["bf16", "fp8"]',
        'precisions = ["bf16"]\ncolour = "red"',
        "styles",
        "colour",
        "unknown key",
    ),
    (
        "h100-sxm = 64",
        "h100x = 64",
        "constraints",
        "devices.h100x",
        "unknown accelerator id 'h100x'",
    ),
    (
        "h100-sxm = 64",
        "h100-sxm = -1",
        "constraints",
        "devices.h100-sxm",
        "greater than or equal to 0",
    ),
    ('name = "agents"', 'name = "Agents X"', "problem", "name", "ids are lower-case letters"),
    (
        "[constraints]",
        '[objective]\neconomics = "mars"\n[constraints]',
        "objective",
        "economics",
        "unknown economics id 'mars'",
    ),
    ("[constraints]", "[objective]\nkind = 3\n[constraints]", "objective", "kind", "got 3"),
    (
        "[constraints]",
        '[catalog]\ndirs = ["nowhere"]\n[constraints]',
        "catalog",
        "dirs",
        "no such directory 'nowhere'",
    ),
    (
        "[constraints]",
        "[solver]\nslice_factor = 65\n[constraints]",
        "solver",
        "slice_factor",
        "less than or equal to 64",
    ),
    ('name = "chat-70b"\n', 'name = "chat-70b"\nwhy = 1\n', "chat-70b", "why", "unknown key"),
    (
        "tpot_ms = 50.0",
        "tpot_ms = 50.0\ncontext_tokens = 0",
        "serve[0]",
        "context_tokens",
        "greater than or equal to 1, got 0",
    ),
    (
        "tpot_ms = 50.0",
        "tpot_ms = 50.0\ncontext_tokens = 1.5e5",
        "serve[0]",
        "context_tokens",
        "valid integer",
    ),
    (
        'tiers = ["cxl-expander"]',
        'tiers = ["cxl-expander"]\ntier_price_usd_per_gb = -1.0',
        "styles",
        "tier_price_usd_per_gb",
        "greater than or equal to 0, got -1.0",
    ),
]


@pytest.mark.parametrize(("old", "new", "entry", "field", "says"), MODEL_CASES)
def test_load_problem_model_errors_name_entry_and_field(
    write_problem, old, new, entry, field, says
):
    assert old in MODEL_PROBLEM
    problem = _one(write_problem(MODEL_PROBLEM.replace(old, new, 1)))
    assert problem.file.endswith("problem.toml")
    assert (problem.entry, problem.field) == (entry, field)
    assert says in problem.message


def test_load_problem_neither_serve_nor_measured(write_problem):
    problem = _one(write_problem('[problem]\nname = "empty"\n'))
    assert (problem.entry, problem.field) == ("", "serve")
    assert "either [[serve]] entries or a [measured] table" in problem.message


INLINE_CASES = [
    ("tdp_w = 1200.0", "tdp_w = -5.0", "hypo-x", "tdp_w", "greater than 0"),
    (
        'memory_type = "hbm3e"',
        'memory_type = "hbm9"',
        "hypo-x",
        "memory_type",
        "unknown memory id 'hbm9'",
    ),
    ('id = "hypo-x"\n', "", "catalog.accelerator[0]", "id", "required field missing"),
    ("tdp_w = 1200.0", "tdp_w = 1200.0\nturbo = true", "hypo-x", "turbo", "unknown key"),
    (
        'id = "hypo-x"',
        'id = "coding-agent"',
        "coding-agent",
        "id",
        "id already used by another kind",
    ),
]


@pytest.mark.parametrize(("old", "new", "entry", "field", "says"), INLINE_CASES)
def test_load_problem_inline_entry_errors_name_the_problem_file(
    write_problem, old, new, entry, field, says
):
    problem = _one(write_problem(MODEL_PROBLEM + HYPOTHETICAL.replace(old, new, 1)))
    assert problem.file.endswith("problem.toml")
    assert (problem.entry, problem.field) == (entry, field)
    assert says in problem.message


def test_load_problem_inline_section_must_hold_tables(write_problem):
    text = MODEL_PROBLEM.replace("[styles]", '[catalog]\naccelerator = ["b200"]\n\n[styles]')
    problem = _one(write_problem(text))
    assert (problem.entry, problem.field) == ("catalog.accelerator[0]", "")
    assert "valid dictionary" in problem.message


def test_load_problem_reports_schema_and_inline_problems_together(write_problem):
    text = MODEL_PROBLEM.replace("tpot_ms = 50.0", "tpot_ms = 0.0")
    text += HYPOTHETICAL.replace("tdp_w = 1200.0", "tdp_w = -5.0")
    lines = [str(p) for p in _problems(write_problem(text))]
    assert len(lines) == 2
    assert any(": serve[0]: tpot_ms: " in line for line in lines)
    assert any(": hypo-x: tdp_w: " in line for line in lines)


MEASURED_CASES = [
    ("[0.5, 0.2]]", "[0.5, -0.2]]", "measured", "mix.1.1", "greater than or equal to 0"),
    (
        "usd_per_hour = 1.01",
        "usd_per_hour = 1.01\ndevices = 100000000000000000000",
        "a10g",
        "devices",
        "less than or equal to 1000000000",
    ),
    ("[0.5, 0.2]]", "[0.5, 0.3]]", "measured", "mix", "sum to 1 (within 1e-06), got 1.1"),
    ("[0.5, 0.2]]", "[0.7]]", "measured", "mix", "equal length, got lengths [2, 1]"),
    (
        "[[2.0, 1.0], [5.0, 2.0]]",
        "[[2.0, 1.0, 3.0], [5.0, 2.0, 1.0]]",
        "a10g",
        "capabilities",
        "mix's shape 2×2, got 2×3",
    ),
    (
        "[[2.0, 1.0], [5.0, 2.0]]",
        "[2.0, 1.0, 5.0, 2.0]",
        "a10g",
        "capabilities",
        "mix's shape 2×2, got 1×4",
    ),
    (
        "[[2.0, 1.0], [5.0, 2.0]]",
        "[[2.0, -1.0], [5.0, 2.0]]",
        "a10g",
        "capabilities.0.1",
        "greater than or equal to 0, got -1.0",
    ),
    (
        "capabilities = [[2.0, 1.0], [5.0, 2.0]]\n",
        "",
        "a10g",
        "capabilities",
        "required field missing",
    ),
    (
        "usd_per_hour = 1.01",
        "usd_per_hour = -1.01",
        "a10g",
        "usd_per_hour",
        "greater than or equal to 0.001",
    ),
    (
        'name = "a100-80gb"',
        'name = "a10g"',
        "measured.instances[1]",
        "name",
        "duplicate instance name",
    ),
    (
        "usd_per_hour = 1.01",
        "usd_per_hour = 1.01\npower_w = 150.0\nidle_w = 200.0",
        "a10g",
        "idle_w",
        "must be <= power_w (150.0), got 200.0",
    ),
    (
        "usd_per_hour = 3.67",
        "usd_per_hour = 3.67\npower_w = 400.0",
        "a10g",
        "power_w",
        "required with pricing = 'owned'",
    ),
    ("requests_per_s = 30.0\n", "", "measured", "requests_per_s", "required with mix"),
    (
        'kind = "cost"',
        'kind = "cost"\neconomics = "mars"',
        "objective",
        "economics",
        "unknown economics id",
    ),
    (
        "slice_factor = 1",
        "slice_factor = 1\n[constraints]\ndevices = { h100 = 2 }",
        "constraints",
        "devices.h100",
        "unknown instance group id 'h100'; known: a100-80gb, a10g",
    ),
]


@pytest.mark.parametrize(("old", "new", "entry", "field", "says"), MEASURED_CASES)
def test_load_problem_measured_errors_name_entry_and_field(
    write_problem, old, new, entry, field, says
):
    text = MELANGE.read_text()
    assert old in text
    text = text.replace(old, new, 1)
    if "power_w = 400.0" in new:  # owned pricing bills energy: every instance needs power
        text = text.replace('pricing = "cloud"', 'pricing = "owned"')
    problem = _one(write_problem(text))
    assert (problem.entry, problem.field) == (entry, field)
    assert says in problem.message


@pytest.mark.parametrize("kind", ["energy", "weighted"])
def test_load_problem_energy_objective_needs_power_per_instance(write_problem, kind):
    text = MELANGE.read_text().replace('kind = "cost"', f'kind = "{kind}"')
    text = text.replace("usd_per_hour = 3.67", "usd_per_hour = 3.67\npower_w = 400.0")
    if kind == "weighted":
        text = text.replace('pricing = "cloud"', 'pricing = "cloud"\nenergy_usd_per_kwh = 0.1')
    problem = _one(write_problem(text))
    assert str(problem).endswith("a10g: power_w: required for an energy objective")


def test_load_problem_classes_form_needs_one_number_per_class(write_problem):
    text = CSV_PROBLEM.replace(
        'capabilities_csv = "caps.csv"',
        '[[measured.instances]]\nname = "x"\nusd_per_hour = 1.0\ncapabilities = [[1.0, 2.0]]\n'
        '[[measured.instances]]\nname = "y"\nusd_per_hour = 1.0\ncapabilities = [1.0, 2.0, 3.0]',
    )
    problem = _one(write_problem(text))
    assert (problem.entry, problem.field) == ("y", "capabilities")
    assert "one number per class (2), got 1×3" in problem.message


CSV_CASES = [
    (
        "max_requests_per_s,power_w",
        "power_w",
        "line 1",
        "max_requests_per_s",
        "required column missing",
    ),
    ("power_w\n", "power_w,colour\n", "line 1", "colour", "unknown column"),
    ("power_w\n", "power_w,\n", "line 1", "", "empty column name"),
    ("a10g,1.01,long", "a10g,abc,long", "line 3", "usd_per_hour", "valid number"),
    (
        "short,2,300",
        "short,-2,300",
        "line 2",
        "max_requests_per_s",
        "greater than or equal to 0, got '-2'",
    ),
    (
        "short,2,300",
        "medium,2,300",
        "line 2",
        "class",
        "unknown class 'medium'; classes: short, long",
    ),
    (
        "a10g,1.01,long",
        "a10g,1.02,long",
        "line 3",
        "usd_per_hour",
        "differs from line 2 for instance 'a10g' (1.01), got 1.02",
    ),
    (
        "a10g,1.01,long,1,300",
        "a10g,1.01,short,1,300",
        "line 3",
        "class",
        "second row for instance 'a10g', first on line 2",
    ),
    ("a10g,1.01,short", ",1.01,short", "line 2", "instance", "required value missing"),
    (
        "a10g,1.01,short,2,300",
        "a10g,1.01,short,2,300,9",
        "line 2",
        "",
        "1 more field(s) than the header names",
    ),
    ("a10g,1.01,short", "A10G,1.01,short", "line 2", "instance", "did you mean 'a10g'?"),
    ("a10g,1.01,short,2,300", "a10g,1.01,short,2,0", "line 2", "power_w", "greater than 0"),
]


@pytest.mark.parametrize(("old", "new", "entry", "field", "says"), CSV_CASES)
def test_load_problem_csv_errors_name_line_and_column(write_problem, old, new, entry, field, says):
    assert old in CSV
    problem = _one(write_problem(CSV_PROBLEM, {"caps.csv": CSV.replace(old, new, 1)}))
    assert problem.file.endswith("caps.csv")
    assert (problem.entry, problem.field) == (entry, field)
    assert says in problem.message


def test_load_problem_csv_path_with_nul_is_a_schema_error(write_problem):
    problem = _one(write_problem(CSV_PROBLEM.replace('"caps.csv"', '"caps\\u0000.csv"')))
    assert (problem.entry, problem.field) == ("measured", "capabilities_csv")


def test_load_problem_csv_file_missing_names_the_problem_field(write_problem):
    problem = _one(write_problem(CSV_PROBLEM))
    assert problem.file.endswith("problem.toml")
    assert (problem.entry, problem.field) == ("measured", "capabilities_csv")
    assert "cannot read" in problem.message and "caps.csv" in problem.message


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("", "empty file"),
        ("instance,usd_per_hour,class,max_requests_per_s\n", "holds no instance rows"),
    ],
)
def test_load_problem_csv_without_rows(write_problem, content, says):
    problem = _one(write_problem(CSV_PROBLEM, {"caps.csv": content}))
    assert problem.file.endswith("caps.csv")
    assert says in problem.message


def test_load_problem_csv_not_utf8(write_problem, tmp_path):
    path = write_problem(CSV_PROBLEM)
    (tmp_path / "caps.csv").write_bytes(CSV.encode().replace(b"big", b"b\xefg"))
    assert "not UTF-8 text" in _one(path).message
